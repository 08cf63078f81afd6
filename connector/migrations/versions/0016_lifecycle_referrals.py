"""Order lines, issued codes and referrals for the lifecycle automations

Revision ID: 0016_lifecycle_referrals
Revises: 0014_marketing_cost
Create Date: 2026-12-03 11:54:50

``order_lines``: the product lines of each recorded order (the repurchase reminder; campaign
segments' ``bought_product``). ``issued_codes``: the single-use codes we made for a contact
(popup incentive, cart discount, referral reward) and whether an order used them (the
unused-coupon follow-up). ``referral_codes`` and ``referrals``: forward-to-a-friend codes and
the friends' orders made with them, attributed or refused with the reason. Rows go with
their shop (ON DELETE CASCADE).
"""
from alembic import op
import sqlalchemy as sa


revision = '0016_lifecycle_referrals'
down_revision = '0014_marketing_cost'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('issued_codes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('contact_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('order_id', sa.String(length=64), nullable=True),
    sa.Column('message_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('reminded_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_issued_codes_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_issued_codes_message_id_messages'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_issued_codes_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issued_codes')),
    sa.UniqueConstraint('shop_id', 'code', name=op.f('uq_issued_codes_shop_id_code'))
    )
    with op.batch_alter_table('issued_codes', schema=None) as batch_op:
        batch_op.create_index('ix_issued_codes_unused', ['shop_id', 'used_at', 'issued_at'], unique=False)

    op.create_table('order_lines',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.String(length=64), nullable=False),
    sa.Column('contact_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('product_id', sa.String(length=64), nullable=False),
    sa.Column('variant_id', sa.String(length=64), nullable=True),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=255), nullable=True),
    sa.Column('placed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_order_lines_contact_id_contacts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_order_lines_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_lines'))
    )
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.create_index('ix_order_lines_shop_id_contact_id', ['shop_id', 'contact_id'], unique=False)
        batch_op.create_index('ix_order_lines_shop_id_order_id', ['shop_id', 'order_id'], unique=False)
        batch_op.create_index('ix_order_lines_shop_id_product_id', ['shop_id', 'product_id'], unique=False)

    op.create_table('referral_codes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('contact_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('address_hashes', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_referral_codes_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_referral_codes_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referral_codes')),
    sa.UniqueConstraint('shop_id', 'code', name=op.f('uq_referral_codes_shop_id_code')),
    sa.UniqueConstraint('shop_id', 'contact_id', name=op.f('uq_referral_codes_shop_id_contact_id'))
    )
    op.create_table('referrals',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('referrer_contact_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('friend_order_id', sa.String(length=64), nullable=False),
    sa.Column('friend_contact_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=True),
    sa.Column('reward_code', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['friend_contact_id'], ['contacts.id'], name=op.f('fk_referrals_friend_contact_id_contacts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['referrer_contact_id'], ['contacts.id'], name=op.f('fk_referrals_referrer_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_referrals_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referrals')),
    sa.UniqueConstraint('shop_id', 'friend_order_id', name=op.f('uq_referrals_shop_id_friend_order_id'))
    )
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.create_index('ix_referrals_shop_id_referrer', ['shop_id', 'referrer_contact_id'], unique=False)



def downgrade():
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_index('ix_referrals_shop_id_referrer')

    op.drop_table('referrals')
    op.drop_table('referral_codes')
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.drop_index('ix_order_lines_shop_id_product_id')
        batch_op.drop_index('ix_order_lines_shop_id_order_id')
        batch_op.drop_index('ix_order_lines_shop_id_contact_id')

    op.drop_table('order_lines')
    with op.batch_alter_table('issued_codes', schema=None) as batch_op:
        batch_op.drop_index('ix_issued_codes_unused')

    op.drop_table('issued_codes')
