"""A real HTTP server on loopback for the ``http`` step's tests.

One uvicorn server per test session (per xdist worker), in a background thread, listening
on the same free port on 127.0.0.1, 127.0.0.2 and, when available, ::1. 127.0.0.2 plays a
"public" host in the SSRF tests, which declare it allowed through an injected policy.
Each request is recorded with the local address it arrived on, so a test can prove the
guard stopped a request before any byte reached the server.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import socket
import threading
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio.testing import ActivityEnvironment

from activities.http import HttpActivities
from core.network_guard import build_http_client
from tests.support.polling import eventually_sync

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
BASIC_USER, BASIC_PASSWORD = "alice", "s3cret-pässword"
BEARER_TOKEN = "tok-123-secret"


@dataclass
class SeenRequest:
    """One request as the server received it."""

    method: str
    path: str
    query: str
    local_host: str


@dataclass
class LoopbackServer:
    """The running test server and what it has seen."""

    port: int
    ipv6: bool
    seen: list[SeenRequest] = field(default_factory=list)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        """An absolute URL on this server."""
        return f"http://{host}:{self.port}{path}"

    def saw(self, marker: str) -> bool:
        """Whether any request's path or query contains ``marker``."""
        return any(marker in r.path or marker in r.query for r in self.seen)

    def saw_path(self, path: str) -> bool:
        """Whether any request was for exactly ``path``."""
        return any(r.path == path for r in self.seen)


class _Recorder:
    """ASGI middleware that records every HTTP request before the app sees it."""

    def __init__(self, app: ASGIApp, seen: list[SeenRequest]) -> None:
        self._app, self._seen = app, seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self._seen.append(
                SeenRequest(
                    scope["method"],
                    scope["path"],
                    scope["query_string"].decode(),
                    str(scope["server"][0]),
                )
            )
        await self._app(scope, receive, send)


