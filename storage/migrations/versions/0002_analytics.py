"""analytics: the SQL-JSON backend's document table (the embedded default for MongoDB's collections).

Revision ID: 0002_analytics
Revises: 0001_foundation
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002_analytics"
down_revision: str | Sequence[str] | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = ("analytics",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "analytics_documents",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("collection", sa.String(length=64), nullable=False),
        sa.Column("doc_key", sa.String(length=255), nullable=False),
        sa.Column("doc", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("collection", "doc_key", name="uq_analytics_documents_key"),
    )
    op.create_index("ix_analytics_documents_collection", "analytics_documents", ["collection"])


def downgrade() -> None:
    op.drop_index("ix_analytics_documents_collection", table_name="analytics_documents")
    op.drop_table("analytics_documents")
