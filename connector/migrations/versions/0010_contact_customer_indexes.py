"""Contacts found by store customer id and by e-mail hash without a scan of the shop's contacts

Revision ID: 0010_contact_customer_indexes
Revises: 0009_invoice_draft
Create Date: 2026-12-03 07:20:00

Every order looks for the shop's contacts that are the same store customer under another
phone (connector/automations/carts.py, ``same_customer_query``): by ``platform_customer_id``
or by ``email_hash``. Without these indexes that is a scan of all the shop's contacts.
"""
from alembic import op


revision = '0010_contact_customer_indexes'
down_revision = '0009_invoice_draft'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.create_index('ix_contacts_shop_customer', ['shop_id', 'platform_customer_id'], unique=False)
        batch_op.create_index('ix_contacts_shop_email', ['shop_id', 'email_hash'], unique=False)


def downgrade():
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_index('ix_contacts_shop_email')
        batch_op.drop_index('ix_contacts_shop_customer')
