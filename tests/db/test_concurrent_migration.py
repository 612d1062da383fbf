"""API replicas starting together on a blank PostgreSQL database all come up migrated."""

from __future__ import annotations

import asyncio
import secrets

from sqlalchemy import text

from db.migrate import upgrade_to_head
from db.session import create_engine
from tests.services import create_postgres_database, drop_postgres_database

REPLICAS = 4


async def test_replicas_migrating_one_blank_database_at_once_all_succeed() -> None:
    name = f"headrace_migrate_race_{secrets.token_hex(3)}"
    url = await create_postgres_database(name)
    try:
        outcomes = await asyncio.gather(
            *(upgrade_to_head(url) for _ in range(REPLICAS)), return_exceptions=True
        )
        assert [o for o in outcomes if isinstance(o, BaseException)] == []
        engine = create_engine(url)
        async with engine.connect() as connection:
            heads = (
                await connection.execute(text("SELECT version_num FROM alembic_version"))
            ).all()
        await engine.dispose()
        assert len(heads) == 1
    finally:
        await drop_postgres_database(name)
