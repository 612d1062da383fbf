"""The ``headrace`` command line."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from core.settings import Settings, SettingsError

app = typer.Typer(
    help="Headrace: durable, JSON-defined workflows on Temporal.", no_args_is_help=True
)
users_app = typer.Typer(help="Manage users.", no_args_is_help=True)
app.add_typer(users_app, name="users")
analytics_app = typer.Typer(help="Analytics maintenance.", no_args_is_help=True)
app.add_typer(analytics_app, name="analytics")
console = Console(stderr=True)


def _settings(**overrides: Any) -> Settings:
    try:
        return Settings(**overrides)
    except SettingsError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    except ValueError as exc:  # pydantic's ValidationError wraps SettingsError
        console.print(f"[red]Invalid configuration:[/red] {exc}")
        raise typer.Exit(2) from exc


def _dev_settings() -> Settings:
    from cli.devstack import ensure_secret_key

    data_dir = Path(os.environ.get("HEADRACE_DATA_DIR", ".headrace"))
    os.environ.setdefault("HEADRACE_SECRET_KEY", ensure_secret_key(data_dir))
    os.environ["HEADRACE_ENVIRONMENT"] = "dev"
    return _settings()


@app.command()
def dev() -> None:
    """Everything in one process group: Temporal dev server, API, worker and dashboard."""
    from cli.devstack import fresh_metrics_dir

    settings = _dev_settings()
    # API and worker are two processes in dev: /metrics merges both. Set before anything
    # imports prometheus_client, which reads it once.
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(fresh_metrics_dir(settings.data_dir)))
    from cli.runner import run_dev

    asyncio.run(run_dev(settings))


@app.command()
def api() -> None:
    """The API process (production): settings from the environment."""
    from cli.runner import run_api

    asyncio.run(run_api(_settings()))


@app.command()
def worker(
    events_fd: Annotated[
        int | None, typer.Option(hidden=True, help="Pipe to `headrace dev` for live events")
    ] = None,
) -> None:
    """A worker process (production): runs workflows and steps from the task queue."""
    from cli.runner import run_worker
    from cli.worker_process import publisher_from_fd

    bus = publisher_from_fd(events_fd) if events_fd is not None else None
    asyncio.run(run_worker(_settings(), bus=bus))


@app.command()
def migrate() -> None:
    """Upgrade the database to the newest schema (Alembic ``upgrade head``)."""
    from db.migrate import upgrade_to_head

    settings = _settings() if os.environ.get("HEADRACE_SECRET_KEY") else _dev_settings()
    asyncio.run(upgrade_to_head(settings.effective_database_url))
    console.print("database is at the newest schema")


@analytics_app.command("rebuild")
def analytics_rebuild(
    since: Annotated[
        datetime | None, typer.Option(help="Start (UTC); default: the oldest execution")
    ] = None,
    until: Annotated[
        datetime | None, typer.Option(help="End, exclusive; default: the newest execution")
    ] = None,
) -> None:
    """Recompute the analytics rollup from the executions table, a day per transaction.

    Only needed after rows were written around the application (bulk loads, repairs).
    """
    settings = _settings() if os.environ.get("HEADRACE_SECRET_KEY") else _dev_settings()
    counted = asyncio.run(_rebuild_rollup(settings, since, until))
    console.print(f"rollup rebuilt from {counted:,} ended executions")


async def _rebuild_rollup(
    settings: Settings, since: datetime | None, until: datetime | None
) -> int:
    from api.services.analytics import rebuild_rollup
    from db.session import create_engine, create_session_factory

    engine = create_engine(settings.effective_database_url)
    try:
        return await rebuild_rollup(create_session_factory(engine), since, until)
    finally:
        await engine.dispose()


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="Login email")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, help="Password")],
    role: Annotated[str, typer.Option(help="admin, developer or user")] = "user",
    name: Annotated[str, typer.Option(help="Display name")] = "",
) -> None:
    """Create a user (the database is migrated first)."""
    from pydantic import ValidationError

    from api.errors import Conflict
    from api.schemas.users import UserCreate

    settings = _settings() if os.environ.get("HEADRACE_SECRET_KEY") else _dev_settings()
    try:
        data = UserCreate(email=email, password=password, role=role, name=name)
    except ValidationError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    try:
        user_id = asyncio.run(_create_user(settings, data))
    except Conflict as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from exc
    typer.echo(str(user_id))


async def _create_user(settings: Settings, data: Any) -> Any:
    from api.security import PasswordHasher
    from api.services.users import create_user
    from db.migrate import upgrade_to_head
    from db.session import create_engine, create_session_factory

    await upgrade_to_head(settings.effective_database_url)
    engine = create_engine(settings.effective_database_url)
    try:
        async with create_session_factory(engine)() as session:
            passwords = PasswordHasher(settings.password_hash_concurrency)
            return (await create_user(session, data, passwords)).id
    finally:
        await engine.dispose()


@app.command()
def validate(path: Annotated[Path, typer.Argument(help="A workflow definition (JSON)")]) -> None:
    """Validate a definition; exit 1 with the same errors the API gives."""
    from temporal_workflows.validation import DefinitionInvalid, validate_definition

    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        console.print(f"[red]{path}: {exc}[/red]")
        raise typer.Exit(1) from exc
    try:
        validate_definition(raw)
    except DefinitionInvalid as exc:
        for problem in exc.problems:
            typer.echo(f"{path}: {problem.pointer or '/'}: {problem.message} [{problem.code}]")
        raise typer.Exit(1) from exc
    typer.echo(f"{path}: valid")


@app.command()
def openapi(
    output: Annotated[
        Path | None, typer.Option(help="Write it to this file instead of standard output")
    ] = None,
) -> None:
    """Print the OpenAPI document the API serves at /openapi.json (no server needed)."""
    from api.openapi import openapi_document

    text = json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())


if __name__ == "__main__":  # `python -m api.cli`, as `headrace dev` starts its worker
    main()
