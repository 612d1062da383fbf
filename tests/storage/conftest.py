"""Storage fixtures: a real S3 endpoint (moto's server) and a whole stack per backend.

``stack`` is parametrised over the two backends: ``local`` (files under the data dir) and
``s3`` (moto's S3 server on loopback, through the minio client). Each stack has its own
Temporal client with the production data converter (:func:`build_data_converter`), its own
worker on its own task queue, and its own app, all built from one ``Settings``, as
``headrace api`` and ``headrace worker`` build them.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from core.settings import Settings
from core.storage import ObjectStore, build_object_store
from core.storage.codec import build_data_converter
from tests.conftest import PASSWORD, make_settings
from tests.services import unavailable
from tests.support.ports import free_port
from worker.main import build_worker, worker_resources


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on loopback (skipped without moto, failed with REQUIRE_SERVICES)."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        unavailable("moto[server] (an S3 endpoint)", str(exc))
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def s3_overrides(endpoint: str) -> dict[str, Any]:
    return {
        "s3_endpoint": endpoint,
        "s3_access_key": "testing",
        "s3_secret_key": "testing-secret",
        # A bucket that does not exist yet: the store must create it.
        "s3_bucket": f"headrace-{uuid.uuid4().hex[:10]}",
    }


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    """A fresh, empty object store of each backend in turn."""
    overrides: dict[str, Any] = {}
    if request.param == "s3":
        overrides |= s3_overrides(request.getfixturevalue("s3_endpoint"))
    settings = make_settings("sqlite+aiosqlite:///unused.db", tmp_path, **overrides)
    return build_object_store(settings)


@dataclass
class Stack:
    backend: str
    settings: Settings
    temporal: Client
    app: FastAPI
    http: httpx.AsyncClient
    headers: dict[str, str]
    store: ObjectStore


@pytest.fixture(scope="session", params=["local", "s3"])
async def stack(
    request: pytest.FixtureRequest,
    db_url: str,
    temporal_env: WorkflowEnvironment,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Stack]:
    """API + worker + Temporal client on one storage backend, wired as in production."""
    overrides: dict[str, Any] = {
        "temporal_address": temporal_env.client.service_client.config.target_host,
        "task_queue": f"storage-{request.param}-{uuid.uuid4().hex[:8]}",
        "allow_private_networks": True,
        "sync_wait": 60,
    }
    if request.param == "s3":
        overrides |= s3_overrides(request.getfixturevalue("s3_endpoint"))
    settings = make_settings(db_url, tmp_path_factory.mktemp(f"data-{request.param}"), **overrides)
    client = await Client.connect(
        settings.temporal_address, data_converter=build_data_converter(settings)
    )
    app = create_app(settings, temporal_client=client)
    transport = httpx.ASGITransport(app=app)
    async with (
        worker_resources(settings) as resources,
        build_worker(client, settings.task_queue, resources),
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=120) as http,
    ):
        token = await http.post(
            "/api/v1/auth/token", data={"username": "admin@example.com", "password": PASSWORD}
        )
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        yield Stack(request.param, settings, client, app, http, headers, app.state.ctx.store)


class _BigJsonHandler(BaseHTTPRequestHandler):
    """``GET /json/<bytes>``: a JSON object of about that many bytes, ending in a ``tail``."""

    bodies: dict[int, bytes] = {}
    lock = threading.Lock()

    def do_GET(self) -> None:
        size = int(self.path.rsplit("/", 1)[-1])
        body = self.body(size)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    @classmethod
    def body(cls, size: int) -> bytes:
        with cls.lock:
            if size not in cls.bodies:
                cls.bodies[size] = big_json(size)
            return cls.bodies[size]

    def log_message(self, format: str, *args: Any) -> None:
        return


def big_json(size: int) -> bytes:
    chunk = "x" * 1000
    count = max(1, (size - 100) // (len(chunk) + 3))
    document = {"name": "big", "count": count, "chunks": [chunk] * count, "tail": "the end"}
    return json.dumps(document).encode()


@pytest.fixture(scope="session")
def big_json_server() -> Iterator[str]:
    """A loopback HTTP server of large JSON documents; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _BigJsonHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
