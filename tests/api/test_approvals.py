"""Approvals as their approvers meet them: message and deadline, access without sharing,
and signed one-time approve/reject links. Through the API with the real worker."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from api.security import create_approval_token
from tests.conftest import UserFactory
from tests.support.runner import Runner, steps_by_id


def approval_flow(approvers: list[str], **with_: Any) -> dict[str, Any]:
    return {
        "steps": [
            {
                "id": "manager_ok",
                "type": "approval",
                "with": {
                    "approvers": approvers,
                    "message": "Refund {{ input.amount }} EUR to {{ input.customer }}?",
                    "timeout": "2d",
                    **with_,
                },
            }
        ],
        "output": "{{ steps.manager_ok.output }}",
    }


def waiting(execution: dict[str, Any]) -> bool:
    return execution["status"] == "waiting"


async def email_of(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    return str((await client.get("/api/v1/auth/me", headers=headers)).json()["email"])


class Flow:
    """An owner's unshared approval workflow with one named approver, waiting."""

    def __init__(self, runner: Runner, approver: dict[str, str], execution_id: str) -> None:
        self.runner = runner
        self.client = runner.client
        self.approver = approver
        self.execution_id = execution_id
        self.base = f"/api/v1/executions/{execution_id}"

    async def links(self, **body: Any) -> dict[str, Any]:
        response = await self.runner.post(f"{self.base}/approvals/manager_ok/links", body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def finished(self) -> dict[str, Any]:
        return await self.runner.wait_until(
            self.execution_id, lambda e: e["status"] in ("completed", "failed")
        )


@pytest.fixture
async def flow(runner: Runner, make_user: UserFactory) -> Flow:
    approver = await make_user("user")
    definition = approval_flow([await email_of(runner.client, approver)], on_reject="continue")
    workflow_id = await runner.create(definition)  # not shared
    started = await runner.execute(
        workflow_id, {"amount": 120, "customer": "ACME"}, async_mode=True
    )
    execution_id = str(started.json()["execution_id"])
    await runner.wait_until(execution_id, waiting)
    return Flow(runner, approver, execution_id)


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]


class TestMessageAndDeadline:
    async def test_waiting_for_and_the_event_show_message_and_deadline(self, flow: Flow) -> None:
        execution = await flow.runner.execution(flow.execution_id)
        shown = execution["waiting_for"]["manager_ok"]
        assert shown["message"] == "Refund 120 EUR to ACME?"
        assert shown["deadline"] is not None
        logs = await flow.client.get(f"{flow.base}/logs", headers=flow.runner.headers)
        waits = [e for e in logs.json()["data"] if e["type"] == "execution.waiting"]
        assert waits[0]["step_id"] == "manager_ok"
        assert waits[0]["data"]["message"] == "Refund 120 EUR to ACME?"
        assert waits[0]["data"]["deadline"] == shown["deadline"]
        assert waits[0]["data"]["approvers"] == shown["approvers"]


class TestNamedApprovers:
    async def test_an_approver_sees_and_decides_an_unshared_run(self, flow: Flow) -> None:
        listed = await flow.client.get(f"{flow.base}/approvals", headers=flow.approver)
        assert listed.status_code == 200, listed.text
        [approval] = listed.json()
        assert approval["message"] == "Refund 120 EUR to ACME?"
        assert approval["deadline"] is not None and approval["may_decide"] is True
        decided = await flow.client.post(
            f"{flow.base}/approve", json={"comment": "fine"}, headers=flow.approver
        )
        assert decided.status_code == 202, decided.text
        done = await flow.finished()
        assert done["output_data"]["by"] == await email_of(flow.client, flow.approver)
        assert done["output_data"]["comment"] == "fine"

    async def test_an_approver_gains_nothing_else_on_the_run(self, flow: Flow) -> None:
        for path in ("", "/logs", "/artifacts"):
            response = await flow.client.get(f"{flow.base}{path}", headers=flow.approver)
            assert response.status_code == 404, path
        for action in ("cancel", "pause", "retry"):
            response = await flow.client.post(
                f"{flow.base}/{action}", json={}, headers=flow.approver
            )
            assert response.status_code == 404, action
        links = await flow.client.post(
            f"{flow.base}/approvals/manager_ok/links", json={}, headers=flow.approver
        )
        assert links.status_code == 404

    async def test_a_stranger_learns_nothing(self, flow: Flow, make_user: UserFactory) -> None:
        stranger = await make_user("user")
        listed = await flow.client.get(f"{flow.base}/approvals", headers=stranger)
        assert listed.status_code == 404
        decided = await flow.client.post(f"{flow.base}/approve", json={}, headers=stranger)
        assert decided.status_code == 404
        assert (await flow.runner.execution(flow.execution_id))["status"] == "waiting"


