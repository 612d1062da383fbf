"""The ``n8n`` step: run an n8n workflow through its production webhook, return its answer.

The step names either a ``webhook_url`` or an n8n ``workflow_id`` plus an ``integration``
(an ``n8n`` integration of the workflow's owner: base URL, API key, webhook auth). With a
workflow id, the activity reads the workflow from n8n's API to find its Webhook trigger.
When that webhook answers at once (n8n's "Respond: Immediately"), or when ``poll`` is
asked, the activity finds the execution it started in n8n's executions API (by a request
id header it sent) and waits for it; the output is the last node's first item.

    ApplicationError type   cause                                               retryable
    N8nNetworkError         DNS, connect, timeout                               yes
    N8nServerError          n8n answered 5xx                                    yes
    N8nClientError          n8n answered 4xx (404: webhook not registered)      no
    N8nNotRunnable          no Webhook trigger, workflow inactive, no such id   no
    N8nConfigError          unknown integration, missing API key                no
    N8nExecutionFailed      the n8n execution ended in error                    no
    N8nPollTimeout          the execution did not finish in time                yes

Why one module of this length: the webhook call and the polling of n8n's executions API are
two halves of one step's semantics (the poll finds the execution the call started).
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.secrets import SecretResolver, redacted_error
from core.encryption import Encryptor
from core.heartbeat import heartbeat
from core.integrations import N8nClient, N8nUnreachable, WorkflowIntegrations
from core.network_guard import BlockedAddressError
from temporal_workflows.expressions import redact_secrets
from temporal_workflows.run_types import N8nStepInput, StepOutcome

REQUEST_ID_HEADER: Final = "X-Headrace-Request-Id"
WEBHOOK_TYPE: Final = "n8n-nodes-base.webhook"
FINISHED: Final = frozenset({"success", "error", "crashed", "canceled"})
_SKEW = timedelta(seconds=5)  # clocks of Headrace and n8n need not agree to the second


@dataclass(frozen=True)
class N8nTarget:
    """An n8n instance and how to call it (credentials decrypted, in memory only)."""

    base_url: str
    api_key: str | None = None
    webhook_auth: Mapping[str, Any] = field(default_factory=dict)
    webhook_secret: str | None = None
    webhook_username: str | None = None
    webhook_password: str | None = None

    def __repr__(self) -> str:
        return f"N8nTarget(base_url={self.base_url!r})"


class IntegrationResolver(Protocol):
    async def n8n(self, workflow_id: str, name: str) -> N8nTarget:
        """The ``n8n`` integration ``name`` of the owner of Headrace workflow ``workflow_id``."""
        ...


class DbIntegrationResolver:
    """Resolves integrations from the database, decrypting their credentials."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], encryptor: Encryptor) -> None:
        self._integrations = WorkflowIntegrations(sessions, encryptor)

    async def n8n(self, workflow_id: str, name: str) -> N8nTarget:
        found = await self._integrations.find(workflow_id, name, "n8n")
        if found is None:
            raise _fail(
                f"no n8n integration named {name!r} for this workflow's owner", "N8nConfigError"
            )
        secrets = found.credentials
        return N8nTarget(
            base_url=str(found.config["base_url"]).rstrip("/"),
            api_key=secrets.get("api_key"),
            webhook_auth=found.config.get("webhook_auth") or {},
            webhook_secret=secrets.get("webhook_secret"),
            webhook_username=secrets.get("webhook_username"),
            webhook_password=secrets.get("webhook_password"),
        )


@dataclass(frozen=True)
class _Call:
    url: str
    method: str
    n8n_workflow_id: str | None
    webhook_node: str | None
    answers_at_once: bool


