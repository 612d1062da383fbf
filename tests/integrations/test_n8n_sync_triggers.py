"""A synced workflow's triggers are live: a Temporal Schedule per schedule, a /hooks path per
webhook; a second sync keeps them, and a failed sync leaves no schedule behind."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from temporalio.client import Client, ScheduleDescription, ScheduleRange
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from tests.conftest import UserFactory
from tests.integrations.fake_n8n import API_KEY, FakeN8n
from tests.support.runner import Runner

SYNC = "/api/v1/integrations/n8n/sync"


@pytest.fixture
async def runner(client: httpx.AsyncClient, make_user: UserFactory) -> Runner:
    return Runner(client, await make_user("developer"))


async def sync(runner: Runner, n8n: FakeN8n, expect: int = 200) -> dict[str, Any]:
    response = await runner.post(SYNC, {"n8n_url": n8n.base_url, "api_key": API_KEY})
    assert response.status_code == expect, response.text
    return dict(response.json())


async def triggers(runner: Runner, workflow_id: str) -> dict[str, dict[str, Any]]:
    response = await runner.client.get(
        f"/api/v1/workflows/{workflow_id}/triggers", headers=runner.headers
    )
    assert response.status_code == 200, response.text
    return {t["type"]: t for t in response.json()}


async def schedule_exists(client: Client, schedule_id: str) -> bool:
    try:
        await client.get_schedule_handle(schedule_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


def fire_times(described: ScheduleDescription) -> tuple[str, str]:
    """Minute and hour of the schedule's one calendar (Temporal stores a cron as calendars)."""
    (calendar,) = described.schedule.spec.calendars

    def text(ranges: Sequence[ScheduleRange]) -> str:
        return ",".join(
            str(r.start) if r.end <= r.start else f"{r.start}-{r.end}/{r.step}" for r in ranges
        )

    return text(calendar.minute), text(calendar.hour)


def unique_digest(n8n: FakeN8n, prefix: str = "wfDigest", **rule: Any) -> dict[str, Any]:
    """The scheduled_digest fixture under a new id and name (n8n lists ids in order)."""
    n8n_id = f"{prefix}{uuid.uuid4().hex[:10]}"
    raw = n8n.add("scheduled_digest", id=n8n_id)
    raw["name"] = f"Digest {n8n_id}"
    if rule:
        raw["nodes"][0]["parameters"]["rule"]["interval"][0].update(rule)
    return raw


