"""notifications: fanned-out events, channel preferences and per-channel deliveries.

Revision ID: 0003_notifications
Revises: 0001_foundation

The tables of ``storage/notification_models.py``. The seed's ``notifications`` table is not
touched: in-app idempotency is the delivery row's UNIQUE key, and its ``notification_id`` links it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_notifications"
down_revision: str | Sequence[str] | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = ("notifications",)
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
CHANNELS = "'in_app', 'email', 'push'"
STATUSES = "'pending', 'sending', 'retrying', 'digest', 'digested', 'sent', 'failed', 'expired', 'skipped'"


def upgrade() -> None:
    op.create_table(
        "notification_events",
        sa.Column("event_key", sa.String(length=150), primary_key=True),
        sa.Column("type", sa.String(length=50), nullable=False),
        sa.Column("payload", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("cursor", sa.Integer(), nullable=True),
        sa.Column("recipients", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
    )
    op.create_table(
        "notification_preferences",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=50), nullable=False),
        sa.Column("in_app", sa.Boolean(), nullable=True),
        sa.Column("email", sa.Boolean(), nullable=True),
        sa.Column("push", sa.Boolean(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "type"),
    )
    op.create_table(
        "notification_deliveries",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("event_key", sa.String(length=150), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("type", sa.String(length=50), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("provider_id", sa.String(length=255), nullable=True),
        sa.Column("notification_id", sa.Integer(), nullable=True),
        sa.Column("digest_id", BIG_ID, nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(f"channel IN ({CHANNELS})", name="valid_notification_delivery_channel"),
        sa.CheckConstraint(f"status IN ({STATUSES})", name="valid_notification_delivery_status"),
        sa.ForeignKeyConstraint(["event_key"], ["notification_events.event_key"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["digest_id"], ["notification_deliveries.id"], ondelete="SET NULL"),
        sa.UniqueConstraint("user_id", "event_key", "channel", name="uq_notification_deliveries_once"),
        sa.UniqueConstraint("notification_id"),
    )
    op.create_index(
        "ix_notification_deliveries_digest",
        "notification_deliveries",
        ["user_id"],
        postgresql_where=sa.text("status = 'digest'"),
        sqlite_where=sa.text("status = 'digest'"),
    )
    op.create_index(
        "ix_notification_deliveries_digest_id",
        "notification_deliveries",
        ["digest_id"],
        postgresql_where=sa.text("digest_id IS NOT NULL"),
        sqlite_where=sa.text("digest_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_table("notification_deliveries")
    op.drop_table("notification_preferences")
    op.drop_table("notification_events")
