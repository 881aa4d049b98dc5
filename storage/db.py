"""Database access: one engine per process, one session per unit of work.

Services take a ``Session`` argument; tasks and the API open one with :func:`session_scope`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Connection, Engine, create_engine, event
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import ARRAY, Text

from workers.settings import get_settings

#: JSONB on PostgreSQL, JSON text elsewhere (the embedded SQLite default).
JSONType = JSON().with_variant(postgresql.JSONB(), "postgresql")
#: TEXT[] on PostgreSQL, a JSON list elsewhere.
TextArray = JSON().with_variant(ARRAY(Text), "postgresql")


class Base(DeclarativeBase):
    pass


def utcnow() -> datetime:
    """Naive UTC, as the seed's ``TIMESTAMP`` columns store it."""
    return datetime.now(UTC).replace(tzinfo=None)


_engine: Engine | None = None
_engine_pid: int | None = None
_factory: sessionmaker[Session] | None = None


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets the API and a worker process read while the other writes; the busy timeout makes
    # a writer wait for the lock instead of failing at once.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_engine(url: str | None = None) -> Engine:
    url = url or get_settings().sqlalchemy_url
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # The API serves requests from a thread pool of 40: a pool much smaller than that makes bursts
    # open and close connections; connections are opened lazily, so idle workers hold few.
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def get_engine() -> Engine:
    """The process's engine, built anew after a fork: pooled connections must not cross processes."""
    global _engine, _engine_pid, _factory
    if _engine is None or _engine_pid != os.getpid():
        if _engine is not None:
            _engine.dispose(close=False)
        _engine = make_engine()
        _engine_pid = os.getpid()
        _factory = sessionmaker(bind=_engine, expire_on_commit=False)
    return _engine


def reset_engine() -> None:
    """Forget the engine (settings changed, or a test wants a fresh one)."""
    global _engine, _factory
    if _engine is not None:
        _engine.dispose()
    _engine = None
    _factory = None


def insert_or_merge(entity: Any, bind: Any = None) -> Any:
    """``INSERT`` with ``ON CONFLICT`` clauses (``on_conflict_do_nothing``/``_do_update``), in the
    dialect of ``bind`` (a session's or connection's engine; by default the configured one):
    PostgreSQL and SQLite spell them alike."""
    from sqlalchemy.dialects import sqlite

    dialect = postgresql if (bind or get_engine()).dialect.name == "postgresql" else sqlite
    return dialect.insert(entity)


@contextmanager
def autocommit() -> Iterator[Connection]:
    """A connection whose every statement commits on its own.

    For the ledger's one-statement writes: one round trip each, where a session's transaction
    costs three (BEGIN, the statement, COMMIT).
    """
    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        yield conn


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session that commits on success, rolls back on error and always closes."""
    get_engine()
    assert _factory is not None
    session = _factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
