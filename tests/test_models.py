"""The models and migration 0001 on SQLite and PostgreSQL: tables, seed rows, enums, partial
indexes, a Job round trip, and no drift between what the migration builds and what the models say.

Each test gets a fresh database migrated with :func:`storage.migrate.upgrade`. PostgreSQL is
required: when it cannot be reached the PostgreSQL cases fail, they never skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from psycopg import sql
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.db import Base, make_engine
from storage.migrate import ALEMBIC_INI, upgrade
from storage.models import FileUploadConfig, Job, JobState

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

SEED_TABLES = {
    "users",
    "categories",
    "products",
    "orders",
    "order_items",
    "uploaded_files",
    "file_upload_configs",
    "product_reviews",
    "review_media",
    "review_votes",
    "skincare_progress",
    "progress_media",
    "product_questions",
    "question_media",
    "product_answers",
    "answer_media",
    "product_media",
    "wishlists",
    "wishlist_feedback",
    "moderation_queue",
    "notifications",
}
ENUM_TYPES = {
    "user_role",
    "user_language",
    "skin_type",
    "product_status",
    "order_status",
    "payment_status",
    "fulfillment_status",
    "review_status",
    "feedback_status",
    "progress_status",
    "moderation_status",
    "usage_frequency",
    "file_status",
    "media_type",
    "virus_scan_status",
    "job_state",
}
# Tables of other modules (e.g. storage.analytics) arrive with their own branch migrations and
# are checked there; these checks cover the tables migration 0001 owns.
MODEL_TABLES = [t for name, t in Base.metadata.tables.items() if name in SEED_TABLES | {"jobs"}]


@contextmanager
def scratch_postgres() -> Iterator[str]:
    """A new, empty PostgreSQL database for the duration; yields its SQLAlchemy URL."""
    admin = make_url(PG_ADMIN_URL).set(drivername="postgresql")
    name = f"test_models_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield admin.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def scratch_database(dialect: str, folder: Path) -> Iterator[str]:
    """An empty database of ``dialect``; yields its URL."""
    if dialect == "sqlite":
        yield f"sqlite:///{folder / f'{uuid.uuid4().hex[:8]}.db'}"
    else:
        with scratch_postgres() as url:
            yield url


@contextmanager
def engine_for(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a fresh database brought to the newest migration."""
    with scratch_database(request.param, tmp_path) as url:
        upgrade(url)
        with engine_for(url) as engine:
            yield engine


def test_upgrade_creates_every_seed_table_and_jobs(migrated: Engine) -> None:
    tables = set(sa.inspect(migrated).get_table_names())
    assert SEED_TABLES | {"jobs", "alembic_version"} <= tables


def test_upload_configs_are_seeded(migrated: Engine) -> None:
    with Session(migrated) as session:
        configs = {c.context: c for c in session.scalars(sa.select(FileUploadConfig))}
    assert set(configs) == {"profile", "product", "review", "progress", "qa"}
    profile, product, review, qa = configs["profile"], configs["product"], configs["review"], configs["qa"]
    assert review.max_file_size == 10485760
    assert review.allowed_mime_types == ["image/jpeg", "image/png", "image/webp"]
    assert (review.max_files_per_upload, review.max_files_per_user) == (8, 100)
    assert review.max_total_size_per_user == 209715200
    assert profile.thumbnail_sizes == {"small": [150, 150], "medium": [300, 300], "large": [600, 600]}
    assert (profile.max_width, profile.max_height, profile.min_width, profile.min_height) == (
        2000,
        2000,
        100,
        100,
    )
    assert profile.storage_path == "uploads/profiles/"
    assert product.max_files_per_user is None and product.max_total_size_per_user is None
    assert product.allowed_extensions == ["jpg", "jpeg", "png", "gif", "webp", "mp4", "webm"]
    assert qa.require_virus_scan is False
    assert profile.require_virus_scan is True
    # Columns the seed INSERT leaves out take the table's defaults.
    assert (qa.compression_quality, qa.create_thumbnails, qa.auto_approve) == (80, True, True)
    assert isinstance(qa.created_at, datetime)


def test_partial_indexes_exist(migrated: Engine) -> None:
    with migrated.connect() as conn:
        if migrated.dialect.name == "postgresql":
            definition = conn.scalar(
                sa.text("SELECT indexdef FROM pg_indexes WHERE indexname = 'idx_uploaded_files_status'")
            )
        else:
            definition = conn.scalar(
                sa.text("SELECT sql FROM sqlite_master WHERE name = 'idx_uploaded_files_status'")
            )
    assert definition is not None
    assert "WHERE" in definition and "active" in definition


