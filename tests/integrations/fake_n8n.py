"""A local server that speaks n8n's public API, on loopback, for the sync and step tests.

It serves the workflow JSON fixtures (the exact shape n8n exports) through
``GET /api/v1/workflows`` (``limit`` + ``cursor``, ``nextCursor``) and
``GET /api/v1/workflows/{id}``, checks ``X-N8N-API-KEY`` like n8n (401), answers production
webhooks ``/webhook/{path}`` of active workflows by running a Python stand-in for the
workflow (``behaviours``), records executions for ``GET /api/v1/executions``, and also
serves the third-party endpoints the fixtures' HTTP Request nodes call (``/target/...``).
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.polling import eventually_sync

FIXTURES = Path(__file__).parent / "fixtures"
TARGET_PLACEHOLDER = "http://target.invalid"
API_KEY = "n8n_api_test_key_0123456789"

Behaviour = Callable[[dict[str, Any]], Any]


def load_fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


@dataclass
class FakeN8n:
    base_url: str = ""
    api_key: str = API_KEY
    workflows: dict[str, dict[str, Any]] = field(default_factory=dict)
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    executions: list[dict[str, Any]] = field(default_factory=list)
    failing_ids: set[str] = field(default_factory=set)  # GET of these answers 500
    calls: Counter[str] = field(default_factory=Counter)
    execution_delay: float = 0.0  # onReceived executions finish this long after the call
    token_lifetime: int = 3600  # seconds, for the OAuth2 token endpoint
    page_cap: int = 250  # n8n caps `limit` at 250; tests lower it to see pagination
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1000))

    def add(self, name: str, **changes: Any) -> dict[str, Any]:
        """Serve a fixture (its target URLs pointing here); returns the stored JSON."""
        text = (FIXTURES / f"{name}.json").read_text().replace(TARGET_PLACEHOLDER, self.target)
        raw: dict[str, Any] = json.loads(text)
        raw.update(changes)
        self.workflows[raw["id"]] = raw
        return raw

    @property
    def target(self) -> str:
        return self.base_url + "/target"

    def reset(self) -> None:
        self.workflows.clear()
        self.behaviours.clear()
        self.executions.clear()
        self.failing_ids.clear()
        self.calls.clear()
        self.execution_delay = 0.0
        self.page_cap = 250
        self.token_lifetime = 3600


def _app(server: FakeN8n) -> Starlette:
    def unauthorized(request: Request) -> Response | None:
        if request.headers.get("x-n8n-api-key") != server.api_key:
            return JSONResponse({"message": "unauthorized"}, status_code=401)
        return None

    async def list_workflows(request: Request) -> Response:
        server.calls["list"] += 1
        if (denied := unauthorized(request)) is not None:
            return denied
        limit = min(int(request.query_params.get("limit", "100")), server.page_cap)
        cursor = request.query_params.get("cursor")
        offset = int(base64.b64decode(cursor).decode()) if cursor else 0
        ids = sorted(server.workflows)
        page = [copy.deepcopy(server.workflows[i]) for i in ids[offset : offset + limit]]
        more = offset + limit < len(ids)
        next_cursor = base64.b64encode(str(offset + limit).encode()).decode() if more else None
        return JSONResponse({"data": page, "nextCursor": next_cursor})

    async def get_workflow(request: Request) -> Response:
        workflow_id = request.path_params["workflow_id"]
        server.calls[f"get:{workflow_id}"] += 1
        if (denied := unauthorized(request)) is not None:
            return denied
        if workflow_id in server.failing_ids:
            return JSONResponse({"message": "Internal error"}, status_code=500)
        if workflow_id not in server.workflows:
            return JSONResponse({"message": "Not Found"}, status_code=404)
        return JSONResponse(copy.deepcopy(server.workflows[workflow_id]))

    async def webhook(request: Request) -> Response:
        path = request.path_params["path"]
        server.calls[f"webhook:{path}"] += 1
        for workflow in server.workflows.values():
            # like n8n 1.1xx: production webhooks run the published version of the workflow
            published = workflow.get("activeVersion") or {}
            for node in published.get("nodes") or workflow["nodes"]:
                params = node.get("parameters", {})
                if (
                    node["type"] == "n8n-nodes-base.webhook"
                    and params.get("path") == path
                    and workflow.get("active")
                    and request.method == params.get("httpMethod", "GET")
                ):
                    return await _run(server, workflow, node, request)
        message = f'The requested webhook "{request.method} {path}" is not registered.'
        return JSONResponse({"code": 404, "message": message}, status_code=404)

    async def list_executions(request: Request) -> Response:
        if (denied := unauthorized(request)) is not None:
            return denied
        wanted = request.query_params.get("workflowId")
        rows = [e for e in server.executions if wanted in (None, e["workflowId"])]
        summaries = [{k: v for k, v in _visible(e).items() if k != "data"} for e in rows]
        return JSONResponse({"data": list(reversed(summaries)), "nextCursor": None})

    async def get_execution(request: Request) -> Response:
        if (denied := unauthorized(request)) is not None:
            return denied
        for execution in server.executions:
            if execution["id"] == request.path_params["execution_id"]:
                shown = _visible(execution)
                if request.query_params.get("includeData") != "true":
                    shown.pop("data", None)
                return JSONResponse(shown)
        return JSONResponse({"message": "Not Found"}, status_code=404)

    return Starlette(
        routes=[
            Route("/api/v1/workflows", list_workflows),
            Route("/api/v1/workflows/{workflow_id}", get_workflow),
            Route("/api/v1/executions", list_executions),
            Route("/api/v1/executions/{execution_id}", get_execution),
            Route("/webhook/{path:path}", webhook, methods=["GET", "POST", "PUT", "DELETE"]),
            *_target_routes(server),
        ]
    )


def _visible(execution: dict[str, Any]) -> dict[str, Any]:
    """An execution as n8n shows it at this moment (running until its end time)."""
    shown = copy.deepcopy(execution)
    if time.monotonic() < shown.pop("_done_at"):
        shown.update(status="running", finished=False, stoppedAt=None)
        # n8n stores run data when the execution ends (it does not save progress by
        # default): a running execution does not show even its Webhook node's item yet.
        shown["data"]["resultData"] = {"runData": {}}
    return shown


def _echo_body(item: dict[str, Any]) -> Any:
    return item["body"]


async def _run(
    server: FakeN8n, workflow: dict[str, Any], node: dict[str, Any], request: Request
) -> Response:
    raw = await request.body()
    item = {
        "headers": dict(request.headers),
        "params": {},
        "query": dict(request.query_params),
        "body": json.loads(raw) if raw else {},
    }
    behaviour: Behaviour = server.behaviours.get(workflow["id"], _echo_body)
    try:
        result, error = behaviour(item), None
    except Exception as exc:  # the stand-in workflow failed, as an n8n node can
        result, error = None, str(exc)
    server.executions.append(_execution(server, workflow, node["name"], item, result, error))
    if node["parameters"].get("responseMode") == "lastNode":
        if error is not None:
            return JSONResponse({"code": 0, "message": error}, status_code=500)
        return JSONResponse(result)
    return JSONResponse({"message": "Workflow was started"})


def _execution(
    server: FakeN8n,
    workflow: dict[str, Any],
    webhook_node: str,
    item: dict[str, Any],
    result: Any,
    error: str | None,
) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    run_data: dict[str, Any] = {webhook_node: [{"data": {"main": [[{"json": item}]]}}]}
    result_data: dict[str, Any] = {"runData": run_data, "lastNodeExecuted": "Last"}
    if error is None:
        run_data["Last"] = [{"data": {"main": [[{"json": result}]]}}]
    else:
        result_data["error"] = {"message": error}
    return {
        "id": str(next(server._ids)),
        "finished": error is None,
        "mode": "webhook",
        "status": "success" if error is None else "error",
        "startedAt": now,
        "stoppedAt": now,
        "workflowId": workflow["id"],
        "data": {"resultData": result_data},
        "_done_at": time.monotonic() + server.execution_delay,
    }


def _target_routes(server: FakeN8n) -> list[Route]:
    async def user(request: Request) -> Response:
        uid = request.path_params["uid"]
        server.calls[f"target:user:{uid}"] += 1
        tier = "vip" if uid.startswith("v") else "basic"
        return JSONResponse({"id": uid, "tier": tier, "spend": 250})

    async def flaky(request: Request) -> Response:
        key = request.path_params["key"]
        server.calls[f"target:flaky:{key}"] += 1
        failures = int(request.query_params.get("fail", "2"))
        if server.calls[f"target:flaky:{key}"] <= failures:
            return JSONResponse({"error": "try again"}, status_code=503)
        return JSONResponse({"ok": True, "calls": server.calls[f"target:flaky:{key}"]})

    async def status(request: Request) -> Response:
        code = int(request.path_params["code"])
        return JSONResponse({"status": code}, status_code=code)

    async def token(request: Request) -> Response:
        server.calls["target:token"] += 1
        expected = "Basic " + base64.b64encode(b"client-1:s3cret").decode()
        if request.headers.get("authorization") != expected:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        form = await request.form()
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        number = server.calls["target:token"]
        return JSONResponse(
            {
                "access_token": f"token-{number}",
                "token_type": "Bearer",
                "expires_in": server.token_lifetime,
            }
        )

    async def echo(request: Request) -> Response:
        return JSONResponse({"headers": dict(request.headers), "query": dict(request.query_params)})

    return [
        Route("/target/oauth/token", token, methods=["POST"]),
        Route("/target/echo/{rest:path}", echo),
        Route("/target/users/{uid}", user),
        Route("/target/flaky/{key}", flaky, methods=["GET", "POST"]),
        Route("/target/status/{code:int}", status),
    ]


@contextmanager
def running_fake_n8n() -> Iterator[FakeN8n]:
    server = FakeN8n()
    config = uvicorn.Config(
        _app(server),
        host="127.0.0.1",
        port=0,
        lifespan="off",
        log_level="warning",
        access_log=False,
    )
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    eventually_sync(lambda: uv.started, timeout=10, interval=0.01, what="fake n8n's start")
    server.base_url = f"http://127.0.0.1:{uv.servers[0].sockets[0].getsockname()[1]}"
    try:
        yield server
    finally:
        uv.should_exit = True
        thread.join(timeout=5)
