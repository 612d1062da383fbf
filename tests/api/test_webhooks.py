"""Webhooks: the resource, receiving calls, idempotency, wait mode and rate limits."""

from __future__ import annotations

import asyncio
import base64
import uuid
from typing import Any

import httpx
import pytest

from api.rate_limit import MemoryLimiter, RedisLimiter, build_limiter
from tests.conftest import UserFactory
from tests.services import redis_or_skip
from tests.support.polling import eventually

ECHO = {
    "steps": [{"id": "echo", "type": "transform", "with": {"seen": "{{ input }}"}}],
    "output": "{{ steps.echo.output.seen }}",
}


class Hooks:
    """A developer's workflows and webhooks, driven through the public API."""

    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers

    async def workflow(self, definition: dict[str, Any] = ECHO, **fields: Any) -> str:
        body = {"name": "hooked", "definition": definition, **fields}
        response = await self.client.post("/api/v1/workflows", json=body, headers=self.headers)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def webhook(self, workflow_id: str | None = None, **fields: Any) -> dict[str, Any]:
        workflow_id = workflow_id or await self.workflow()
        fields.setdefault("authentication", {"type": "none"})  # a webhook's auth is explicit
        response = await self.client.post(
            "/api/v1/webhooks", json={"workflow_id": workflow_id, **fields}, headers=self.headers
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def executions(self, workflow_id: str) -> list[dict[str, Any]]:
        response = await self.client.get(
            "/api/v1/executions", params={"workflow_id": workflow_id}, headers=self.headers
        )
        assert response.status_code == 200, response.text
        return list(response.json()["data"])

    async def execution(self, execution_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/api/v1/executions/{execution_id}", headers=self.headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def finished(self, execution_id: str, timeout: float = 20) -> dict[str, Any]:
        return await eventually(
            lambda: self.execution(execution_id),
            lambda execution: execution["status"] in ("completed", "failed", "cancelled"),
            timeout=timeout,
            what=f"the end of execution {execution_id}",
        )


@pytest.fixture
async def hooks(client: httpx.AsyncClient, make_user: UserFactory) -> Hooks:
    return Hooks(client, await make_user("developer"))


def malformed_multipart(case: str) -> tuple[bytes, str]:
    """A broken ``multipart/form-data`` body (and its content type), from a valid one."""
    valid = httpx.Request("POST", "http://x", data={"a": "1"}, files={"f": ("f.txt", b"data")})
    body, content_type = valid.read(), valid.headers["content-type"]
    boundary = content_type.split("boundary=", 1)[1].encode()
    return {
        "truncated": (body[: len(body) // 2], content_type),
        "garbage": (b"not multipart at all", content_type),
        "no_boundary": (body, "multipart/form-data"),
        "bad_part_header": (b"--" + boundary + b"\r\nno colon here\r\n\r\nx\r\n", content_type),
        "unnamed_part": (
            body.replace(b'form-data; name="a"', b"form-data"),
            content_type,
        ),
    }[case]


def unique_path() -> str:
    return f"t/{uuid.uuid4().hex[:12]}"


class TestWebhookResource:
    async def test_create_returns_url_and_a_generated_secret_once(self, hooks: Hooks) -> None:
        created = await hooks.webhook(authentication={"type": "hmac"}, event_type="push")
        assert created["url"].endswith(f"/hooks/{created['url_path']}")
        assert created["secret"].startswith("whsec_")
        assert created["authentication"]["type"] == "hmac"
        again = await hooks.client.get(f"/api/v1/webhooks/{created['id']}", headers=hooks.headers)
        assert again.status_code == 200
        assert again.json()["secret"] is None
        assert created["secret"] not in again.text

    async def test_a_given_secret_is_not_echoed(self, hooks: Hooks) -> None:
        created = await hooks.webhook(authentication={"type": "header", "secret": "s" * 20})
        assert created["secret"] is None
        assert created["authentication"]["header"] == "X-Headrace-Token"

    async def test_url_path_clash_is_409(self, hooks: Hooks) -> None:
        path = unique_path()
        await hooks.webhook(url_path=path)
        response = await hooks.client.post(
            "/api/v1/webhooks",
            json={
                "workflow_id": await hooks.workflow(),
                "url_path": path,
                "authentication": {"type": "none"},
            },
            headers=hooks.headers,
        )
        assert response.status_code == 409
        assert response.headers["content-type"] == "application/problem+json"

    async def test_list_patch_and_delete(self, hooks: Hooks) -> None:
        workflow_id = await hooks.workflow()
        created = await hooks.webhook(workflow_id, url_path=unique_path())
        listed = await hooks.client.get(
            "/api/v1/webhooks", params={"workflow_id": workflow_id}, headers=hooks.headers
        )
        assert [w["id"] for w in listed.json()["data"]] == [created["id"]]
        patched = await hooks.client.patch(
            f"/api/v1/webhooks/{created['id']}",
            json={"method": "PUT", "is_active": False},
            headers=hooks.headers,
        )
        assert patched.status_code == 200, patched.text
        assert (patched.json()["method"], patched.json()["is_active"]) == ("PUT", False)
        workflow = await hooks.client.get(f"/api/v1/workflows/{workflow_id}", headers=hooks.headers)
        assert workflow.json()["triggers"][0]["method"] == "PUT"
        deleted = await hooks.client.delete(
            f"/api/v1/webhooks/{created['id']}", headers=hooks.headers
        )
        assert deleted.status_code == 204
        gone = await hooks.client.get(f"/api/v1/webhooks/{created['id']}", headers=hooks.headers)
        assert gone.status_code == 404
        workflow = await hooks.client.get(f"/api/v1/workflows/{workflow_id}", headers=hooks.headers)
        assert workflow.json()["triggers"] == []

    async def test_other_users_do_not_see_it(self, hooks: Hooks, make_user: UserFactory) -> None:
        created = await hooks.webhook()
        stranger = await make_user("developer")
        response = await hooks.client.get(f"/api/v1/webhooks/{created['id']}", headers=stranger)
        assert response.status_code == 404

    async def test_webhook_triggers_in_the_workflow_create_webhooks(self, hooks: Hooks) -> None:
        path = unique_path()
        trigger = {"type": "webhook", "url_path": path, "authentication": {"type": "none"}}
        workflow_id = await hooks.workflow(triggers=[trigger])
        response = await hooks.client.post(f"/hooks/{path}", json={"a": 1})
        assert response.status_code == 202, response.text
        execution = await hooks.finished(response.json()["execution_id"])
        assert execution["workflow_id"] == workflow_id
        assert execution["trigger_type"] == "webhook"

    async def test_secrets_never_appear_in_the_workflow(self, hooks: Hooks) -> None:
        secret = "never-shown-" + "x" * 20
        trigger = {"type": "webhook", "authentication": {"type": "hmac", "secret": secret}}
        workflow_id = await hooks.workflow(triggers=[trigger])
        workflow = await hooks.client.get(f"/api/v1/workflows/{workflow_id}", headers=hooks.headers)
        assert secret not in workflow.text
        assert workflow.json()["triggers"][0]["url_path"]


class TestReceiving:
    async def test_json_body_query_and_filtered_headers_reach_the_run(self, hooks: Hooks) -> None:
        created = await hooks.webhook(
            event_type="order.paid", authentication={"type": "header", "secret": "t" * 20}
        )
        response = await hooks.client.post(
            f"/hooks/{created['url_path']}?source=shop&tag=a&tag=b",
            json={"order": 7},
            headers={
                "X-Headrace-Token": "t" * 20,
                "Authorization": "Bearer nope",
                "Cookie": "session=1",
                "X-Custom": "kept",
            },
        )
        assert response.status_code == 202, response.text
        execution = await hooks.finished(response.json()["execution_id"])
        seen = execution["output_data"]
        assert seen["body"] == {"order": 7}
        assert seen["query"] == {"source": "shop", "tag": ["a", "b"]}
        assert seen["method"] == "POST"
        assert seen["event_type"] == "order.paid"
        assert seen["headers"]["x-custom"] == "kept"
        for hidden in ("authorization", "cookie", "x-headrace-token"):
            assert hidden not in seen["headers"]
        assert execution["trigger_id"] == created["trigger_id"]
        assert execution["trigger_type"] == "webhook"

    async def test_form_and_raw_bodies(self, hooks: Hooks) -> None:
        created = await hooks.webhook()
        url = f"/hooks/{created['url_path']}"
        form = await hooks.client.post(url, data={"payload": '{"x": 1}', "n": "2"})
        raw = await hooks.client.post(
            url, content=b"plain text", headers={"content-type": "text/plain"}
        )
        binary = await hooks.client.post(
            url, content=b"\xff\x00", headers={"content-type": "application/octet-stream"}
        )
        outputs = [
            (await hooks.finished(r.json()["execution_id"]))["output_data"]["body"]
            for r in (form, raw, binary)
        ]
        assert outputs == [{"payload": '{"x": 1}', "n": "2"}, "plain text", {"base64": "/wA="}]

    async def test_multipart_fields_and_files(self, hooks: Hooks) -> None:
        created = await hooks.webhook()
        response = await hooks.client.post(
            f"/hooks/{created['url_path']}",
            data={"note": "héllo", "tag": ["x", "y"]},
            files={"doc": ("report.txt", b"hi\xff", "text/plain"), "empty": ("e.bin", b"")},
        )
        assert response.status_code == 202, response.text
        execution = await hooks.finished(response.json()["execution_id"])
        assert execution["output_data"]["body"] == {
            "note": "héllo",
            "tag": ["x", "y"],
            "doc": {
                "filename": "report.txt",
                "content_type": "text/plain",
                "size": 3,
                "content_base64": base64.b64encode(b"hi\xff").decode(),
            },
            "empty": {
                "filename": "e.bin",
                "content_type": "application/octet-stream",
                "size": 0,
                "content_base64": "",
            },
        }

    @pytest.mark.parametrize(
        "case", ["truncated", "garbage", "no_boundary", "bad_part_header", "unnamed_part"]
    )
    async def test_malformed_multipart_is_422_and_starts_nothing(
        self, hooks: Hooks, case: str
    ) -> None:
        created = await hooks.webhook()
        content, content_type = malformed_multipart(case)
        response = await hooks.client.post(
            f"/hooks/{created['url_path']}",
            content=content,
            headers={"content-type": content_type},
        )
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        [error] = response.json()["errors"]
        assert (error["pointer"], error["code"]) == ("/body", "invalid_multipart")
        assert await hooks.executions(created["workflow_id"]) == []

    async def test_invalid_json_is_422_and_starts_nothing(self, hooks: Hooks) -> None:
        created = await hooks.webhook()
        response = await hooks.client.post(
            f"/hooks/{created['url_path']}",
            content=b"{nope",
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["pointer"] == "/body"
        assert await hooks.executions(created["workflow_id"]) == []

    async def test_wrong_method_is_405_with_allow(self, hooks: Hooks) -> None:
        created = await hooks.webhook(method="PUT")
        response = await hooks.client.post(f"/hooks/{created['url_path']}", json={})
        assert response.status_code == 405
        assert response.headers["allow"] == "PUT"
        assert await hooks.executions(created["workflow_id"]) == []

    async def test_unknown_and_inactive_paths_are_404(self, hooks: Hooks) -> None:
        assert (await hooks.client.post(f"/hooks/{unique_path()}", json={})).status_code == 404
        created = await hooks.webhook(is_active=False)
        response = await hooks.client.post(f"/hooks/{created['url_path']}", json={})
        assert response.status_code == 404

    async def test_input_schema_applies_to_the_run_input(self, hooks: Hooks) -> None:
        definition = {
            **ECHO,
            "input_schema": {
                "type": "object",
                "required": ["body"],
                "properties": {"body": {"type": "object", "required": ["id"]}},
            },
        }
        created = await hooks.webhook(await hooks.workflow(definition))
        bad = await hooks.client.post(f"/hooks/{created['url_path']}", json={"no": 1})
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["pointer"].startswith("/input_data/body")
        good = await hooks.client.post(f"/hooks/{created['url_path']}", json={"id": 1})
        assert good.status_code == 202

    async def test_wait_answers_with_the_result(self, hooks: Hooks) -> None:
        created = await hooks.webhook()
        response = await hooks.client.post(
            f"/hooks/{created['url_path']}?wait=true", json={"hello": "world"}
        )
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["status"] == "completed"
        assert answer["result"]["body"] == {"hello": "world"}
        assert "wait" not in answer["result"]["query"]

    async def test_wait_gives_202_running_when_the_run_outlasts_the_wait(
        self, hooks: Hooks, app: Any
    ) -> None:
        slow = {"steps": [{"id": "nap", "type": "sleep", "with": {"duration": "3s"}}]}
        created = await hooks.webhook(await hooks.workflow(slow))
        settings = app.state.ctx.settings
        previous, settings.sync_wait = settings.sync_wait, 0.5
        try:
            response = await hooks.client.post(f"/hooks/{created['url_path']}?wait=true", json={})
        finally:
            settings.sync_wait = previous
        assert response.status_code == 202
        assert response.json()["status"] == "running"


class TestIdempotency:
    async def test_twenty_concurrent_duplicates_start_one_execution(self, hooks: Hooks) -> None:
        created = await hooks.webhook()
        url = f"/hooks/{created['url_path']}"
        headers = {"Idempotency-Key": f"delivery-{uuid.uuid4()}"}
        responses = await asyncio.gather(
            *(hooks.client.post(url, json={"n": i}, headers=headers) for i in range(20))
        )
        assert {r.status_code for r in responses} == {202}, [r.text for r in responses]
        ids = {r.json()["execution_id"] for r in responses}
        assert len(ids) == 1
        assert sum(1 for r in responses if not r.json()["duplicate"]) == 1
        assert len(await hooks.executions(created["workflow_id"])) == 1
        await hooks.finished(ids.pop())

    async def test_a_later_duplicate_returns_the_first_execution(self, hooks: Hooks) -> None:
        created = await hooks.webhook()
        url = f"/hooks/{created['url_path']}"
        first = await hooks.client.post(url, json={}, headers={"Idempotency-Key": "k1"})
        await hooks.finished(first.json()["execution_id"])
        again = await hooks.client.post(url, json={}, headers={"Idempotency-Key": "k1"})
        other = await hooks.client.post(url, json={}, headers={"Idempotency-Key": "k2"})
        assert again.json() | {"status": None} == first.json() | {
            "status": None,
            "duplicate": True,
        }
        assert again.json()["status"] == "completed"
        assert other.json()["execution_id"] != first.json()["execution_id"]
        assert len(await hooks.executions(created["workflow_id"])) == 2

    async def test_the_same_key_on_another_webhook_is_independent(self, hooks: Hooks) -> None:
        one, two = await hooks.webhook(), await hooks.webhook()
        a = await hooks.client.post(
            f"/hooks/{one['url_path']}", json={}, headers={"Idempotency-Key": "same"}
        )
        b = await hooks.client.post(
            f"/hooks/{two['url_path']}", json={}, headers={"Idempotency-Key": "same"}
        )
        assert a.json()["execution_id"] != b.json()["execution_id"]

    async def test_the_key_is_the_temporal_workflow_id_across_restarts(
        self, hooks: Hooks, settings: Any, temporal_env: Any
    ) -> None:
        """A second API (a restart, or another process) answers with the same execution."""
        from api.app import create_app

        created = await hooks.webhook()
        url = f"/hooks/{created['url_path']}"
        first = await hooks.client.post(url, json={}, headers={"Idempotency-Key": "restart"})
        other_app = create_app(settings, temporal_client=temporal_env.client)
        async with other_app.router.lifespan_context(other_app):
            transport = httpx.ASGITransport(app=other_app)
            async with httpx.AsyncClient(transport=transport, base_url="http://x") as other:
                again = await other.post(url, json={}, headers={"Idempotency-Key": "restart"})
        assert again.json()["execution_id"] == first.json()["execution_id"]
        execution = await hooks.execution(first.json()["execution_id"])
        assert execution["temporal_workflow_id"] == first.json()["execution_id"]


class TestRateLimit:
    async def test_over_the_limit_is_429_with_retry_after(self, hooks: Hooks) -> None:
        created = await hooks.webhook(rate_limit={"requests": 3, "per": "1h"})
        url = f"/hooks/{created['url_path']}"
        answers = [await hooks.client.post(url, json={}) for _ in range(5)]
        assert [a.status_code for a in answers] == [202, 202, 202, 429, 429]
        assert int(answers[3].headers["retry-after"]) >= 1
        assert len(await hooks.executions(created["workflow_id"])) == 3

    async def test_windows_reset(self) -> None:
        limiter = MemoryLimiter()
        assert await limiter.hit("k", 1, 0.2) is None
        retry = await limiter.hit("k", 1, 0.2)
        assert retry is not None and 0 < retry <= 0.2
        await asyncio.sleep(retry + 0.01)
        assert await limiter.hit("k", 1, 0.2) is None

    async def test_redis_backend_is_shared_between_limiters(self) -> None:
        from redis.asyncio import Redis

        url = redis_or_skip()
        prefix = f"headrace-test-{uuid.uuid4().hex[:8]}:"
        one = RedisLimiter(Redis.from_url(url), prefix=prefix)
        two = RedisLimiter(Redis.from_url(url), prefix=prefix)
        assert await one.hit("w", 2, 60) is None
        assert await two.hit("w", 2, 60) is None
        assert await one.hit("w", 2, 60) is not None

    async def test_without_redis_limits_count_in_process(self) -> None:
        """Redis is an accelerator: a refused connection falls back, it never fails a call."""
        from tests.support.ports import free_port

        limiter = build_limiter(f"redis://127.0.0.1:{free_port()}/0", timeout=0.2)
        answers = [await limiter.hit("down", 2, 60) for _ in range(3)]
        assert answers[:2] == [None, None]
        assert answers[2] is not None