def test_postgresql_gets_the_seed_enum_types() -> None:
    with scratch_postgres() as url:
        upgrade(url)
        with engine_for(url) as engine, engine.connect() as conn:
            enums = set(conn.scalars(sa.text("SELECT typname FROM pg_type WHERE typtype = 'e'")))
            frequency = list(
                conn.scalars(
                    sa.text("SELECT unnest(enum_range(NULL::usage_frequency))::text"),
                )
            )
            column_type = conn.scalar(
                sa.text(
                    "SELECT udt_name FROM information_schema.columns"
                    " WHERE table_name = 'uploaded_files' AND column_name = 'virus_scan_status'"
                )
            )
    assert enums >= ENUM_TYPES
    assert frequency == ["daily", "twice_daily", "weekly", "2-3_times_week", "as_needed"]
    assert column_type == "virus_scan_status"


def test_models_and_migration_agree_on_postgresql() -> None:
    """Alembic finds nothing to autogenerate after 0001 (types and server defaults compared too).

    No noise needs ignoring: JSONB/ARRAY variants, enums and the `DESC` expression indexes all
    compare equal on PostgreSQL.
    """
    model_tables = {t.name for t in MODEL_TABLES}

    def ours(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        table = obj if type_ == "table" else getattr(obj, "table", None)
        return table is None or table.name in model_tables

    with scratch_postgres() as url:
        upgrade(url)
        with engine_for(url) as engine, engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={"compare_type": True, "compare_server_default": True, "include_object": ours},
            )
            assert compare_metadata(context, Base.metadata) == []


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_migration_builds_what_create_all_builds(dialect: str, tmp_path: Path) -> None:
    """CHECKs, partial-index predicates and FK actions, which alembic does not compare, match too."""
    with (
        scratch_database(dialect, tmp_path) as migrated_url,
        scratch_database(dialect, tmp_path) as direct_url,
    ):
        upgrade(migrated_url)
        with engine_for(migrated_url) as migrated, engine_for(direct_url) as direct:
            Base.metadata.create_all(direct, tables=MODEL_TABLES)
            assert schema_of(migrated) == schema_of(direct)


def schema_of(engine: Engine) -> dict[str, Any]:
    """Everything reflection reports about the model tables, in a comparable, ordered form."""
    inspector = sa.inspect(engine)

    def plain(items: list[Any]) -> list[str]:
        # SQLite reflects a partial index's predicate as a text() clause: compare its SQL.
        return sorted(
            repr({**item, "dialect_options": {k: str(v) for k, v in item.get("dialect_options", {}).items()}})
            for item in items
        )

    schema: dict[str, Any] = {}
    for table in sorted(t.name for t in MODEL_TABLES):
        schema[table] = {
            "columns": plain(inspector.get_columns(table)),
            "pk": inspector.get_pk_constraint(table),
            "fks": plain(inspector.get_foreign_keys(table)),
            "uniques": plain(inspector.get_unique_constraints(table)),
            "checks": plain(inspector.get_check_constraints(table)),
            "indexes": plain(inspector.get_indexes(table)),
        }
    return schema


def test_downgrade_removes_tables_and_enum_types(migrated: Engine) -> None:
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("sqlalchemy.url", migrated.url.render_as_string(hide_password=False))
    command.downgrade(config, "base")
    assert set(sa.inspect(migrated).get_table_names()) == {"alembic_version"}
    if migrated.dialect.name == "postgresql":
        with migrated.connect() as conn:
            assert conn.scalar(sa.text("SELECT count(*) FROM pg_type WHERE typtype = 'e'")) == 0


def test_job_round_trip(migrated: Engine) -> None:
    with Session(migrated) as session:
        job = Job(kind="uploads.process", payload={"upload_id": 7, "sizes": ["small", "medium"]})
        session.add(job)
        session.commit()
        job_id = job.id
    with Session(migrated) as session:
        loaded = session.get(Job, job_id)
        assert loaded is not None
        assert isinstance(loaded.id, uuid.UUID)
        assert loaded.payload == {"upload_id": 7, "sizes": ["small", "medium"]}
        assert loaded.state is JobState.queued
        assert (loaded.attempts, loaded.deliveries, loaded.progress) == (0, 0, 0)
        assert loaded.created_at.tzinfo is None and loaded.updated_at is not None
        assert loaded.result is None and loaded.lease_until is None


def test_job_idempotency_key_is_unique_and_progress_bounded(migrated: Engine) -> None:
    with Session(migrated) as session:
        session.add(Job(kind="uploads.process", idempotency_key="k-1"))
        session.commit()
        session.add(Job(kind="uploads.process", idempotency_key="k-1"))
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()
        session.add(Job(kind="uploads.process", progress=101))
        with pytest.raises(IntegrityError):
            session.commit()
