"""The database engine of an API or worker process, sized by its settings."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from core.settings import Settings
from db.session import create_engine


def engine_for(settings: Settings, *, serialize_writes: bool = False) -> AsyncEngine:
    """The process's engine: ``HEADRACE_DB_*`` pool sizes and statement cache applied."""
    return create_engine(
        settings.effective_database_url,
        serialize_writes=serialize_writes,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        statement_cache_size=settings.db_statement_cache_size,
    )
