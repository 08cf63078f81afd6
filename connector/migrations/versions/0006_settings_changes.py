"""The audit log of shop settings changes

Revision ID: 0006_settings_changes
Revises: 0005_receipt_body_lz4
Create Date: 2026-12-02 15:40:00

Every change a merchant saves through the admin API (connector/shop_settings.py): who (the
session token's ``sub``), when, and each setting's value before and after. Rows go with
their shop (ON DELETE CASCADE), like everything else a shop owns.
"""
from alembic import op
import sqlalchemy as sa


revision = '0006_settings_changes'
down_revision = '0005_receipt_body_lz4'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('settings_changes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('changed_by', sa.String(length=255), nullable=True),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_settings_changes_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settings_changes'))
    )
    with op.batch_alter_table('settings_changes', schema=None) as batch_op:
        batch_op.create_index('ix_settings_changes_shop', ['shop_id', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('settings_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_settings_changes_shop')

    op.drop_table('settings_changes')
