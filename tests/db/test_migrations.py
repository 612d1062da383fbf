"""Alembic migrations build the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect

from db.base import Base
from db.migrate import upgrade_to_head
from db.session import create_engine

TABLES = {
    "refresh_tokens",
    "users",
    "api_keys",
    "workflows",
    "workflow_versions",
    "executions",
    "execution_logs",
    "triggers",
    "webhooks",
    "integrations",
    "secrets",
    "execution_stats",
}


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


class TestMigrations:
    async def test_blank_database_upgrades_to_head_with_every_table(self, db_url: str) -> None:
        engine = create_engine(db_url)
        async with engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        await engine.dispose()
        assert tables >= TABLES

    async def test_models_match_the_migrations(self, db_url: str) -> None:
        engine = create_engine(db_url)
        async with engine.connect() as conn:
            diff = await conn.run_sync(_diff)
        await engine.dispose()
        assert diff == []

    async def test_upgrading_twice_changes_nothing(self, db_url: str) -> None:
        await upgrade_to_head(db_url)
        engine = create_engine(db_url)
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
        await engine.dispose()
