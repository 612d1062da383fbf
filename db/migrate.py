"""Run Alembic migrations programmatically (``headrace migrate`` and start-up)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from db.session import create_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any constant will do; API replicas starting together on one PostgreSQL database take it
# so that one migrates and the others then find the schema at head.
MIGRATION_LOCK_KEY = 0x48454144  # "HEAD"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url)
    return config


async def upgrade_to_head(url: str) -> None:
    """Bring the database at ``url`` to the newest schema (idempotent)."""
    if url.startswith("sqlite"):
        _ensure_sqlite_dir(url)
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Released at commit. (SQLite serializes DDL with its write lock.)
                await connection.exec_driver_sql(
                    f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"
                )
            await connection.run_sync(_upgrade, url)
    finally:
        await engine.dispose()


def _upgrade(connection: Connection, url: str) -> None:
    config = alembic_config(url)
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _ensure_sqlite_dir(url: str) -> None:
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