class N8nActivities:
    """The ``n8n`` step's activity, around one shared HTTP client."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        integrations: IntegrationResolver,
        secrets: SecretResolver | None = None,
    ) -> None:
        self._client = client
        self._integrations = integrations
        self._secrets = secrets or SecretResolver(None)

    @activity.defn(name="run_n8n_step")
    async def run_n8n_step(self, req: N8nStepInput) -> StepOutcome:
        """Run the n8n workflow once and return its result as the step output.

        The payload's secret references are resolved just before the call; their values are
        hidden from the output and from errors.
        """
        req.payload, hidden = await self._secrets.resolve(
            req.payload,
            key=req.secret_key,
            workflow_id=req.workflow_id,
            location=f"steps.{req.step_id}.with.payload",
        )
        try:
            output = await self.run(req)
        except ApplicationError as error:
            raise redacted_error(error, hidden) from None
        attempt = activity.info().attempt if activity.in_activity() else 1
        return StepOutcome(output=redact_secrets(output, hidden), attempt=attempt)

    async def run(self, req: N8nStepInput) -> Any:
        target = await self._target(req)
        call = await self._resolve(req, target)
        request_id = str(uuid.uuid4())
        started = datetime.now(UTC)
        answer = await self._call_webhook(call, target, req.payload, request_id)
        poll = req.poll if req.poll is not None else call.answers_at_once
        if not poll:
            return answer
        if call.n8n_workflow_id is None or target.api_key is None:
            raise _fail(
                "polling needs an integration with an API key and a workflow_id", "N8nConfigError"
            )
        return await self._await_execution(call, target, req, request_id, started)

    async def _target(self, req: N8nStepInput) -> N8nTarget:
        if req.integration:
            return await self._integrations.n8n(req.workflow_id, req.integration)
        if req.webhook_url is None:
            raise _fail(
                "a workflow_id needs an integration (base URL and API key)", "N8nConfigError"
            )
        return N8nTarget(base_url="")

    async def _resolve(self, req: N8nStepInput, target: N8nTarget) -> _Call:
        """The webhook to call: the given URL, or the workflow's Webhook trigger."""
        if req.webhook_url is not None:
            return _Call(req.webhook_url, req.method.upper(), req.n8n_workflow_id, None, False)
        assert req.n8n_workflow_id is not None
        workflow = await self._api(target, f"/api/v1/workflows/{req.n8n_workflow_id}")
        hooks = [
            n
            for n in _published_nodes(workflow)
            if n.get("type") == WEBHOOK_TYPE and not n.get("disabled")
        ]
        if not hooks:
            raise _fail(
                f"n8n workflow {req.n8n_workflow_id} has no Webhook trigger: n8n runs it on"
                " request only through one",
                "N8nNotRunnable",
            )
        if not workflow.get("active"):
            raise _fail(
                f"n8n workflow {req.n8n_workflow_id} is not active: its production webhook is off",
                "N8nNotRunnable",
            )
        hook = hooks[0]
        params = hook.get("parameters") or {}
        path = str(params.get("path") or hook.get("webhookId") or "").strip("/")
        if ":" in path:
            path = f"{hook.get('webhookId')}/{path}"
        return _Call(
            url=f"{target.base_url}/webhook/{path}",
            method=str(params.get("httpMethod") or "GET").upper(),
            n8n_workflow_id=req.n8n_workflow_id,
            webhook_node=str(hook.get("name")),
            answers_at_once=params.get("responseMode", "onReceived") == "onReceived",
        )

    async def _call_webhook(
        self, call: _Call, target: N8nTarget, payload: Any, request_id: str
    ) -> Any:
        headers = {REQUEST_ID_HEADER: request_id, **_webhook_auth(target)}
        as_query = call.method in ("GET", "HEAD", "DELETE")
        try:
            response = await self._client.request(
                call.method,
                call.url,
                headers=headers,
                params=_query(payload) if as_query else None,
                json=None if as_query else (payload if payload is not None else {}),
            )
        except (httpx.HTTPError, BlockedAddressError) as exc:
            raise _network_error(call.url, exc) from exc
        _check_status(response, f"{call.method} {_safe(call.url)}")
        return _body(response)

    async def _await_execution(
        self, call: _Call, target: N8nTarget, req: N8nStepInput, request_id: str, started: datetime
    ) -> Any:
        """Find the execution our webhook call started and wait until it ends."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + req.poll_timeout_seconds
        execution_id: str | None = None
        seen: set[str] = set()
        while loop.time() < deadline:
            heartbeat(execution_id)
            if execution_id is None:
                execution_id = await self._find_execution(call, target, request_id, started, seen)
            if execution_id is not None:
                execution = await self._api(
                    target, f"/api/v1/executions/{execution_id}", {"includeData": "true"}
                )
                if execution.get("status") in FINISHED or execution.get("finished"):
                    return _execution_result(execution)
            await asyncio.sleep(req.poll_interval_seconds)
        raise ApplicationError(
            f"n8n execution of workflow {call.n8n_workflow_id} did not finish in"
            f" {req.poll_timeout_seconds:g}s",
            type="N8nPollTimeout",
        )

    async def _find_execution(
        self, call: _Call, target: N8nTarget, request_id: str, started: datetime, seen: set[str]
    ) -> str | None:
        listing = await self._api(
            target,
            "/api/v1/executions",
            {"workflowId": call.n8n_workflow_id or "", "limit": "20"},
        )
        for summary in listing.get("data", []):
            key = str(summary.get("id"))
            if key in seen or _started(summary) < started - _SKEW:
                continue
            detail = await self._api(target, f"/api/v1/executions/{key}", {"includeData": "true"})
            found = _request_id_of(detail, call.webhook_node)
            if found == request_id:
                return key
            # A real n8n lists a running execution before it stores the Webhook node's
            # data: only a request id that differs (or a finished run) rules it out.
            if found is not None or detail.get("status") in FINISHED or detail.get("finished"):
                seen.add(key)
        return None

    async def _api(
        self, target: N8nTarget, path: str, params: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        if not target.api_key:
            raise _fail("the n8n integration has no API key", "N8nConfigError")
        url = target.base_url + path
        try:
            response = await N8nClient(self._client, target.base_url, target.api_key).get(
                path, params
            )
        except N8nUnreachable as exc:
            cause = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
            raise _network_error(url, cause) from cause
        if response.status_code == 404:
            raise _fail(f"n8n has nothing at {path}", "N8nNotRunnable")
        _check_status(response, f"GET {_safe(url)}")
        body = _body(response)
        if not isinstance(body, dict):
            raise _fail(
                f"n8n answered {path} with something that is not an object", "N8nClientError"
            )
        return body


def _published_nodes(workflow: Mapping[str, Any]) -> list[Any]:
    """The nodes n8n runs: an active workflow's published version (n8n 1.1xx keeps the
    editor's unpublished draft in ``nodes``), else the saved ones."""
    published = workflow.get("activeVersion")
    if workflow.get("active") and isinstance(published, Mapping):
        nodes = published.get("nodes")
        if isinstance(nodes, list):
            return nodes
    nodes = workflow.get("nodes")
    return nodes if isinstance(nodes, list) else []


