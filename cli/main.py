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
temporal_app = typer.Typer(help="Temporal namespace set-up.", no_args_is_help=True)
app.add_typer(temporal_app, name="temporal")
schedules_app = typer.Typer(help="Temporal Schedules of schedule triggers.", no_args_is_help=True)
app.add_typer(schedules_app, name="schedules")
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
    from core.temporal_setup import SearchAttributesMissing

    bus = publisher_from_fd(events_fd) if events_fd is not None else None
    try:
        asyncio.run(run_worker(_settings(), bus=bus))
    except SearchAttributesMissing as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc


@temporal_app.command("setup")
def temporal_setup() -> None:
    """Register Headrace's search attributes on the Temporal namespace (safe to run again)."""
    from core.temporal_setup import SearchAttributesMissing

    settings = _settings() if os.environ.get("HEADRACE_SECRET_KEY") else _dev_settings()
    try:
        added = asyncio.run(_register(settings))
    except SearchAttributesMissing as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    namespace = settings.temporal_namespace
    if added:
        console.print(f"registered on namespace {namespace}: {', '.join(added)}")
    else:
        console.print(f"namespace {namespace} already has Headrace's search attributes")


async def _register(settings: Settings) -> list[str]:
    from api.temporal_client import connect_temporal
    from core.temporal_setup import register_search_attributes

    return await register_search_attributes(await connect_temporal(settings))


@app.command()
def migrate() -> None:
    """Upgrade the database to the newest schema (Alembic ``upgrade head``)."""
    from db.migrate import upgrade_to_head

    # Production (the default once a secret key is set) must name its database: without
    # one, a migration Job would upgrade a SQLite file inside its own container and succeed.
    configured = os.environ.get("HEADRACE_SECRET_KEY") or os.environ.get("HEADRACE_SECRET_KEY_FILE")
    default_environment = "production" if configured else "dev"
    production = os.environ.get("HEADRACE_ENVIRONMENT", default_environment) == "production"
    settings = _settings() if configured else _dev_settings()
    if settings.database_url is None:
        if production:
            console.print(
                "[red]HEADRACE_DATABASE_URL is not set[/red]: a production `headrace migrate` "
                "needs the database to migrate (postgresql+asyncpg://…); nothing was changed."
            )
            raise typer.Exit(2)
        console.print(
            "HEADRACE_DATABASE_URL is not set: migrating the local SQLite database "
            f"{settings.effective_database_url} (what `headrace dev` uses)."
        )
    asyncio.run(upgrade_to_head(settings.effective_database_url))
    console.print("database is at the newest schema")


@schedules_app.command("move")
def schedules_move(
    to: Annotated[str | None, typer.Option(help="Task queue; default: HEADRACE_TASK_QUEUE")] = None,
) -> None:
    """Point every schedule trigger at a task queue (after a deployment on a new queue)."""
    settings = _settings()
    moved = asyncio.run(_move_schedules(settings, to or settings.task_queue))
    console.print(f"{len(moved)} schedule(s) moved to {to or settings.task_queue}")


async def _move_schedules(settings: Settings, task_queue: str) -> list[str]:
    from api.services.schedules import move_schedules
    from api.temporal_client import connect_temporal

    return await move_schedules(await connect_temporal(settings), task_queue)


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
def validate(
    path: Annotated[Path, typer.Argument(help="A definition, or a POST /workflows body (JSON)")],
) -> None:
    """Validate a definition, or a whole workflow document; exit 1 with the API's errors.

    A file with ``definition`` (and no ``steps``) is read as the body of ``POST
    /api/v1/workflows``: name, definition, triggers (schedules' crons, time zones...).
    """
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        console.print(f"[red]{path}: {exc}[/red]")
        raise typer.Exit(1) from exc
    problems = [(p.pointer, p.detail, p.code) for p in _problems(raw)]
    for pointer, message, code in problems:
        typer.echo(f"{path}: {pointer or '/'}: {message} [{code}]")
    if problems:
        raise typer.Exit(1)
    typer.echo(f"{path}: valid")


def _problems(raw: object) -> list[Any]:
    from api.errors import ProblemDetail
    from api.services.workflows import document_problems
    from temporal_workflows.jinja_statements import statement_problems
    from temporal_workflows.validation import definition_problems

    if isinstance(raw, dict) and "definition" in raw and "steps" not in raw:
        return document_problems(raw)
    found = definition_problems(raw) + statement_problems(raw)
    return [ProblemDetail(p.pointer, p.message, p.code) for p in found]


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
