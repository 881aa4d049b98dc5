"""maintenance: periodic locks and slots, ETL watermarks, pending file removals.

Revision ID: 0004_maintenance
Revises: 0001_foundation

The tables of ``storage/maintenance_models.py``; no seed table is touched.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004_maintenance"
down_revision: str | Sequence[str] | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = ("maintenance",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "periodic_locks",
        sa.Column("name", sa.String(length=100), primary_key=True),
        sa.Column("holder", sa.String(length=255), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
    )
    op.create_table(
        "periodic_slots",
        sa.Column("name", sa.String(length=100), primary_key=True),
        sa.Column("slot_start", sa.BigInteger(), nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=True),
        sa.Column("claimed_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "etl_watermarks",
        sa.Column("name", sa.String(length=100), primary_key=True),
        sa.Column("watermark", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "file_removals",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("file_path", sa.String(length=500), nullable=False),
        sa.Column("keys", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_file_removals_due_at", "file_removals", ["due_at"])


def downgrade() -> None:
    op.drop_index("ix_file_removals_due_at", table_name="file_removals")
    op.drop_table("file_removals")
    op.drop_table("etl_watermarks")
    op.drop_table("periodic_slots")
    op.drop_table("periodic_locks")
