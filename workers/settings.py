"""All configuration, read from the environment (see the table in README.md).

Nothing set means the embedded default: a SQLite file and a file-based kombu transport under
``DATA_DIR``, so ``skincare-workers demo`` runs on a bare machine.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    data_dir: Path = Field(Path("var"), description="Local folder for the embedded defaults.")
    database_url: str = Field("", description="SQLAlchemy URL; empty means SQLite under DATA_DIR.")
    broker_url: str = Field("", description="Celery broker; empty means kombu's filesystem transport.")
    result_backend: str = Field("", description="Celery result backend; empty: the jobs table holds results.")
    redis_url: str = Field(
        "", description="Redis for locks, pub/sub and rate limits; default: BROKER_URL if Redis."
    )
    mongo_url: str = Field("", description="MongoDB for analytics documents; empty means the SQL-JSON store.")
    mongo_db: str = "skincare_analytics"
    clamd_address: str = Field(
        "",
        description="tcp://host:port or unix:///path; 'disabled' (demo only) skips scanning.",
    )
    clamd_timeout_s: float = 30.0
    storage_root: Path = Field(Path(""), description="Root of stored files; default DATA_DIR/files.")
    public_base_url: str = Field(
        "/media", description="URL prefix under which STORAGE_ROOT/public is served."
    )
    ingest_secrets: str = Field("", description="Comma-separated HMAC secrets; several at once for rotation.")
    signature_tolerance_s: int = 300
    flower_user: str = ""
    flower_password: str = ""
    smtp_url: str = Field("", description="smtp://user:pass@host:port (smtps:// for TLS, ?starttls=1).")
    smtp_from: str = "Skincare Shop <no-reply@skincare.local>"
    push_gateway_url: str = ""
    push_secret: str = ""
    log_format: str = Field("json", description="json (one object per line) or text.")
    max_redeliveries: int = Field(
        3, description="A job redelivered (its worker lost) more often than this is dead."
    )
    queued_grace_s: int = Field(120, description="A job queued longer than this is re-published.")

    @field_validator("data_dir", "storage_root", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.resolve() if str(value) not in ("", ".") else value

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'skincare.db'}"

    @property
    def celery_broker_url(self) -> str:
        return self.broker_url or "filesystem://"

    @property
    def broker_folder(self) -> Path:
        return self.data_dir / "broker"

    @property
    def files_root(self) -> Path:
        return self.storage_root if str(self.storage_root) not in ("", ".") else self.data_dir / "files"

    @property
    def redis(self) -> str:
        """Redis used beside the broker; empty on the embedded default."""
        if self.redis_url:
            return self.redis_url
        return self.broker_url if self.broker_url.startswith(("redis://", "rediss://")) else ""

    @property
    def secrets(self) -> list[str]:
        return [s.strip() for s in self.ingest_secrets.split(",") if s.strip()]

    @property
    def is_embedded(self) -> bool:
        return not self.broker_url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
