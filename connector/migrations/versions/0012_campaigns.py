"""Segments, campaigns and their recipients; messages know their campaign

Revision ID: 0012_campaigns
Revises: 0011_contact_search
Create Date: 2026-12-03 12:10:00

``messages.campaign_id`` (nullable, SET NULL when a campaign is deleted) lets pause, resume and
cancel act on a campaign's outbox rows with one indexed UPDATE. Everything goes with its shop
(ON DELETE CASCADE).
"""
from alembic import op
import sqlalchemy as sa


revision = '0012_campaigns'
down_revision = '0011_contact_search'
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    op.create_table('segments',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('shop_id', BIG_ID, nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('definition', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_segments_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_segments')),
    sa.UniqueConstraint('shop_id', 'name', name=op.f('uq_segments_shop_id_name'))
    )
    op.create_table('campaigns',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('shop_id', BIG_ID, nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('template_name', sa.String(length=512), nullable=False),
    sa.Column('variables', sa.JSON(), nullable=False),
    sa.Column('segment', sa.JSON(), nullable=False),
    sa.Column('link_url', sa.String(length=2000), nullable=True),
    sa.Column('send_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('local_time', sa.String(length=5), nullable=True),
    sa.Column('variants', sa.JSON(), nullable=False),
    sa.Column('holdout_percent', sa.Float(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('error', sa.String(length=255), nullable=True),
    sa.Column('created_by', sa.String(length=255), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('planned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('recipients', sa.Integer(), nullable=False),
    sa.Column('holdout', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_campaigns_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns'))
    )
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.create_index('ix_campaigns_shop', ['shop_id', 'id'], unique=False)
    op.create_table('campaign_recipients',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('shop_id', BIG_ID, nullable=False),
    sa.Column('campaign_id', BIG_ID, nullable=False),
    sa.Column('contact_id', BIG_ID, nullable=False),
    sa.Column('variant', sa.SmallInteger(), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_campaign_recipients_shop_id_shops'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'],
                            name=op.f('fk_campaign_recipients_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_campaign_recipients_contact_id_contacts'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_recipients')),
    sa.UniqueConstraint('campaign_id', 'contact_id', name=op.f('uq_campaign_recipients_campaign_id_contact_id'))
    )
    with op.batch_alter_table('campaign_recipients', schema=None) as batch_op:
        batch_op.create_index('ix_campaign_recipients_variant', ['campaign_id', 'variant'], unique=False)
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('campaign_id', BIG_ID, nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_messages_campaign_id_campaigns'), 'campaigns', ['campaign_id'],
                                    ['id'], ondelete='SET NULL')
        batch_op.create_index('ix_messages_campaign', ['campaign_id', 'status'], unique=False)


def downgrade():
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_campaign')
        batch_op.drop_constraint(batch_op.f('fk_messages_campaign_id_campaigns'), type_='foreignkey')
        batch_op.drop_column('campaign_id')
    with op.batch_alter_table('campaign_recipients', schema=None) as batch_op:
        batch_op.drop_index('ix_campaign_recipients_variant')
    op.drop_table('campaign_recipients')
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_index('ix_campaigns_shop')
    op.drop_table('campaigns')
    op.drop_table('segments')
