"""Engine and session factory, built from settings by the app factory or the worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import Connection, event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from db.base import storable_json
from db.execution_stats import track_execution_stats
from db.models import Execution, execution_stats


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _: ConnectionPoolEntry) -> None:
    # WAL lets the API read while the worker writes; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_manual_transactions(dbapi_connection: DBAPIConnection, _: ConnectionPoolEntry) -> None:
    dbapi_connection.isolation_level = None


def _begin_immediate(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(
    url: str,
    *,
    serialize_writes: bool = False,
    pool_size: int = 10,
    max_overflow: int = 20,
    statement_cache_size: int | None = None,
) -> AsyncEngine:
    """Create the async engine for ``url`` with the per-backend settings Headrace needs.

    ``serialize_writes`` makes every SQLite transaction take the write lock when it begins
    (``BEGIN IMMEDIATE``), for writers that read-then-write (the event recorder): without it
    two such transactions deadlock into SQLITE_BUSY instead of waiting for each other.

    ``pool_size`` + ``max_overflow`` bound the PostgreSQL connections of the process
    (``HEADRACE_DB_POOL_SIZE``/``HEADRACE_DB_MAX_OVERFLOW``). ``statement_cache_size=0``
    turns off asyncpg's prepared statements, which PgBouncer in transaction mode breaks (a
    statement prepared on one server connection is then run on another).
    """
    if url.startswith("sqlite"):
        engine = create_async_engine(
            url, connect_args={"timeout": 30}, json_serializer=storable_json
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        if serialize_writes:
            event.listen(engine.sync_engine, "connect", _sqlite_manual_transactions)
            event.listen(engine.sync_engine, "begin", _begin_immediate)
        return engine
    connect_args: dict[str, object] = {}
    if statement_cache_size is not None:
        connect_args["statement_cache_size"] = statement_cache_size
        if statement_cache_size == 0:
            # SQLAlchemy's asyncpg dialect keeps a cache of its own besides asyncpg's.
            connect_args["prepared_statement_cache_size"] = 0
    return create_async_engine(
        url,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=max_overflow,
        connect_args=connect_args,
        json_serializer=storable_json,
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """The session factory of the app, the worker and the CLI.

    It also registers the analytics rollup's ORM hooks (:mod:`db.execution_stats`; once per
    process): every session that writes executions keeps ``execution_stats`` in step.
    """
    track_execution_stats(Execution, execution_stats)
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session whose work is committed on success and rolled back on any error."""
    async with factory() as session, session.begin():
        yield session