class TestTriggersOfSyncedWorkflows:
    async def test_a_schedule_trigger_gets_a_temporal_schedule(
        self, runner: Runner, fake_n8n: FakeN8n, temporal_env: WorkflowEnvironment
    ) -> None:
        raw = unique_digest(fake_n8n)
        result = await sync(runner, fake_n8n)
        synced = {w["n8n_id"]: w for w in result["workflows"]}[raw["id"]]
        assert synced["mode"] == "translated"
        schedule = (await triggers(runner, synced["workflow_id"]))["schedule"]
        assert schedule["config"]["cron"] == "15 */6 * * *"
        assert schedule["config"]["timezone"] == "Europe/Paris"
        handle = temporal_env.client.get_schedule_handle(schedule["schedule_id"])
        described = await handle.describe()
        assert fire_times(described) == ("15", "0-23/6")
        assert described.schedule.spec.time_zone_name == "Europe/Paris"
        assert not described.schedule.state.paused
        # what the failed-sync test below looks for to tell this sync's schedules apart
        assert raw["name"] in str(getattr(described.schedule.action, "static_summary", ""))

    async def test_a_webhook_trigger_answers_on_its_hooks_path(
        self, runner: Runner, fake_n8n: FakeN8n
    ) -> None:
        fake_n8n.add("order_intake")
        result = await sync(runner, fake_n8n)
        synced = {w["n8n_id"]: w for w in result["workflows"]}["wfOrderIntake01"]
        webhook = (await triggers(runner, synced["workflow_id"]))["webhook"]
        # n8n's path, or a stable variant of it when another test's workflow holds "orders"
        path = webhook["config"]["url_path"]
        assert path == "orders" or path.startswith("orders-")
        response = await runner.client.post(f"/hooks/{path}?wait=true", json={"user_id": "v42"})
        assert response.status_code == 200, response.text
        assert response.json()["result"] == {
            "customer": "v42",
            "discount": 10,
            "order": {"tier": "vip"},
        }

    async def test_an_authenticated_webhook_gets_a_secret_shown_once(
        self, runner: Runner, fake_n8n: FakeN8n
    ) -> None:
        raw = fake_n8n.add("order_intake", id=f"wfAuth{uuid.uuid4().hex[:8]}")
        raw["nodes"][0]["parameters"]["authentication"] = "headerAuth"
        synced = {w["n8n_id"]: w for w in (await sync(runner, fake_n8n))["workflows"]}
        ((path, secret),) = synced[raw["id"]]["webhook_secrets"].items()
        assert path.startswith("orders")
        refused = await runner.client.post(f"/hooks/{path}", json={"user_id": "v1"})
        assert refused.status_code == 401
        accepted = await runner.client.post(
            f"/hooks/{path}?wait=true", json={"user_id": "v1"}, headers={"X-Headrace-Token": secret}
        )
        assert accepted.status_code == 200, accepted.text
        again = {w["n8n_id"]: w for w in (await sync(runner, fake_n8n))["workflows"]}
        assert again[raw["id"]]["action"] == "unchanged"
        assert again[raw["id"]]["webhook_secrets"] == {}

    async def test_a_second_sync_keeps_the_same_triggers(
        self, runner: Runner, fake_n8n: FakeN8n, temporal_env: WorkflowEnvironment
    ) -> None:
        raw = unique_digest(fake_n8n)
        fake_n8n.add("order_intake")
        first = {w["n8n_id"]: w for w in (await sync(runner, fake_n8n))["workflows"]}
        before = {n8n_id: await triggers(runner, w["workflow_id"]) for n8n_id, w in first.items()}
        second = {w["n8n_id"]: w for w in (await sync(runner, fake_n8n))["workflows"]}
        assert {w["action"] for w in second.values()} == {"unchanged"}
        for n8n_id, w in second.items():
            after = await triggers(runner, w["workflow_id"])
            assert {t["id"] for t in after.values()} == {t["id"] for t in before[n8n_id].values()}
        schedule_id = before[raw["id"]]["schedule"]["schedule_id"]
        assert await schedule_exists(temporal_env.client, schedule_id)

    async def test_a_changed_schedule_replaces_its_temporal_schedule(
        self, runner: Runner, fake_n8n: FakeN8n, temporal_env: WorkflowEnvironment
    ) -> None:
        raw = unique_digest(fake_n8n)
        first = {w["n8n_id"]: w for w in (await sync(runner, fake_n8n))["workflows"]}
        workflow_id = first[raw["id"]]["workflow_id"]
        old = (await triggers(runner, workflow_id))["schedule"]
        raw["nodes"][0]["parameters"]["rule"]["interval"][0]["triggerAtMinute"] = 45
        second = {w["n8n_id"]: w for w in (await sync(runner, fake_n8n))["workflows"]}
        assert second[raw["id"]]["action"] == "updated"
        new = (await triggers(runner, workflow_id))["schedule"]
        assert new["config"]["cron"] == "45 */6 * * *"
        described = await temporal_env.client.get_schedule_handle(new["schedule_id"]).describe()
        assert fire_times(described) == ("45", "0-23/6")
        # A changed trigger is a new trigger: a new Temporal Schedule, the old one deleted.
        assert new["id"] != old["id"]
        assert new["schedule_id"] != old["schedule_id"]
        assert not await schedule_exists(temporal_env.client, old["schedule_id"])

    async def test_a_workflow_deleted_in_n8n_has_its_schedule_paused(
        self, runner: Runner, fake_n8n: FakeN8n, temporal_env: WorkflowEnvironment
    ) -> None:
        raw = unique_digest(fake_n8n)
        first = {w["n8n_id"]: w for w in (await sync(runner, fake_n8n))["workflows"]}
        schedule = (await triggers(runner, first[raw["id"]]["workflow_id"]))["schedule"]
        del fake_n8n.workflows[raw["id"]]
        await sync(runner, fake_n8n)
        handle = temporal_env.client.get_schedule_handle(schedule["schedule_id"])
        assert (await handle.describe()).schedule.state.paused
        fake_n8n.workflows[raw["id"]] = raw
        back = {w["n8n_id"]: w for w in (await sync(runner, fake_n8n))["workflows"]}
        assert back[raw["id"]]["action"] == "updated"
        assert not (await handle.describe()).schedule.state.paused


