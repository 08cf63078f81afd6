"""Marketing Messages API per number; an estimated cost per sent message

Revision ID: 0014_marketing_cost
Revises: 0017_campaign_test_phase
Create Date: 2026-12-03 12:15:00

``whatsapp_accounts.marketing_messages_onboarded``: the number's portfolio accepted the
Marketing Messages API's terms, so marketing templates go to ``/marketing_messages``.
``messages.estimated_cost`` and ``messages.cost_currency``: what the rate card
(connector/messaging/rate_card.json) says a message cost when it was sent. Rollup amounts get
six decimals, since a message costs fractions of a cent (revenue keeps its two in practice).
"""
from alembic import op
import sqlalchemy as sa


revision = '0014_marketing_cost'
down_revision = '0017_campaign_test_phase'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('whatsapp_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('marketing_messages_onboarded', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('estimated_cost', sa.Numeric(precision=12, scale=6), nullable=True))
        batch_op.add_column(sa.Column('cost_currency', sa.String(length=3), nullable=True))
    with op.batch_alter_table('daily_rollups', schema=None) as batch_op:
        batch_op.alter_column('amount', existing_type=sa.Numeric(precision=16, scale=2),
                              type_=sa.Numeric(precision=18, scale=6), existing_nullable=False)


def downgrade():
    with op.batch_alter_table('daily_rollups', schema=None) as batch_op:
        batch_op.alter_column('amount', existing_type=sa.Numeric(precision=18, scale=6),
                              type_=sa.Numeric(precision=16, scale=2), existing_nullable=False)
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('cost_currency')
        batch_op.drop_column('estimated_cost')
    with op.batch_alter_table('whatsapp_accounts', schema=None) as batch_op:
        batch_op.drop_column('marketing_messages_onboarded')
