"""A campaign's test phase: a share tests the variants, the rest gets the winner

Revision ID: 0017_campaign_test_phase
Revises: 0013_shop_templates
Create Date: 2026-12-03 12:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0017_campaign_test_phase'
down_revision = '0013_shop_templates'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('test_percent', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('winner_after_hours', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('winner', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('rest_sent_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_column('rest_sent_at')
        batch_op.drop_column('winner')
        batch_op.drop_column('winner_after_hours')
        batch_op.drop_column('test_percent')
