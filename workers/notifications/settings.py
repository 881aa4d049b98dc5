"""Settings of the notification domain, read from ``NOTIFY_*`` environment variables.

The transport URLs and secrets (``SMTP_URL``, ``SMTP_FROM``, ``PUSH_GATEWAY_URL``,
``PUSH_SECRET``, ``REDIS_URL``) are the project's (``workers.settings``); these are the knobs of
fan-out and delivery.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class NotificationSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFY_", case_sensitive=False, extra="ignore")

    fanout_batch_size: int = Field(
        5000,
        ge=1,
        le=10000,
        description="Recipients per fan-out batch: one transaction of bulk statements, then progress.",
    )
    fanout_parallelism: int = Field(
        2, ge=1, le=8, description="Batches of one fan-out written at once, each on its own connection."
    )
    max_attempts: int = Field(
        6, ge=1, description="Sends tried per e-mail or push delivery before it is marked failed."
    )
    # Whole seconds: Celery's jittered backoff draws a whole number of seconds up to the bound.
    retry_backoff_s: int = Field(
        30, ge=1, description="Delay bound of the first retry of a delivery, doubled per retry, full jitter."
    )
    retry_backoff_max_s: int = Field(3600, ge=1, description="Longest delay between two attempts.")
    email_rate_per_s: float = Field(
        10.0, gt=0, description="E-mails per second over all workers (Redis token bucket)."
    )
    email_burst: int = Field(20, ge=1, description="E-mails that may go at once after a quiet spell.")
    push_rate_per_s: float = Field(100.0, gt=0, description="Push requests per second over all workers.")
    push_burst: int = Field(200, ge=1, description="Push requests that may go at once after a quiet spell.")
    rate_limit_max_wait_s: float = Field(
        10.0, ge=0, description="Longest a delivery waits for a token before it is retried later instead."
    )
    smtp_timeout_s: float = Field(30.0, gt=0, description="SMTP connect and command timeout.")
    push_timeout_s: float = Field(10.0, gt=0, description="Push gateway request timeout.")
    site_url: str = Field(
        "http://localhost:3000", description="The shop's front end; relative action URLs are joined to it."
    )
    digest_low_priority: bool = Field(
        True, description="E-mails of low-priority types wait for the daily digest instead of going at once."
    )


@lru_cache(maxsize=1)
def get_notification_settings() -> NotificationSettings:
    return NotificationSettings()
