"""Receipt claims and outcomes, resource versions, variants, shop sync state

Revision ID: 0002_ingest_catalog
Revises: 0001_initial
Create Date: 2026-11-24 06:52:21.514780

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002_ingest_catalog'
down_revision = '0001_initial'
branch_labels = None
depends_on = None


def upgrade():
    
    op.create_table('resource_versions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('resource', sa.String(length=40), nullable=False),
    sa.Column('resource_id', sa.String(length=128), nullable=False),
    sa.Column('version_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_resource_versions_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_resource_versions')),
    sa.UniqueConstraint('shop_id', 'resource', 'resource_id', name=op.f('uq_resource_versions_shop_id_resource_resource_id'))
    )
    op.create_table('variants',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('variant_id', sa.String(length=64), nullable=False),
    sa.Column('product_id', sa.String(length=64), nullable=True),
    sa.Column('inventory_item_id', sa.String(length=64), nullable=True),
    sa.Column('title', sa.String(length=255), nullable=True),
    sa.Column('available', sa.Boolean(), nullable=True),
    sa.Column('quantity', sa.Integer(), nullable=True),
    sa.Column('stock_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_variants_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_variants')),
    sa.UniqueConstraint('shop_id', 'variant_id', name=op.f('uq_variants_shop_id_variant_id'))
    )
    with op.batch_alter_table('variants', schema=None) as batch_op:
        batch_op.create_index('ix_variants_shop_id_inventory_item_id', ['shop_id', 'inventory_item_id'], unique=False)

    with op.batch_alter_table('shops', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sync_state', sa.JSON(), nullable=True))

    with op.batch_alter_table('webhook_receipts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('outcome', sa.String(length=32), nullable=True))




def downgrade():
    
    with op.batch_alter_table('webhook_receipts', schema=None) as batch_op:
        batch_op.drop_column('outcome')
        batch_op.drop_column('claimed_until')

    with op.batch_alter_table('shops', schema=None) as batch_op:
        batch_op.drop_column('sync_state')

    with op.batch_alter_table('variants', schema=None) as batch_op:
        batch_op.drop_index('ix_variants_shop_id_inventory_item_id')

    op.drop_table('variants')
    op.drop_table('resource_versions')