def _webhook_auth(target: N8nTarget) -> dict[str, str]:
    kind = target.webhook_auth.get("type", "none")
    if kind == "header" and target.webhook_secret:
        return {str(target.webhook_auth.get("header") or "Authorization"): target.webhook_secret}
    if kind == "basic" and target.webhook_username and target.webhook_password:
        pair = f"{target.webhook_username}:{target.webhook_password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
    return {}


def _query(payload: Any) -> dict[str, str] | None:
    if not isinstance(payload, Mapping):
        return None
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in payload.items()}


def _check_status(response: httpx.Response, target: str) -> None:
    status = response.status_code
    if status < 400:
        return
    excerpt = response.text[:500]
    if status >= 500 or status in (408, 429):
        raise ApplicationError(
            f"{target} returned {status}",
            {"status": status, "body": excerpt},
            type="N8nServerError",
        )
    hint = " (is the workflow active, and the webhook path right?)" if status == 404 else ""
    raise ApplicationError(
        f"{target} returned {status}{hint}",
        {"status": status, "body": excerpt},
        type="N8nClientError",
        non_retryable=True,
    )


def _body(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


def _execution_result(execution: Mapping[str, Any]) -> Any:
    """The first item of the last node that ran, or the execution's error."""
    result = ((execution.get("data") or {}).get("resultData")) or {}
    if execution.get("status") in ("error", "crashed", "canceled") or result.get("error"):
        message = (result.get("error") or {}).get("message") or execution.get("status")
        raise _fail(
            f"the n8n execution {execution.get('id')} failed: {message}", "N8nExecutionFailed"
        )
    last = result.get("lastNodeExecuted")
    runs = (result.get("runData") or {}).get(last) or [{}]
    items = ((runs[-1].get("data") or {}).get("main") or [[]])[0] or []
    return items[0].get("json") if items else None


def _request_id_of(execution: Mapping[str, Any], webhook_node: str | None) -> str | None:
    run_data = (((execution.get("data") or {}).get("resultData")) or {}).get("runData") or {}
    runs = run_data.get(webhook_node) or [{}]
    items = ((runs[0].get("data") or {}).get("main") or [[]])[0] or [{}]
    headers = (items[0].get("json") or {}).get("headers") or {}
    value = headers.get(REQUEST_ID_HEADER.lower())
    return str(value) if value is not None else None


def _started(summary: Mapping[str, Any]) -> datetime:
    try:
        return datetime.fromisoformat(str(summary.get("startedAt")).replace("Z", "+00:00"))
    except ValueError:
        return datetime.max.replace(tzinfo=UTC)  # unknown start: do not rule it out


def _safe(url: str) -> str:
    try:
        return str(httpx.URL(url).copy_with(query=None, fragment=None, userinfo=b""))
    except (httpx.InvalidURL, TypeError, ValueError):
        return "<invalid URL>"


def _network_error(url: str, exc: Exception) -> ApplicationError:
    if isinstance(exc, BlockedAddressError):
        return _fail(f"{_safe(url)} refused: {exc}", "N8nClientError")
    return ApplicationError(f"{_safe(url)} failed: {type(exc).__name__}", type="N8nNetworkError")


def _fail(message: str, error_type: str) -> ApplicationError:
    return ApplicationError(message, type=error_type, non_retryable=True)
