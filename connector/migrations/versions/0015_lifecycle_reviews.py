"""Review answers; the products of each order

Revision ID: 0015_lifecycle_reviews
Revises: 0016_lifecycle_referrals
Create Date: 2026-12-03 12:30:00

``review_answers``: one row per shop, order and contact, the 1–5 rating tapped on the review
request and the optional comment written after it; ``flagged`` marks a low rating (1–2) for
the merchant. ``orders.product_ids``: the product ids of the order's lines, which the review
answer and the post-purchase content rules need after the order webhook has gone. Everything
goes with its shop (ON DELETE CASCADE); an answer goes with its contact.
"""
from alembic import op
import sqlalchemy as sa


revision = '0015_lifecycle_reviews'
down_revision = '0016_lifecycle_referrals'
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    op.create_table('review_answers',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('shop_id', BIG_ID, nullable=False),
    sa.Column('contact_id', BIG_ID, nullable=False),
    sa.Column('order_id', sa.String(length=64), nullable=False),
    sa.Column('product_ids', sa.JSON(), nullable=False),
    sa.Column('rating', sa.SmallInteger(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('flagged', sa.Boolean(), nullable=False),
    sa.Column('rated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('commented_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_review_answers_shop_id_shops'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_review_answers_contact_id_contacts'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_answers')),
    sa.UniqueConstraint('shop_id', 'order_id', 'contact_id', name=op.f('uq_review_answers_shop_id_order_id_contact_id'))
    )
    with op.batch_alter_table('review_answers', schema=None) as batch_op:
        batch_op.create_index('ix_review_answers_shop_flagged', ['shop_id', 'flagged', 'id'], unique=False)
        batch_op.create_index('ix_review_answers_contact', ['shop_id', 'contact_id', 'rated_at'], unique=False)
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('product_ids', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('product_ids')
    with op.batch_alter_table('review_answers', schema=None) as batch_op:
        batch_op.drop_index('ix_review_answers_contact')
        batch_op.drop_index('ix_review_answers_shop_flagged')
    op.drop_table('review_answers')
