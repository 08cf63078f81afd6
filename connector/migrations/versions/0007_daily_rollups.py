"""Daily rollups for the dashboard

Revision ID: 0007_daily_rollups
Revises: 0006_settings_changes
Create Date: 2026-12-03 07:10:00

One row per shop, day (in the shop's time zone), automation, metric and dimension, with a
count and an amount, kept current by connector/rollups.py as facts happen. Existing installs
fill it with `connector rollups rebuild`.
"""
from alembic import op
import sqlalchemy as sa


revision = '0007_daily_rollups'
down_revision = '0006_settings_changes'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('daily_rollups',
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('automation', sa.String(length=50), nullable=False),
    sa.Column('metric', sa.String(length=32), nullable=False),
    sa.Column('dimension', sa.String(length=64), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=16, scale=2), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_daily_rollups_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('shop_id', 'day', 'automation', 'metric', 'dimension', name=op.f('pk_daily_rollups'))
    )


def downgrade():
    op.drop_table('daily_rollups')
