"""Authorization: who may operate a run, API key scopes, stream re-checks, tokens, headers.

Each class is one hole found by an attacker (issue 13) and the rule that closes it; the
rules themselves are in docs/security-authorization.md.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from temporalio.testing import WorkflowEnvironment
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from api.app import create_app
from core.settings import Settings
from db.models import ApiKey
from tests.api.test_streams import serving
from tests.conftest import PASSWORD, UserFactory, login, make_settings
from tests.support.runner import Runner, steps_by_id
from tests.support.target_server import TargetServer

PROBLEM_JSON = "application/problem+json"


def _parked_http(target: TargetServer) -> dict[str, Any]:
    return {
        "id": "call",
        "type": "http",
        "on_error": "park",
        "retry": {"max_attempts": 1},
        "with": {"url": target.url(f"/flaky/authz-{uuid.uuid4().hex[:8]}?fail=100")},
    }


def _operable_definition(
    target: TargetServer, approvers: list[str] | None = None
) -> dict[str, Any]:
    """A run that waits in three ways at once: an event, an approval and a parked step."""
    approval: dict[str, Any] = {"message": "ok?"}
    if approvers is not None:
        approval["approvers"] = approvers
    return {
        "steps": [
            {"id": "gate", "type": "wait_for_event", "with": {"event": "go"}},
            {"id": "ok", "type": "approval", "with": approval},
            _parked_http(target),
        ]
    }


def _waiting_everywhere(execution: dict[str, Any]) -> bool:
    steps = steps_by_id(execution)
    return execution["status"] == "waiting" and all(
        steps[s]["status"] == "waiting" for s in ("gate", "ok", "call")
    )


async def _email(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    return str((await client.get("/api/v1/auth/me", headers=headers)).json()["email"])


async def _user_id(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    return str((await client.get("/api/v1/auth/me", headers=headers)).json()["id"])


async def _event_types(runner: Runner, execution_id: str) -> list[str]:
    response = await runner.client.get(
        f"/api/v1/executions/{execution_id}/logs?limit=1000", headers=runner.headers
    )
    return [e["type"] for e in response.json()["data"]]


def _operate_calls(execution_id: str) -> dict[str, tuple[str, Any]]:
    base = f"/api/v1/executions/{execution_id}"
    return {
        "cancel": (f"{base}/cancel", None),
        "pause": (f"{base}/pause", None),
        "resume": (f"{base}/resume", None),
        "signal": (f"{base}/signal", {"name": "go", "payload": {"forged": True}}),
        "approve": (f"{base}/approve", {"comment": "lgtm"}),
        "reject": (f"{base}/reject", {"comment": "no"}),
        "retry": (f"{base}/retry", {}),
        "skip with output": (
            f"{base}/steps/call/resolve",
            {"action": "skip", "output": {"forged": True}},
        ),
        "retry with a patch": (
            f"{base}/steps/call/resolve",
            {"action": "retry", "with": {"url": "http://127.0.0.1:9/exfiltrate"}},
        ),
        "abort": (f"{base}/steps/call/resolve", {"action": "abort"}),
    }


@pytest.fixture
async def authz_shared_run(
    runner: Runner, target: TargetServer, admin_headers: dict[str, str]
) -> AsyncIterator[tuple[str, str]]:
    """The owner (a developer) starts a run of a shared workflow; it waits everywhere."""
    workflow_id = await runner.create(_operable_definition(target), shared=True)
    started = await runner.execute(workflow_id, None, async_mode=True)
    assert started.status_code == 202, started.text
    execution_id = str(started.json()["execution_id"])
    await runner.wait_until(execution_id, _waiting_everywhere)
    yield workflow_id, execution_id
    await runner.client.post(f"/api/v1/executions/{execution_id}/cancel", headers=admin_headers)


class TestOperatePermission:
    """A run may be operated by its starter, the workflow's owner and admins; others who can
    see it (a `user` or a developer on a shared workflow) may only read it."""

    @pytest.mark.parametrize("role", ["user", "developer"])
    async def test_someone_elses_run_cannot_be_operated(
        self,
        runner: Runner,
        make_user: UserFactory,
        authz_shared_run: tuple[str, str],
        role: str,
    ) -> None:
        _, execution_id = authz_shared_run
        intruder = await make_user(role)
        seen = await runner.client.get(f"/api/v1/executions/{execution_id}", headers=intruder)
        assert seen.status_code == 200, "a shared run stays visible"
        for action, (path, body) in _operate_calls(execution_id).items():
            response = await runner.client.post(path, json=body, headers=intruder)
            assert response.status_code == 403, (action, response.text)
            assert response.headers["content-type"] == PROBLEM_JSON
            assert response.json()["status"] == 403
        execution = await runner.execution(execution_id)
        assert _waiting_everywhere(execution), execution
        types = await _event_types(runner, execution_id)
        assert not {"execution.paused", "step.resolved", "execution.cancelled"} & set(types)
        retries = await runner.client.get(
            "/api/v1/executions",
            params={"workflow_id": execution["workflow_id"]},
            headers=runner.headers,
        )
        assert retries.json()["count"] == 1, "no retry run was started"

    async def test_a_user_starts_and_operates_its_own_run_of_a_shared_workflow(
        self,
        runner: Runner,
        make_user: UserFactory,
        authz_shared_run: tuple[str, str],
    ) -> None:
        workflow_id, _ = authz_shared_run
        user = Runner(runner.client, await make_user("user"))
        started = await user.execute(workflow_id, None, async_mode=True)
        assert started.status_code == 202, started.text
        own = str(started.json()["execution_id"])
        await user.wait_until(own, _waiting_everywhere)
        signalled = await user.post(f"/api/v1/executions/{own}/signal", {"name": "go"})
        assert signalled.status_code == 202, signalled.text
        approved = await user.post(f"/api/v1/executions/{own}/approve", {})
        assert approved.status_code == 202, approved.text
        skipped = await user.post(
            f"/api/v1/executions/{own}/steps/call/resolve", {"action": "skip", "output": 1}
        )
        assert skipped.status_code == 202, skipped.text
        done = await user.wait_until(own, lambda e: e["status"] == "completed")
        assert steps_by_id(done)["call"]["output"] == 1
        # and the owner may operate the user's run of the owner's workflow
        again = await user.execute(workflow_id, None, async_mode=True)
        other = str(again.json()["execution_id"])
        await user.wait_until(other, _waiting_everywhere)
        cancelled = await runner.post(f"/api/v1/executions/{other}/cancel")
        assert cancelled.status_code == 202, cancelled.text

    async def test_listed_approvers_may_decide_without_operating(
        self,
        runner: Runner,
        make_user: UserFactory,
        target: TargetServer,
        admin_headers: dict[str, str],
    ) -> None:
        approver = await make_user("user")
        definition = _operable_definition(target, approvers=[await _email(runner.client, approver)])
        workflow_id = await runner.create(definition, shared=True)
        started = await runner.execute(workflow_id, None, async_mode=True)
        execution_id = str(started.json()["execution_id"])
        await runner.wait_until(execution_id, _waiting_everywhere)
        base = f"/api/v1/executions/{execution_id}"
        stranger = await make_user("user")
        refused = await runner.client.post(f"{base}/approve", json={}, headers=stranger)
        assert refused.status_code == 403
        approved = await runner.client.post(f"{base}/approve", json={}, headers=approver)
        assert approved.status_code == 202, approved.text
        assert (await runner.client.post(f"{base}/cancel", headers=approver)).status_code == 403
        cancelled = await runner.client.post(f"{base}/cancel", headers=admin_headers)
        assert cancelled.status_code == 202


class TestVariablesOverride:
    """Only who may edit the workflow (its owner developer, an admin) may override `variables`
    when running it; webhooks and schedules never take variables from the caller."""

    async def test_a_user_may_not_override_variables_of_a_shared_workflow(
        self, runner: Runner, make_user: UserFactory, admin_headers: dict[str, str]
    ) -> None:
        definition = {"steps": [{"id": "v", "type": "transform", "with": {"to": "{{ vars.to }}"}}]}
        workflow_id = await runner.create(definition, shared=True, variables={"to": "ops"})
        for role in ("user", "developer"):
            other = Runner(runner.client, await make_user(role))
            refused = await other.execute(workflow_id, None, variables={"to": "attacker"})
            assert refused.status_code == 403, refused.text
            assert "variables" in refused.json()["detail"]
            plain = await other.execute(workflow_id)
            assert plain.status_code == 200, plain.text
            assert plain.json()["status"] == "completed"
        own = await runner.execute(workflow_id, None, variables={"to": "me"})
        assert own.status_code == 200, own.text
        execution = await runner.execution(own.json()["execution_id"])
        assert steps_by_id(execution)["v"]["output"] == {"to": "me"}
        admin = await runner.client.post(
            f"/api/v1/workflows/{workflow_id}/execute",
            json={"variables": {"to": "admin"}},
            headers=admin_headers,
        )
        assert admin.status_code == 200, admin.text


class TestResolvePatch:
    """A `with` patch of a parked step is checked like a saved definition, may not read
    secrets, and may only be sent by someone who may edit the workflow."""

    @pytest.fixture
    async def authz_parked(
        self, runner: Runner, target: TargetServer, admin_headers: dict[str, str]
    ) -> AsyncIterator[tuple[str, str]]:
        workflow_id = await runner.create({"steps": [_parked_http(target)]}, shared=True)
        started = await runner.execute(workflow_id, None, async_mode=True)
        execution_id = str(started.json()["execution_id"])
        await runner.wait_until(execution_id, lambda e: e["status"] == "waiting")
        yield workflow_id, execution_id
        await runner.client.post(f"/api/v1/executions/{execution_id}/cancel", headers=admin_headers)

    async def test_a_patch_reading_a_secret_is_422(
        self, runner: Runner, authz_parked: tuple[str, str]
    ) -> None:
        _, execution_id = authz_parked
        response = await runner.post(
            f"/api/v1/executions/{execution_id}/steps/call/resolve",
            {
                "action": "retry",
                "with": {"url": "http://127.0.0.1:9/x", "headers": {"X": "{{ secrets.TOKEN }}"}},
            },
        )
        assert response.status_code == 422, response.text
        error = response.json()["errors"][0]
        assert error["pointer"] == "/with/headers/X"
        assert error["code"] == "secret_not_allowed"
        assert (await runner.execution(execution_id))["status"] == "waiting"

    async def test_a_patch_with_an_unknown_field_is_422(
        self, runner: Runner, authz_parked: tuple[str, str]
    ) -> None:
        _, execution_id = authz_parked
        response = await runner.post(
            f"/api/v1/executions/{execution_id}/steps/call/resolve",
            {"action": "retry", "with": {"urll": "http://127.0.0.1:9/x"}},
        )
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["pointer"] == "/with/urll"
        bad_type = await runner.post(
            f"/api/v1/executions/{execution_id}/steps/call/resolve",
            {"action": "retry", "with": {"method": "STEAL"}},
        )
        assert bad_type.status_code == 422, bad_type.text
        assert bad_type.json()["errors"][0]["pointer"] == "/with/method"

    async def test_a_starter_who_may_not_edit_cannot_patch(
        self, runner: Runner, make_user: UserFactory, target: TargetServer
    ) -> None:
        workflow_id = await runner.create({"steps": [_parked_http(target)]}, shared=True)
        user = Runner(runner.client, await make_user("user"))
        started = await user.execute(workflow_id, None, async_mode=True)
        execution_id = str(started.json()["execution_id"])
        await user.wait_until(execution_id, lambda e: e["status"] == "waiting")
        path = f"/api/v1/executions/{execution_id}/steps/call/resolve"
        patched = await user.post(path, {"action": "retry", "with": {"url": target.url("/echo")}})
        assert patched.status_code == 403, patched.text
        aborted = await user.post(path, {"action": "abort"})
        assert aborted.status_code == 202, aborted.text


async def _api_key(
    client: httpx.AsyncClient, headers: dict[str, str], permissions: list[str] | None
) -> dict[str, str]:
    body: dict[str, Any] = {"name": "k"}
    if permissions is not None:
        body["permissions"] = permissions
    response = await client.post("/api/v1/api-keys", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return {"X-API-Key": response.json()["key"]}


class TestApiKeyScopes:
    """`read` (GET), `write` (change workflows, triggers, webhooks, secrets, integrations,
    keys), `execute` (start and operate runs), `admin` (users; the role is needed too)."""

    DEFINITION = {"steps": [{"id": "a", "type": "transform", "with": {"v": 1}}]}

    async def test_a_read_key_reads_but_cannot_write_or_execute(self, runner: Runner) -> None:
        key = await _api_key(runner.client, runner.headers, ["read"])
        workflow_id = await runner.create(self.DEFINITION)
        listed = await runner.client.get("/api/v1/workflows", headers=key)
        assert listed.status_code == 200
        created = await runner.client.post(
            "/api/v1/workflows", json={"name": "x", "definition": self.DEFINITION}, headers=key
        )
        assert created.status_code == 403, created.text
        assert created.headers["content-type"] == PROBLEM_JSON
        assert "'write'" in created.json()["detail"]
        executed = await runner.client.post(
            f"/api/v1/workflows/{workflow_id}/execute", json={}, headers=key
        )
        assert executed.status_code == 403, executed.text
        assert "'execute'" in executed.json()["detail"]
        other_key = await runner.client.post("/api/v1/api-keys", json={"name": "k"}, headers=key)
        assert other_key.status_code == 403, "a read key cannot mint a stronger one"

    async def test_an_execute_key_runs_but_cannot_change_the_workflow(self, runner: Runner) -> None:
        key = await _api_key(runner.client, runner.headers, ["read", "execute"])
        workflow_id = await runner.create(self.DEFINITION)
        executed = await runner.client.post(
            f"/api/v1/workflows/{workflow_id}/execute", json={}, headers=key
        )
        assert executed.status_code == 200, executed.text
        patched = await runner.client.patch(
            f"/api/v1/workflows/{workflow_id}", json={"description": "x"}, headers=key
        )
        assert patched.status_code == 403

    async def test_a_key_without_permissions_gets_its_roles_scopes(self, runner: Runner) -> None:
        response = await runner.client.post(
            "/api/v1/api-keys", json={"name": "default"}, headers=runner.headers
        )
        assert sorted(response.json()["permissions"]) == ["execute", "read", "write"]
        key = {"X-API-Key": response.json()["key"]}
        created = await runner.client.post(
            "/api/v1/workflows", json={"name": "x", "definition": self.DEFINITION}, headers=key
        )
        assert created.status_code == 201, created.text

    async def test_a_stored_empty_list_is_read_only(self, runner: Runner, app: FastAPI) -> None:
        response = await runner.client.post(
            "/api/v1/api-keys", json={"name": "legacy"}, headers=runner.headers
        )
        async with app.state.ctx.sessions() as session:
            record = await session.get(ApiKey, uuid.UUID(response.json()["id"]))
            record.permissions = []
            await session.commit()
        key = {"X-API-Key": response.json()["key"]}
        assert (await runner.client.get("/api/v1/workflows", headers=key)).status_code == 200
        created = await runner.client.post(
            "/api/v1/workflows", json={"name": "x", "definition": self.DEFINITION}, headers=key
        )
        assert created.status_code == 403

    async def test_admin_routes_need_the_admin_scope_and_role(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str], runner: Runner
    ) -> None:
        read_only = await _api_key(client, admin_headers, ["read"])
        refused = await client.get("/api/v1/users", headers=read_only)
        assert refused.status_code == 403 and "'admin'" in refused.json()["detail"]
        full = await _api_key(client, admin_headers, ["read", "admin"])
        assert (await client.get("/api/v1/users", headers=full)).status_code == 200
        asked = await client.post(
            "/api/v1/api-keys", json={"name": "k", "permissions": ["admin"]}, headers=runner.headers
        )
        assert asked.status_code == 422, "a developer cannot hold the admin scope"
        assert asked.json()["errors"][0]["pointer"] == "/permissions/0"

    async def test_unknown_scopes_are_422_with_a_pointer(self, runner: Runner) -> None:
        response = await runner.client.post(
            "/api/v1/api-keys",
            json={"name": "k", "permissions": ["read", "launch"]},
            headers=runner.headers,
        )
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["pointer"] == "/permissions/1"

    def test_every_api_route_declares_a_scope(self, tmp_path: Path) -> None:
        app = create_app(make_settings("sqlite+aiosqlite:///:memory:", tmp_path))
        # The signed artifact link carries its own credential (an HMAC), not a user's.
        exempt = {"/api/v1/artifacts/download"}
        missing = [
            f"{sorted(route.methods or ())} {route.path}"
            for route in app.routes
            if isinstance(route, APIRoute)
            and route.path.startswith("/api/v1/")
            and not route.path.startswith("/api/v1/auth/")
            and route.path not in exempt
            and not _declares_scope(route.dependant)
        ]
        assert missing == []


def _declares_scope(dependant: Dependant) -> bool:
    from api.deps import ScopedDependency

    return isinstance(dependant.call, ScopedDependency) or any(
        _declares_scope(d) for d in dependant.dependencies
    )


class TestQueryTokens:
    """`?access_token=` is for clients that cannot set headers: the event streams only."""

    async def test_a_query_token_elsewhere_is_401(
        self, client: httpx.AsyncClient, runner: Runner
    ) -> None:
        token = runner.headers["Authorization"].removeprefix("Bearer ")
        response = await client.get("/api/v1/workflows", params={"access_token": token})
        assert response.status_code == 401, response.text
        assert response.headers["content-type"] == PROBLEM_JSON
        both = await client.get(
            "/api/v1/workflows", params={"access_token": token}, headers=runner.headers
        )
        assert both.status_code == 401

    async def test_the_event_stream_takes_a_query_token(self, runner: Runner) -> None:
        execution = await runner.run({"steps": [{"id": "a", "type": "transform", "with": {}}]})
        token = runner.headers["Authorization"].removeprefix("Bearer ")
        response = await runner.client.get(
            f"/api/v1/executions/{execution['id']}/events", params={"access_token": token}
        )
        assert response.status_code == 200
        assert "execution.completed" in response.text


@pytest.fixture
async def authz_served(settings: Settings, temporal_env: WorkflowEnvironment) -> AsyncIterator[str]:
    """A real server whose streams re-check access every 0.2 s (same queue as the worker)."""
    fast = settings.model_copy(update={"stream_auth_recheck": 0.2})
    application = create_app(fast, temporal_client=temporal_env.client)
    async with application.router.lifespan_context(application), serving(application) as url:
        yield url


class TestStreamsRecheckAccess:
    """A stream ends when its caller loses access: a WebSocket closes with 1008, an SSE
    stream sends an `error` event and ends."""

    async def _waiting_run(self, http: httpx.AsyncClient, developer: dict[str, str]) -> str:
        runner = Runner(http, developer)
        return await runner.start(
            {"steps": [{"id": "gate", "type": "wait_for_event", "with": {"event": "go"}}]}
        )

    async def _disable(
        self, http: httpx.AsyncClient, admin: dict[str, str], developer: dict[str, str]
    ) -> None:
        user_id = await _user_id(http, developer)
        response = await http.patch(
            f"/api/v1/users/{user_id}", json={"disabled": True}, headers=admin
        )
        assert response.status_code == 200, response.text

    async def test_a_disabled_users_websocket_is_closed(self, authz_served: str) -> None:
        async with httpx.AsyncClient(base_url=authz_served, timeout=30) as http:
            admin = await _login(http, "admin@example.com")
            developer = await _new_user(http, admin, "developer")
            execution_id = await self._waiting_run(http, developer)
            token = developer["Authorization"].removeprefix("Bearer ")
            url = authz_served.replace("http://", "ws://")
            url += f"/api/v1/ws/executions/{execution_id}?access_token={token}"
            async with asyncio.timeout(20), ws_connect(url, open_timeout=10) as socket:
                first = json.loads(await socket.recv())
                assert first["type"] == "execution.started"
                await self._disable(http, admin, developer)
                with pytest.raises(ConnectionClosed):
                    while True:
                        await socket.recv()
                assert socket.close_code == 1008
            await http.post(f"/api/v1/executions/{execution_id}/cancel", headers=admin)

    async def test_a_disabled_users_event_stream_ends(self, authz_served: str) -> None:
        async with httpx.AsyncClient(base_url=authz_served, timeout=30) as http:
            admin = await _login(http, "admin@example.com")
            developer = await _new_user(http, admin, "developer")
            execution_id = await self._waiting_run(http, developer)
            path = f"/api/v1/executions/{execution_id}/events"
            events: list[str] = []
            async with asyncio.timeout(20), http.stream("GET", path, headers=developer) as response:
                assert response.status_code == 200
                async for line in response.aiter_lines():
                    if line.startswith("event:"):
                        events.append(line.removeprefix("event:").strip())
                        if events == ["execution.started"]:
                            await self._disable(http, admin, developer)
            assert events[-1] == "error"
            await http.post(f"/api/v1/executions/{execution_id}/cancel", headers=admin)


async def _login(http: httpx.AsyncClient, email: str) -> dict[str, str]:
    return await login(http, email)


async def _new_user(http: httpx.AsyncClient, admin: dict[str, str], role: str) -> dict[str, str]:
    """What the ``make_user`` fixture does, against a served app rather than the ASGI one."""
    email = f"{role}-{uuid.uuid4().hex[:10]}@example.com"
    response = await http.post(
        "/api/v1/users",
        json={"email": email, "password": PASSWORD, "role": role, "name": role},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    return await login(http, email)


class TestSecurityHeaders:
    """Every response carries the browser hardening headers; HSTS only over TLS."""

    async def test_api_and_dashboard_responses_carry_them(self, client: httpx.AsyncClient) -> None:
        for path in ("/api/v1/workflows", "/", "/healthz"):
            response = await client.get(path)
            headers = response.headers
            assert headers["x-content-type-options"] == "nosniff", path
            assert headers["x-frame-options"] == "DENY", path
            assert headers["referrer-policy"] == "no-referrer", path
            assert "frame-ancestors 'none'" in headers["content-security-policy"], path
            assert "default-src 'self'" in headers["content-security-policy"], path
            assert "strict-transport-security" not in headers, path

    async def test_hsts_only_over_https(self, app: FastAPI) -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as tls:
            response = await tls.get("/healthz")
        assert response.headers["strict-transport-security"].startswith("max-age=")

    async def test_the_api_docs_may_load_swagger_from_its_cdn(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/docs")
        assert response.status_code == 200
        policy = response.headers["content-security-policy"]
        assert "https://cdn.jsdelivr.net" in policy
        assert "frame-ancestors 'none'" in policy
