"""Bring a database to the newest schema from Python (the API, workers and tests call this)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

ALEMBIC_INI = Path(__file__).parent / "alembic.ini"


def upgrade(url: str | None = None) -> None:
    """Apply every migration, on all branches; ``url`` overrides ``DATABASE_URL``."""
    config = Config(str(ALEMBIC_INI))
    if url is not None:
        # The ini parser interpolates `%`, which URL-encoded passwords contain.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    # "heads": each feature adds its own branch off 0001_foundation.
    command.upgrade(config, "heads")
