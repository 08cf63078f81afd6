"""Trigram indexes for the admin's contact search

Revision ID: 0011_contact_search
Revises: 0010_contact_customer_indexes
Create Date: 2026-12-03 07:55:00

``GET /admin/api/contacts?q=`` finds any part of a name (ILIKE) or of a phone number (LIKE);
without these a search reads every contact of the shop (200,000 of them: 120–430 ms). On
PostgreSQL the indexes are GIN with pg_trgm's operator class (a trusted extension since
PostgreSQL 13: the database's owner may create it); elsewhere they are plain indexes.
"""
from alembic import op


revision = '0011_contact_search'
down_revision = '0010_contact_customer_indexes'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_index("ix_contacts_name_trgm", "contacts", ["name"], postgresql_using="gin",
                    postgresql_ops={"name": "gin_trgm_ops"})
    op.create_index("ix_contacts_phone_trgm", "contacts", ["phone_e164"], postgresql_using="gin",
                    postgresql_ops={"phone_e164": "gin_trgm_ops"})


def downgrade():
    op.drop_index("ix_contacts_phone_trgm", table_name="contacts")
    op.drop_index("ix_contacts_name_trgm", table_name="contacts")
