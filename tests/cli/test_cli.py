"""The `headrace` command line: validate, migrate, users create, and the production guard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app

cli = CliRunner()


class TestValidate:
    def test_a_valid_definition_exits_0(self, tmp_path: Path) -> None:
        path = tmp_path / "ok.json"
        path.write_text(json.dumps({"steps": [{"id": "a", "type": "transform", "with": {}}]}))
        result = cli.invoke(app, ["validate", str(path)])
        assert result.exit_code == 0, result.output
        assert "valid" in result.output

    def test_an_invalid_definition_exits_1_with_the_api_pointers(self, tmp_path: Path) -> None:
        path = tmp_path / "bad.json"
        path.write_text(
            json.dumps(
                {
                    "steps": [
                        {"id": "a", "type": "transform", "depends_on": ["b"]},
                        {"id": "b", "type": "transform", "depends_on": ["a"]},
                    ]
                }
            )
        )
        result = cli.invoke(app, ["validate", str(path)])
        assert result.exit_code == 1
        assert "/steps/" in result.output and "cycle" in result.output

    def test_the_body_of_post_workflows_is_checked_whole(self, tmp_path: Path) -> None:
        document = {
            "name": "nightly",
            "definition": {"steps": [{"id": "a", "type": "log", "with": {"message": "hi"}}]},
            "triggers": [{"type": "schedule", "cron": "0 3 * * *", "timezone": "Europe/Paris"}],
        }
        path = tmp_path / "workflow.json"
        path.write_text(json.dumps(document))
        result = cli.invoke(app, ["validate", str(path)])
        assert result.exit_code == 0, result.output

        document["triggers"] = [
            {"type": "schedule", "cron": "0 3 * *", "timezone": "Mars/Olympus"},
            {"type": "cron"},
        ]
        document["definition"] = {"steps": [{"id": "a", "type": "lgo"}]}
        path.write_text(json.dumps(document))
        result = cli.invoke(app, ["validate", str(path)])
        assert result.exit_code == 1
        assert "/definition/steps/0/type" in result.output
        assert "/triggers/1/type: unknown trigger type 'cron'" in result.output

        document["triggers"] = [{"type": "schedule", "cron": "0 3 * *", "timezone": "Mars/X"}]
        path.write_text(json.dumps(document))
        result = cli.invoke(app, ["validate", str(path)])
        assert "/triggers/0/cron" in result.output and "/triggers/0/timezone" in result.output

    def test_a_file_that_is_not_json_exits_1(self, tmp_path: Path) -> None:
        path = tmp_path / "broken.json"
        path.write_text("{")
        assert cli.invoke(app, ["validate", str(path)]).exit_code == 1


class TestUsersAndMigrate:
    def test_users_create_migrates_and_creates_then_refuses_a_duplicate(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("HEADRACE_DATA_DIR", str(tmp_path))
        monkeypatch.setenv("HEADRACE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/cli.db")
        monkeypatch.delenv("HEADRACE_SECRET_KEY", raising=False)
        args = [
            "users",
            "create",
            "--email",
            "ops@example.com",
            "--password",
            "long-enough-pw",
            "--role",
            "admin",
        ]
        first = cli.invoke(app, args)
        assert first.exit_code == 0, first.output
        assert (tmp_path / "secret_key").exists()  # dev default: generated and kept
        second = cli.invoke(app, args)
        assert second.exit_code == 1
        assert "exists" in second.output
        assert cli.invoke(app, ["migrate"]).exit_code == 0

    def test_production_without_a_secret_key_refuses_to_start(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("HEADRACE_SECRET_KEY", raising=False)
        monkeypatch.setenv("HEADRACE_ENVIRONMENT", "production")
        result = cli.invoke(app, ["api"])
        assert result.exit_code == 2
        assert "HEADRACE_SECRET_KEY" in result.output


class TestMigrateNamesItsDatabase:
    def test_production_without_a_database_url_is_an_error_not_a_sqlite_file(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("HEADRACE_DATA_DIR", str(tmp_path))
        monkeypatch.setenv("HEADRACE_SECRET_KEY", "x" * 32)
        monkeypatch.delenv("HEADRACE_DATABASE_URL", raising=False)
        monkeypatch.delenv("HEADRACE_ENVIRONMENT", raising=False)
        result = cli.invoke(app, ["migrate"])
        assert result.exit_code == 2
        assert "HEADRACE_DATABASE_URL is not set" in result.output
        assert not (tmp_path / "headrace.db").exists()

    def test_without_any_configuration_it_says_which_sqlite_file_it_migrates(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("HEADRACE_DATA_DIR", str(tmp_path))
        for name in ("HEADRACE_SECRET_KEY", "HEADRACE_DATABASE_URL", "HEADRACE_ENVIRONMENT"):
            monkeypatch.delenv(name, raising=False)
        result = cli.invoke(app, ["migrate"])
        assert result.exit_code == 0, result.output
        assert "local SQLite database" in result.output
        assert (tmp_path / "headrace.db").exists()


class TestAnalyticsRebuild:
    def test_rebuilds_the_rollup_of_a_migrated_database(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("HEADRACE_DATA_DIR", str(tmp_path))
        monkeypatch.setenv("HEADRACE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/cli.db")
        monkeypatch.delenv("HEADRACE_SECRET_KEY", raising=False)
        assert cli.invoke(app, ["migrate"]).exit_code == 0
        rebuilt = cli.invoke(
            app, ["analytics", "rebuild", "--since", "2026-01-01", "--until", "2026-01-02"]
        )
        assert rebuilt.exit_code == 0, rebuilt.output
        assert "rollup rebuilt from 0 ended executions" in rebuilt.output
