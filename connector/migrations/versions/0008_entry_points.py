"""Click-to-chat entry points

Revision ID: 0008_entry_points
Revises: 0007_daily_rollups
Create Date: 2026-12-03 07:20:00

Named wa.me links and QR codes per shop ("Shop window", "Parcel insert"), each with a short
reference its prefilled text carries (connector/conversations/entry_points.py). Rows go with
their shop (ON DELETE CASCADE).
"""
from alembic import op
import sqlalchemy as sa


revision = '0008_entry_points'
down_revision = '0007_daily_rollups'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('entry_points',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('ref', sa.String(length=6), nullable=False),
    sa.Column('text', sa.String(length=500), nullable=False),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_entry_points_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_entry_points')),
    sa.UniqueConstraint('shop_id', 'ref', name=op.f('uq_entry_points_shop_id_ref'))
    )
    with op.batch_alter_table('entry_points', schema=None) as batch_op:
        batch_op.create_index('ix_entry_points_shop', ['shop_id', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('entry_points', schema=None) as batch_op:
        batch_op.drop_index('ix_entry_points_shop')

    op.drop_table('entry_points')