class TestSignedLinks:
    async def test_a_link_decides_once_without_logging_in(self, flow: Flow) -> None:
        links = await flow.links(expires_in="1h")
        approve = path_of(links["approve_url"])
        shown = await flow.client.get(approve)
        assert shown.status_code == 200, shown.text
        assert shown.json()["decision"] == "approve"
        assert shown.json()["message"] == "Refund 120 EUR to ACME?"
        page = await flow.client.get(approve, headers={"accept": "text/html"})
        assert '<form method="post">' in page.text
        assert (await flow.runner.execution(flow.execution_id))["status"] == "waiting"
        used = await flow.client.post(approve, data={"comment": "ok by mail"})
        assert used.status_code == 202, used.text
        assert used.json()["status"] == "approved"
        done = await flow.finished()
        assert done["output_data"] == {
            "approved": True,
            "by": links["approver"],
            "comment": "ok by mail",
        }
        again = await flow.client.post(approve)
        assert again.status_code == 409
        assert "already been used" in again.json()["detail"]

    async def test_a_reject_link_rejects(self, flow: Flow) -> None:
        links = await flow.links(approver=await email_of(flow.client, flow.approver))
        used = await flow.client.post(path_of(links["reject_url"]))
        assert used.status_code == 202, used.text
        done = await flow.finished()
        assert done["output_data"]["approved"] is False
        # the approve link of a decided step decides nothing
        late = await flow.client.post(path_of(links["approve_url"]))
        assert late.status_code == 409
        assert steps_by_id(done)["manager_ok"]["status"] == "completed"

    async def test_concurrent_uses_of_one_link_decide_once(self, flow: Flow) -> None:
        approve = path_of((await flow.links())["approve_url"])
        answers = await asyncio.gather(*(flow.client.post(approve) for _ in range(3)))
        assert sorted(a.status_code for a in answers) == [202, 409, 409]

    async def test_forged_and_altered_links_are_refused(self, flow: Flow, app: Any) -> None:
        approve = path_of((await flow.links())["approve_url"])
        head, payload, signature = approve.rsplit("/", 1)[1].split(".")
        altered = f"/approval-links/{head}.{payload}.{signature[:-2]}xx"
        other_key = create_approval_token(
            "another-secret-key-of-32-characters",
            execution_id=uuid.UUID(flow.execution_id),
            step_id="manager_ok",
            approved=True,
            by="mallory@example.com",
            ttl=timedelta(hours=1),
        )[0]
        for path in (altered, f"/approval-links/{other_key}", "/approval-links/not-a-token"):
            assert (await flow.client.post(path)).status_code == 403, path
            assert (await flow.client.get(path)).status_code == 403, path
        assert (await flow.runner.execution(flow.execution_id))["status"] == "waiting"

    async def test_an_expired_link_is_refused(self, flow: Flow, app: Any) -> None:
        expired = create_approval_token(
            app.state.ctx.settings.signing_key,
            execution_id=uuid.UUID(flow.execution_id),
            step_id="manager_ok",
            approved=True,
            by="late@example.com",
            ttl=timedelta(seconds=-1),
        )[0]
        response = await flow.client.post(f"/approval-links/{expired}")
        assert response.status_code == 403
        assert "expired" in response.json()["detail"]

    async def test_a_link_is_no_login_and_a_login_is_no_link(self, flow: Flow) -> None:
        token = path_of((await flow.links())["approve_url"]).rsplit("/", 1)[1]
        as_bearer = await flow.client.get(
            "/api/v1/auth/me", headers={"authorization": f"Bearer {token}"}
        )
        assert as_bearer.status_code == 401
        login = flow.runner.headers["Authorization"].removeprefix("Bearer ")
        assert (await flow.client.post(f"/approval-links/{login}")).status_code == 403

    async def test_links_name_a_listed_approver_and_a_bounded_lifetime(self, flow: Flow) -> None:
        path = f"{flow.base}/approvals/manager_ok/links"
        stranger = await flow.runner.post(path, {"approver": "eve@example.com"})
        assert stranger.status_code == 422
        assert stranger.json()["errors"][0]["pointer"] == "/approver"
        forever = await flow.runner.post(path, {"expires_in": "365d"})
        assert forever.status_code == 422
        assert forever.json()["errors"][0]["pointer"] == "/expires_in"
