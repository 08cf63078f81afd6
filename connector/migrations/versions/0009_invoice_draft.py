"""Invoices rendered when first downloaded: pdf nullable, the draft they are rendered from

Revision ID: 0009_invoice_draft
Revises: 0008_entry_points
Create Date: 2026-12-03 07:10:00

An order's invoice row is made when the order arrives, with ``draft`` (the order, seller,
locale and number as they were then); its PDF is rendered on the first download and stored
in ``pdf``, which is empty until then (connector/automations/invoices.py). Existing rows
already have their PDF.
"""
from alembic import op
import sqlalchemy as sa


revision = '0009_invoice_draft'
down_revision = '0008_entry_points'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('draft', sa.JSON(), nullable=True))
        batch_op.alter_column('pdf', existing_type=sa.LargeBinary(), nullable=True)


def downgrade():
    # an invoice never downloaded has no PDF to keep; a later event of its order makes it again
    op.execute("DELETE FROM invoices WHERE pdf IS NULL")
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.alter_column('pdf', existing_type=sa.LargeBinary(), nullable=False)
        batch_op.drop_column('draft')
