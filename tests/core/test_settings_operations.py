"""Settings an operator of a cluster relies on: secrets read from mounted files, pool sizes
and asyncpg's statement cache (PgBouncer)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from core.database import engine_for
from core.settings import Settings, SettingsError
from tests.services import create_postgres_database, drop_postgres_database


class TestSecretsFromFiles:
    def test_a_file_variable_supplies_the_secret(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        (tmp_path / "key").write_text("from-a-mounted-secret-file\n")
        (tmp_path / "db").write_text("postgresql+asyncpg://app:pw@db/headrace")
        monkeypatch.delenv("HEADRACE_SECRET_KEY", raising=False)
        monkeypatch.delenv("HEADRACE_DATABASE_URL", raising=False)
        monkeypatch.setenv("HEADRACE_SECRET_KEY_FILE", str(tmp_path / "key"))
        monkeypatch.setenv("HEADRACE_DATABASE_URL_FILE", str(tmp_path / "db"))
        settings = Settings(environment="production")
        assert settings.signing_key == "from-a-mounted-secret-file"  # trailing newline dropped
        assert settings.database_url == "postgresql+asyncpg://app:pw@db/headrace"

    def test_the_plain_variable_wins_over_the_file(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        (tmp_path / "key").write_text("from-the-file-xxxxxxxx")
        monkeypatch.setenv("HEADRACE_SECRET_KEY", "from-the-environment-xx")
        monkeypatch.setenv("HEADRACE_SECRET_KEY_FILE", str(tmp_path / "key"))
        assert Settings().signing_key == "from-the-environment-xx"

    def test_a_missing_file_stops_the_process_with_its_name(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("HEADRACE_SECRET_KEY", raising=False)
        monkeypatch.setenv("HEADRACE_SECRET_KEY_FILE", str(tmp_path / "absent"))
        with pytest.raises((SettingsError, ValueError), match="HEADRACE_SECRET_KEY_FILE"):
            Settings()

    def test_only_secret_settings_can_come_from_files(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # A *_FILE variable is not a way to read arbitrary files into arbitrary settings.
        (tmp_path / "host").write_text("0.0.0.0")
        monkeypatch.setenv("HEADRACE_HOST_FILE", str(tmp_path / "host"))
        assert Settings(environment="dev").host == "127.0.0.1"


class TestDatabasePool:
    async def test_pool_sizes_and_statement_cache_reach_postgresql(self) -> None:
        name = f"headrace_pool_{uuid.uuid4().hex[:8]}"
        url = await create_postgres_database(name)
        try:
            settings = Settings(
                environment="dev",
                database_url=url,
                db_pool_size=3,
                db_max_overflow=1,
                db_statement_cache_size=0,
            )
            engine = engine_for(settings)
            try:
                assert engine.pool.size() == 3  # type: ignore[attr-defined]
                async with engine.connect() as connection:
                    # The same statement twice: with caching off, asyncpg prepares nothing
                    # it would reuse, which is what PgBouncer's transaction mode needs.
                    for _ in range(2):
                        assert (await connection.execute(text("SELECT 1"))).scalar() == 1
                    raw = await connection.get_raw_connection()
                    asyncpg_connection = raw.driver_connection
                    assert asyncpg_connection is not None
                    assert asyncpg_connection._stmt_cache.get_max_size() == 0  # type: ignore[attr-defined]
            finally:
                await engine.dispose()
        finally:
            await drop_postgres_database(name)