def _routes() -> list[Route]:
    flaky_calls: Counter[str] = Counter()

    async def json_doc(request: Request) -> Response:
        return JSONResponse({"hello": "world", "n": 1})

    async def problem(request: Request) -> Response:
        body = b'{"title": "teapot"}'
        return Response(body, media_type="application/problem+json")

    async def mislabelled(request: Request) -> Response:
        return Response(b"not json", media_type="application/json")

    async def text(request: Request) -> Response:
        return Response("héllo wörld".encode(), media_type="text/plain; charset=utf-8")

    async def latin1(request: Request) -> Response:
        return Response("café".encode("latin-1"), media_type="text/plain; charset=iso-8859-1")

    async def binary(request: Request) -> Response:
        return Response(bytes(range(256)), media_type="application/octet-stream")

    async def status(request: Request) -> Response:
        code = int(request.path_params["code"])
        body = b"" if code in (204, 304) else b'{"code": %d}' % code
        return Response(body, status_code=code, media_type="application/json")

    async def echo(request: Request) -> Response:
        return JSONResponse(
            {
                "method": request.method,
                "query": list(request.query_params.multi_items()),
                "headers": dict(request.headers),
                "body": (await request.body()).decode(),
            }
        )

    async def probe(request: Request) -> Response:
        return JSONResponse({"probe": request.path_params["name"]})

    async def redirect(request: Request) -> Response:
        code = int(request.query_params.get("status", "302"))
        return RedirectResponse(request.query_params["to"], status_code=code)

    async def loop(request: Request) -> Response:
        return RedirectResponse("/loop", status_code=302)

    async def slow(request: Request) -> Response:
        await asyncio.sleep(float(request.query_params["seconds"]))
        return Response(b"done", media_type="text/plain")

    async def basic(request: Request) -> Response:
        expected = base64.b64encode(f"{BASIC_USER}:{BASIC_PASSWORD}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        return JSONResponse({"user": BASIC_USER})

    async def bearer(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {BEARER_TOKEN}":
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        return JSONResponse({"token": "ok"})

    async def too_many(request: Request) -> Response:
        headers = {"Retry-After": request.query_params["after"]}
        return JSONResponse({"error": "slow down"}, status_code=429, headers=headers)

    async def unavailable(request: Request) -> Response:
        return Response(b"down", status_code=503, headers={"Retry-After": "7"})

    async def flaky(request: Request) -> Response:
        key = request.path_params["key"]
        flaky_calls[key] += 1
        if flaky_calls[key] <= int(request.query_params.get("fails", "2")):
            return Response(b"try again", status_code=503)
        return JSONResponse({"attempt": flaky_calls[key]})

    async def big(request: Request) -> Response:
        size, chunk = int(request.query_params["size"]), 64 * 1024

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, size, chunk):
                yield b"x" * min(chunk, size - start)

        headers = {"Content-Length": str(size)} if request.query_params.get("length") else {}
        return StreamingResponse(chunks(), media_type="text/plain", headers=headers)

    async def gzip_bomb(request: Request) -> Response:
        body = gzip.compress(b"\0" * (1024 * 1024))
        headers = {"Content-Encoding": "gzip"}
        return Response(body, media_type="application/octet-stream", headers=headers)

    async def repeated(request: Request) -> Response:
        response = Response(b"", media_type="text/plain")
        response.headers.append("X-Multi", "a")
        response.headers.append("X-Multi", "b")
        return response

    return [
        Route("/json", json_doc),
        Route("/problem", problem),
        Route("/mislabelled", mislabelled),
        Route("/text", text),
        Route("/latin1", latin1),
        Route("/binary", binary),
        Route("/status/{code:int}", status, methods=ALL_METHODS),
        Route("/echo", echo, methods=ALL_METHODS),
        Route("/probe/{name}", probe),
        Route("/redirect", redirect, methods=ALL_METHODS),
        Route("/loop", loop),
        Route("/slow", slow),
        Route("/auth/basic", basic),
        Route("/auth/bearer", bearer),
        Route("/too-many", too_many),
        Route("/unavailable", unavailable),
        Route("/flaky/{key}", flaky),
        Route("/big", big),
        Route("/gzip-bomb", gzip_bomb),
        Route("/repeated", repeated),
    ]


def _listen(host: str, port: int, family: socket.AddressFamily) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def _bind_sockets() -> tuple[list[socket.socket], bool]:
    """Sockets on one free port for 127.0.0.1, 127.0.0.2 and ::1 (if the host has IPv6)."""
    for _ in range(20):
        first = _listen("127.0.0.1", 0, socket.AF_INET)
        port = first.getsockname()[1]
        try:
            second = _listen("127.0.0.2", port, socket.AF_INET)
        except OSError:
            first.close()
            continue
        try:
            return [first, second, _listen("::1", port, socket.AF_INET6)], True
        except OSError:
            return [first, second], False
    raise RuntimeError("no port free on both 127.0.0.1 and 127.0.0.2")


@pytest.fixture(scope="session")
def http_server() -> Iterator[LoopbackServer]:
    """The session's loopback HTTP server."""
    sockets, ipv6 = _bind_sockets()
    server_info = LoopbackServer(port=sockets[0].getsockname()[1], ipv6=ipv6)
    app = _Recorder(Starlette(routes=_routes()), server_info.seen)
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_level="warning",
        access_log=False,
        loop="asyncio",
        http="h11",
        timeout_graceful_shutdown=1,  # do not wait for the slow-response tests' handlers
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": sockets}, daemon=True)
    thread.start()

    def started() -> bool:
        if not thread.is_alive():
            raise RuntimeError("the test HTTP server did not start")
        return bool(server.started)

    eventually_sync(started, timeout=10, interval=0.01, what="the test HTTP server")
    yield server_info
    server.should_exit = True
    thread.join(timeout=10)
    for sock in sockets:
        sock.close()


@pytest.fixture
def closed_port() -> int:
    """A loopback port nobody listens on (connections to it are refused)."""
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
async def open_client() -> AsyncIterator[httpx.AsyncClient]:
    """A client with ``allow_private_networks=True`` (``headrace dev``'s default)."""
    client = build_http_client(allow_private_networks=True)
    yield client
    await client.aclose()


@pytest.fixture
async def strict_client() -> AsyncIterator[httpx.AsyncClient]:
    """A client with the production policy: only public addresses."""
    client = build_http_client(allow_private_networks=False)
    yield client
    await client.aclose()


@pytest.fixture
def heartbeats() -> list[tuple[Any, ...]]:
    """Heartbeat details the activity environment received."""
    return []


@pytest.fixture
def env(heartbeats: list[tuple[Any, ...]]) -> ActivityEnvironment:
    """An activity environment that records heartbeats."""
    environment = ActivityEnvironment()
    environment.on_heartbeat = lambda *details: heartbeats.append(details)
    return environment


@pytest.fixture
def acts(open_client: httpx.AsyncClient) -> HttpActivities:
    """The activities over the permissive client (the happy paths run on loopback)."""
    return HttpActivities(open_client)
