"""A small real HTTP service on loopback that ``http`` steps call in the workflow tests."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.polling import eventually_sync


@dataclass
class TargetServer:
    base_url: str
    calls: Counter[str] = field(default_factory=Counter)
    # Every request /echo received, as text (query, headers and body): what left Headrace.
    received: list[str] = field(default_factory=list)
    # /inflight/{group}/{key}: requests being served now, and the most seen at once, for
    # the group and for each of its keys.
    in_flight: Counter[str] = field(default_factory=Counter)
    peak: Counter[str] = field(default_factory=Counter)
    arrivals: list[tuple[str, float]] = field(default_factory=list)  # (group, time.time())

    def url(self, path: str) -> str:
        return self.base_url + path


def _app(server: TargetServer) -> Starlette:
    async def user(request: Request) -> Response:
        server.calls[request.url.path] += 1
        uid = request.path_params["uid"]
        return JSONResponse(
            {"id": uid, "tier": "vip" if uid.startswith("v") else "basic", "spend": 250}
        )

    async def flaky(request: Request) -> Response:
        key = request.path_params["key"]
        server.calls[key] += 1
        failures = int(request.query_params.get("fail", "2"))
        if server.calls[key] <= failures:
            return JSONResponse({"error": "try again"}, status_code=503)
        return JSONResponse({"ok": True, "calls": server.calls[key]})

    async def status(request: Request) -> Response:
        server.calls[request.url.path] += 1
        return JSONResponse(
            {"status": int(request.path_params["code"])},
            status_code=int(request.path_params["code"]),
        )

    async def echo(request: Request) -> Response:
        server.calls[request.url.path] += 1
        body = await request.body()
        server.received.append(
            f"{request.url}\n{dict(request.headers)}\n{body.decode(errors='replace')}"
        )
        return JSONResponse(
            {
                "method": request.method,
                "query": dict(request.query_params),
                "body": body.decode(),
                "headers": dict(request.headers),
            }
        )

    async def slow(request: Request) -> Response:
        key = request.path_params["key"]
        server.calls[key] += 1
        await asyncio.sleep(float(request.query_params.get("seconds", "1")))
        server.calls[key + ":done"] += 1
        return JSONResponse({"slept": True})

    async def inflight(request: Request) -> Response:
        """Holds the request ``seconds`` while counting how many are held at once."""
        group, key = request.path_params["group"], request.path_params["key"]
        server.arrivals.append((group, time.time()))
        names = (group, f"{group}/{key}")
        for name in names:
            server.in_flight[name] += 1
            server.peak[name] = max(server.peak[name], server.in_flight[name])
        try:
            await asyncio.sleep(float(request.query_params.get("seconds", "0.3")))
        finally:
            for name in names:
                server.in_flight[name] -= 1
        return JSONResponse({"key": key})

    async def count(request: Request) -> Response:
        """Counts its calls per key: a job whose progress advances with every poll."""
        key = "count:" + request.path_params["key"]
        server.calls[key] += 1
        return JSONResponse({"count": server.calls[key]})

    async def pages(request: Request) -> Response:
        """Three pages of two items; each names the next by a relative URL (or, with
        ``?away=URL``, by that absolute URL: a server sending a client elsewhere)."""
        server.calls["pages"] += 1
        page = int(request.query_params.get("page", "1"))
        body: dict[str, object] = {"data": [page * 10 + 1, page * 10 + 2]}
        if "away" in request.query_params:
            body["next"] = request.query_params["away"]
        elif page < 3:
            body["next"] = f"/pages?page={page + 1}"
        return JSONResponse(body)

    async def cursor(request: Request) -> Response:
        """A cursor API: ``after`` is the last id seen; five ids, two per page."""
        server.calls["cursor"] += 1
        after = int(request.query_params.get("after", "0"))
        ids = [n for n in range(after + 1, min(after + 2, 5) + 1)]
        meta = {"next_cursor": ids[-1]} if ids and ids[-1] < 5 else {}
        return JSONResponse({"items": [{"id": n} for n in ids], "meta": meta})

    return Starlette(
        routes=[
            Route("/pages", pages),
            Route("/cursor", cursor),
            Route("/users/{uid}", user),
            Route("/flaky/{key}", flaky),
            Route("/status/{code:int}", status),
            Route("/echo", echo, methods=["GET", "POST", "PUT"]),
            Route("/slow/{key}", slow),
            Route("/count/{key}", count),
            Route("/inflight/{group}/{key}", inflight),
        ]
    )


@contextmanager
def running_target_server() -> Iterator[TargetServer]:
    config = uvicorn.Config(
        Starlette(), host="127.0.0.1", port=0, lifespan="off", log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    target = TargetServer(base_url="")
    config.app = _app(target)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    eventually_sync(lambda: server.started, timeout=10, interval=0.01, what="the target server")
    port = server.servers[0].sockets[0].getsockname()[1]
    target.base_url = f"http://127.0.0.1:{port}"
    try:
        yield target
    finally:
        server.should_exit = True
        thread.join(timeout=5)
