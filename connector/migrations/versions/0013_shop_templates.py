"""Merchants' own templates

Revision ID: 0013_shop_templates
Revises: 0012_campaigns
Create Date: 2026-12-03 12:10:00

``shop_templates``: a shop's own WhatsApp templates, one row per name with the current
version's definition (the catalogue's JSON format); ``shop_template_versions``: every version
stored, append-only (connector/models/shop_templates.py). Rows go with their shop.
"""
from alembic import op
import sqlalchemy as sa


revision = '0013_shop_templates'
down_revision = '0012_campaigns'
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    op.create_table('shop_templates',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('shop_id', BIG_ID, nullable=False),
    sa.Column('name', sa.String(length=512), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('definition', sa.JSON(), nullable=False),
    sa.Column('created_by', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_shop_templates_shop_id_shops'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shop_templates')),
    sa.UniqueConstraint('shop_id', 'name', name=op.f('uq_shop_templates_shop_id_name'))
    )
    op.create_table('shop_template_versions',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('template_id', BIG_ID, nullable=False),
    sa.Column('shop_id', BIG_ID, nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('definition', sa.JSON(), nullable=False),
    sa.Column('created_by', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_shop_template_versions_shop_id_shops'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['template_id'], ['shop_templates.id'],
                            name=op.f('fk_shop_template_versions_template_id_shop_templates'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shop_template_versions')),
    sa.UniqueConstraint('template_id', 'version', name=op.f('uq_shop_template_versions_template_id_version'))
    )


def downgrade():
    op.drop_table('shop_template_versions')
    op.drop_table('shop_templates')
