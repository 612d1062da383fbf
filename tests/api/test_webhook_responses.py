"""A definition's ``response``: what ``?wait=true`` webhook calls answer when the run ends.

Through the API with the real worker. The caller of a webhook is anonymous and controls the
run's input, so the attacks on the answer's head are part of the specification.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.test_webhooks import Hooks
from tests.conftest import UserFactory

ORDER = {
    "steps": [
        {"id": "order", "type": "transform", "with": {"id": "{{ input.body.id }}", "ok": True}}
    ],
    "output": "{{ steps.order.output }}",
}
BROKEN = {"steps": [{"id": "boom", "type": "fail", "with": {"message": "card declined"}}]}


@pytest.fixture
async def hooks(client: httpx.AsyncClient, make_user: UserFactory) -> Hooks:
    return Hooks(client, await make_user("developer"))


async def hook_for(hooks: Hooks, definition: dict[str, Any]) -> str:
    created = await hooks.webhook(await hooks.workflow(definition))
    return f"/hooks/{created['url_path']}?wait=true"


class TestDefaultAnswers:
    async def test_a_completed_run_answers_200_with_the_result(self, hooks: Hooks) -> None:
        response = await hooks.client.post(await hook_for(hooks, ORDER), json={"id": 7})
        assert response.status_code == 200, response.text
        assert response.json()["result"] == {"id": 7, "ok": True}

    async def test_a_failed_run_answers_a_500_problem_naming_the_run(self, hooks: Hooks) -> None:
        response = await hooks.client.post(await hook_for(hooks, BROKEN), json={})
        assert response.status_code == 500, response.text
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["type"].endswith("/run-failed")
        assert problem["execution_status"] == "failed"
        assert "card declined" in problem["detail"]
        execution = await hooks.execution(problem["execution_id"])
        assert execution["status"] == "failed"

    async def test_without_wait_the_call_is_still_202(self, hooks: Hooks) -> None:
        url = (await hook_for(hooks, BROKEN)).removesuffix("?wait=true")
        assert (await hooks.client.post(url, json={})).status_code == 202


class TestCustomResponse:
    async def test_status_headers_and_body_come_from_the_definition(self, hooks: Hooks) -> None:
        definition = {
            **ORDER,
            "response": {
                "status": 201,
                "headers": {"X-Order-Id": "{{ output.id }}", "Location": "/orders/{{ output.id }}"},
                "body": {"order": "{{ output.id }}", "run": "{{ execution.id }}"},
            },
        }
        response = await hooks.client.post(await hook_for(hooks, definition), json={"id": 42})
        assert response.status_code == 201, response.text
        assert response.headers["x-order-id"] == "42"
        assert response.headers["location"] == "/orders/42"
        assert response.json()["order"] == 42
        execution = await hooks.execution(response.json()["run"])
        assert execution["status"] == "completed"

    async def test_a_failed_run_answers_through_error(self, hooks: Hooks) -> None:
        definition = {
            **BROKEN,
            "response": {
                "status": "{{ 200 if error is none else 402 }}",
                "body": {"accepted": False, "reason": "{{ error }}"},
            },
        }
        response = await hooks.client.post(await hook_for(hooks, definition), json={})
        assert response.status_code == 402, response.text
        assert response.json()["accepted"] is False
        assert "card declined" in response.json()["reason"]

    async def test_a_string_body_is_sent_as_text(self, hooks: Hooks) -> None:
        definition = {**ORDER, "response": {"body": "order {{ output.id }} received"}}
        response = await hooks.client.post(await hook_for(hooks, definition), json={"id": 3})
        assert response.status_code == 200
        assert response.text == "order 3 received"
        assert response.headers["content-type"].startswith("text/plain")

    async def test_no_body_keeps_the_usual_answer(self, hooks: Hooks) -> None:
        definition = {**ORDER, "response": {"status": 202}}
        response = await hooks.client.post(await hook_for(hooks, definition), json={"id": 5})
        assert response.status_code == 202
        assert response.json()["status"] == "completed"
        assert response.json()["result"]["id"] == 5

    async def test_a_status_template_out_of_range_is_a_500_problem(self, hooks: Hooks) -> None:
        definition = {**ORDER, "response": {"status": "{{ input.body.id }}"}}
        response = await hooks.client.post(await hook_for(hooks, definition), json={"id": 999})
        assert response.status_code == 500
        assert "response.status" in response.json()["detail"]


class TestAnswerAttacks:
    async def test_crlf_from_the_caller_never_reaches_the_head(self, hooks: Hooks) -> None:
        definition = {**ORDER, "response": {"headers": {"X-Order-Id": "{{ output.id }}"}}}
        url = await hook_for(hooks, definition)
        injected = "1\r\nSet-Cookie: session=stolen\r\nX-Evil: 1"
        response = await hooks.client.post(url, json={"id": injected})
        assert response.status_code == 500
        assert "set-cookie" not in response.headers
        assert "x-evil" not in response.headers
        assert "X-Order-Id" in response.json()["detail"]

    async def test_an_html_answer_is_sandboxed_on_headrace_s_origin(self, hooks: Hooks) -> None:
        definition = {
            **ORDER,
            "response": {"headers": {"Content-Type": "text/html"}, "body": "{{ output.id }}"},
        }
        script = "<script>fetch('/api/v1/workflows')</script>"
        response = await hooks.client.post(await hook_for(hooks, definition), json={"id": script})
        assert response.text == script
        policy = response.headers["content-security-policy"]
        assert "sandbox" in policy
        assert "default-src 'none'" in policy
        assert response.headers["x-content-type-options"] == "nosniff"

    @pytest.mark.parametrize(
        ("response", "pointer", "code"),
        [
            ({"status": 99}, "/definition/response/status", "invalid_status"),
            ({"status": 600}, "/definition/response/status", "invalid_status"),
            ({"status": "201"}, "/definition/response/status", "invalid_status"),
            ({"headers": {"Set-Cookie": "a=b"}}, "/definition/response/headers/Set-Cookie", None),
            (
                {"headers": {"Transfer-Encoding": "chunked"}},
                "/definition/response/headers/Transfer-Encoding",
                None,
            ),
            (
                {"headers": {"Content-Security-Policy": "default-src *"}},
                "/definition/response/headers/Content-Security-Policy",
                None,
            ),
            ({"headers": {"X-A": "a\r\nb"}}, "/definition/response/headers/X-A", "invalid_header"),
            (
                {"headers": {"X-{{ input.body.h }}": "1"}},
                "/definition/response/headers/X-{{ input.body.h }}",
                "invalid_header_name",
            ),
            ({"body": "{{ steps.order.output }}"}, "/definition/response/body", "unknown_name"),
            ({"redirect": "/x"}, "/definition/response/redirect", "unknown_field"),
        ],
    )
    async def test_unsafe_or_wrong_responses_are_refused_at_save(
        self, hooks: Hooks, response: dict[str, Any], pointer: str, code: str | None
    ) -> None:
        body = {"name": "answer", "definition": {**ORDER, "response": response}}
        refused = await hooks.client.post("/api/v1/workflows", json=body, headers=hooks.headers)
        assert refused.status_code == 422, refused.text
        errors = refused.json()["errors"]
        assert [e["pointer"] for e in errors] == [pointer], errors
        if code is not None:
            assert errors[0]["code"] == code