class TestAFailedSyncLeavesNoSchedule:
    async def test_a_refused_schedule_undoes_the_schedules_created_before_it(
        self, runner: Runner, fake_n8n: FakeN8n, temporal_env: WorkflowEnvironment
    ) -> None:
        good = unique_digest(fake_n8n)
        first = {w["n8n_id"]: w for w in (await sync(runner, fake_n8n))["workflows"]}
        workflow_id = first[good["id"]]["workflow_id"]
        kept = (await triggers(runner, workflow_id))["schedule"]
        # The good workflow's schedule changes (delete + create), then a later workflow's
        # cron is one Temporal refuses (minute 99): the whole sync must be undone.
        good["nodes"][0]["parameters"]["rule"]["interval"][0]["triggerAtMinute"] = 30
        bad = unique_digest(fake_n8n, "zzDigest", triggerAtMinute=99)  # listed after
        names = {good["name"], bad["name"]}
        before = {s.id async for s in await temporal_env.client.list_schedules()}
        failed = await sync(runner, fake_n8n, expect=422)
        assert failed["errors"][0]["pointer"].endswith("/cron")
        assert failed["detail"].startswith(f"n8n workflow {bad['id']} ")
        # The first sync's schedule is as it was, with its old spec.
        after_kept = (await triggers(runner, workflow_id))["schedule"]
        assert after_kept["id"] == kept["id"]
        described = await temporal_env.client.get_schedule_handle(kept["schedule_id"]).describe()
        assert fire_times(described) == ("15", "0-23/6")
        # No schedule this sync created is left in Temporal.
        async for listed in await temporal_env.client.list_schedules():
            if listed.id in before or listed.id == kept["schedule_id"]:
                continue
            description = await temporal_env.client.get_schedule_handle(listed.id).describe()
            summary = getattr(description.schedule.action, "static_summary", "") or ""
            assert not any(name in summary for name in names), summary
        assert [w["name"] for w in await _synced_workflows(runner, fake_n8n)] == [good["name"]]


async def _synced_workflows(runner: Runner, n8n: FakeN8n) -> list[dict[str, Any]]:
    response = await runner.client.get("/api/v1/workflows?limit=500", headers=runner.headers)
    return [
        w for w in response.json()["data"] if (w.get("source") or {}).get("n8n_url") == n8n.base_url
    ]


class TestServiceTriggers:
    async def test_a_service_trigger_is_a_webhook_an_anonymous_caller_cannot_fire(
        self, runner: Runner, fake_n8n: FakeN8n
    ) -> None:
        raw = fake_n8n.add("telegram_echo", id=f"wfTelegram{uuid.uuid4().hex[:8]}")
        synced = {w["n8n_id"]: w for w in (await sync(runner, fake_n8n))["workflows"]}
        assert synced[raw["id"]]["mode"] == "translated", synced[raw["id"]]["reasons"]
        ((path, secret),) = synced[raw["id"]]["webhook_secrets"].items()
        update = {"update_id": 1, "message": {"text": "hello"}}
        refused = await runner.client.post(f"/hooks/{path}?wait=true", json=update)
        assert refused.status_code == 401
        accepted = await runner.client.post(
            f"/hooks/{path}?wait=true", json=update, headers={"X-Headrace-Token": secret}
        )
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["result"] == {"text": "hello"}
