"""Finding the real services the suite runs against (PostgreSQL, Redis).

Without ``HEADRACE_REQUIRE_SERVICES=1`` a missing service skips the tests that need it, with
the reason; with it (CI), a missing service fails them.
"""

from __future__ import annotations

import os

import pytest

POSTGRES_ADMIN_URL = os.environ.get(
    "HEADRACE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("HEADRACE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def services_required() -> bool:
    return os.environ.get("HEADRACE_REQUIRE_SERVICES") == "1"


def unavailable(what: str, reason: str) -> None:
    message = f"{what} is not available ({reason})"
    if services_required():
        pytest.fail(f"{message}; HEADRACE_REQUIRE_SERVICES=1 makes this a failure")
    pytest.skip(message)


async def _postgres_answers() -> str | None:
    import asyncpg

    try:
        conn = await asyncpg.connect(_plain(POSTGRES_ADMIN_URL), timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return str(exc)
    await conn.close()
    return None


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def create_postgres_database(name: str) -> str:
    """A fresh, empty database ``name`` on the test server; returns its SQLAlchemy URL."""
    import asyncpg

    problem = await _postgres_answers()
    if problem:
        unavailable("PostgreSQL", problem)
    conn = await asyncpg.connect(_plain(POSTGRES_ADMIN_URL))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


async def drop_postgres_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_plain(POSTGRES_ADMIN_URL))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def redis_or_skip() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        unavailable("Redis", str(exc))
    return REDIS_URL
