"""Schedule triggers: each is one Temporal Schedule, kept in step with the triggers table."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from temporalio.client import Client, ScheduleOverlapPolicy
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from db.models import Trigger, Workflow
from tests.api.test_webhooks import ECHO, Hooks
from tests.conftest import UserFactory
from tests.support.polling import eventually

YEARLY = {"type": "schedule", "cron": "0 0 1 1 *"}


@pytest.fixture
async def hooks(client: httpx.AsyncClient, make_user: UserFactory) -> Hooks:
    return Hooks(client, await make_user("developer"))


@pytest.fixture
def temporal(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


async def triggers_of(hooks: Hooks, workflow_id: str) -> list[dict[str, Any]]:
    response = await hooks.client.get(
        f"/api/v1/workflows/{workflow_id}/triggers", headers=hooks.headers
    )
    assert response.status_code == 200, response.text
    return list(response.json())


async def scheduled_runs(hooks: Hooks, workflow_id: str) -> list[dict[str, Any]]:
    return [e for e in await hooks.executions(workflow_id) if e["trigger_type"] == "schedule"]


async def wait_for_runs(
    hooks: Hooks, workflow_id: str, count: int, timeout: float = 15
) -> list[dict[str, Any]]:
    return await eventually(
        lambda: scheduled_runs(hooks, workflow_id),
        lambda runs: len(runs) >= count,
        timeout=timeout,
        interval=0.2,
        what=f"{count} scheduled runs",
    )


async def schedule_exists(temporal: Client, schedule_id: str) -> bool:
    try:
        await temporal.get_schedule_handle(schedule_id).describe()
    except RPCError as exc:
        assert exc.status == RPCStatusCode.NOT_FOUND
        return False
    return True


class TestScheduleSpec:
    async def test_a_cron_trigger_is_one_temporal_schedule(
        self, hooks: Hooks, temporal: Client
    ) -> None:
        trigger = {
            "type": "schedule",
            "cron": "30 9 * * 1-5",
            "timezone": "Europe/Paris",
            "overlap": "buffer_one",
            "jitter": "10s",
            "catchup_window": "5m",
        }
        workflow_id = await hooks.workflow(triggers=[trigger])
        [listed] = await triggers_of(hooks, workflow_id)
        assert listed["type"] == "schedule"
        assert listed["schedule"]["next_action_times"]
        assert listed["schedule"]["paused"] is False
        described = await temporal.get_schedule_handle(listed["schedule_id"]).describe()
        spec, policy = described.schedule.spec, described.schedule.policy
        assert spec.time_zone_name == "Europe/Paris"
        assert spec.jitter == timedelta(seconds=10)
        assert policy.overlap == ScheduleOverlapPolicy.BUFFER_ONE
        assert policy.catchup_window == timedelta(minutes=5)
        # 09:30 in Paris is 07:30 or 08:30 UTC, on a weekday.
        first = datetime.fromisoformat(listed["schedule"]["next_action_times"][0])
        assert (first.hour, first.minute) in ((7, 30), (8, 30)) and first.weekday() < 5

    @pytest.mark.parametrize(
        ("trigger", "pointer"),
        [
            ({"type": "schedule", "cron": "bogus"}, "/triggers/0/cron"),
            ({"type": "schedule", "cron": "61 * * * *"}, "/triggers/0/cron"),
            (
                {"type": "schedule", "cron": "* * * * *", "timezone": "Mars/Olympus"},
                "/triggers/0/timezone",
            ),
            ({"type": "schedule", "interval": "soon"}, "/triggers/0/interval"),
            ({"type": "schedule", "interval": "100ms"}, "/triggers/0/interval"),
            (
                {"type": "schedule", "interval": "1m", "start_at": "tomorrow"},
                "/triggers/0/start_at",
            ),
            (
                {"type": "schedule", "cron": "* * * * *", "overlap": "sometimes"},
                "/triggers/0/overlap",
            ),
        ],
    )
    async def test_invalid_specs_are_422_with_a_pointer_and_store_nothing(
        self, hooks: Hooks, trigger: dict[str, Any], pointer: str
    ) -> None:
        name = f"bad-{pointer.rsplit('/', 1)[-1]}-{id(trigger)}"
        response = await hooks.client.post(
            "/api/v1/workflows",
            json={"name": name, "definition": ECHO, "triggers": [trigger]},
            headers=hooks.headers,
        )
        assert response.status_code == 422, response.text
        assert pointer in {e["pointer"] for e in response.json()["errors"]}
        listed = await hooks.client.get(f"/api/v1/workflows?q={name}", headers=hooks.headers)
        assert listed.json()["count"] == 0

    async def test_input_data_must_fit_the_input_schema(self, hooks: Hooks) -> None:
        definition = {**ECHO, "input_schema": {"type": "object", "required": ["n"]}}
        response = await hooks.client.post(
            "/api/v1/workflows",
            json={
                "name": "needs-n",
                "definition": definition,
                "triggers": [{**YEARLY, "input_data": {"m": 1}}],
            },
            headers=hooks.headers,
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["pointer"] == "/triggers/0/input_data"


class TestScheduleLifecycle:
    async def test_an_interval_schedule_fires_and_pause_stops_it(
        self, hooks: Hooks, temporal: Client
    ) -> None:
        trigger = {"type": "schedule", "interval": "2s", "input_data": {"tick": True}}
        workflow_id = await hooks.workflow(triggers=[trigger])
        [listed] = await triggers_of(hooks, workflow_id)
        [run] = (await wait_for_runs(hooks, workflow_id, 1))[:1]
        assert run["trigger_id"] == listed["id"]
        finished = await hooks.finished(run["id"])
        assert finished["status"] == "completed"
        assert finished["input_data"] == {"tick": True}

        paused = await hooks.client.patch(
            f"/api/v1/triggers/{listed['id']}", json={"paused": True}, headers=hooks.headers
        )
        assert paused.status_code == 200, paused.text
        assert (
            await temporal.get_schedule_handle(listed["schedule_id"]).describe()
        ).schedule.state.paused
        await asyncio.sleep(0.5)  # a fire already under way may still land
        before = len(await scheduled_runs(hooks, workflow_id))
        await asyncio.sleep(4.5)
        assert len(await scheduled_runs(hooks, workflow_id)) == before

        [shown] = await triggers_of(hooks, workflow_id)
        assert shown["paused"] is True and shown["config"]["paused"] is True
        recent = {a["execution_id"] for a in shown["schedule"]["recent_actions"]}
        assert run["id"] in recent

    async def test_run_now_fires_a_paused_schedule_once(self, hooks: Hooks) -> None:
        workflow_id = await hooks.workflow(triggers=[{**YEARLY, "paused": True}])
        [listed] = await triggers_of(hooks, workflow_id)
        response = await hooks.client.post(
            f"/api/v1/triggers/{listed['id']}/run-now", headers=hooks.headers
        )
        assert response.status_code == 202, response.text
        [run] = await wait_for_runs(hooks, workflow_id, 1)
        assert (await hooks.finished(run["id"]))["status"] == "completed"

    async def test_backfill_takes_every_action_in_the_range(self, hooks: Hooks) -> None:
        workflow_id = await hooks.workflow(
            triggers=[{"type": "schedule", "cron": "* * * * *", "paused": True}]
        )
        [listed] = await triggers_of(hooks, workflow_id)
        minute = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
        start, end = minute - timedelta(seconds=30), minute + timedelta(minutes=3, seconds=30)
        response = await hooks.client.post(
            f"/api/v1/triggers/{listed['id']}/backfill",
            json={"start": start.isoformat(), "end": end.isoformat()},
            headers=hooks.headers,
        )
        assert response.status_code == 202, response.text
        runs = await wait_for_runs(hooks, workflow_id, 4)
        await asyncio.sleep(1)
        assert len(await scheduled_runs(hooks, workflow_id)) == 4
        assert {r["trigger_id"] for r in runs} == {listed["id"]}

    async def test_backfill_needs_an_ordered_range(self, hooks: Hooks) -> None:
        workflow_id = await hooks.workflow(triggers=[YEARLY])
        [listed] = await triggers_of(hooks, workflow_id)
        response = await hooks.client.post(
            f"/api/v1/triggers/{listed['id']}/backfill",
            json={"start": "2024-01-02T00:00:00Z", "end": "2024-01-01T00:00:00Z"},
            headers=hooks.headers,
        )
        assert response.status_code == 422

    async def test_patch_changes_the_temporal_schedule(
        self, hooks: Hooks, temporal: Client
    ) -> None:
        workflow_id = await hooks.workflow(triggers=[YEARLY])
        [listed] = await triggers_of(hooks, workflow_id)
        response = await hooks.client.patch(
            f"/api/v1/triggers/{listed['id']}",
            json={"cron": None, "interval": "1h"},
            headers=hooks.headers,
        )
        assert response.status_code == 200, response.text
        described = await temporal.get_schedule_handle(listed["schedule_id"]).describe()
        assert described.schedule.spec.intervals[0].every == timedelta(hours=1)
        bad = await hooks.client.patch(
            f"/api/v1/triggers/{listed['id']}",
            json={"timezone": "Nowhere/Land"},
            headers=hooks.headers,
        )
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["pointer"] == "/timezone"

    async def test_the_schedule_disappears_with_its_trigger(
        self, hooks: Hooks, temporal: Client
    ) -> None:
        workflow_id = await hooks.workflow(triggers=[YEARLY])
        [listed] = await triggers_of(hooks, workflow_id)
        assert await schedule_exists(temporal, listed["schedule_id"])
        response = await hooks.client.delete(
            f"/api/v1/triggers/{listed['id']}", headers=hooks.headers
        )
        assert response.status_code == 204
        assert not await schedule_exists(temporal, listed["schedule_id"])
        assert await triggers_of(hooks, workflow_id) == []

    async def test_the_schedules_disappear_with_the_workflow(
        self, hooks: Hooks, temporal: Client
    ) -> None:
        workflow_id = await hooks.workflow(triggers=[YEARLY, {**YEARLY, "cron": "0 0 2 1 *"}])
        ids = [t["schedule_id"] for t in await triggers_of(hooks, workflow_id)]
        response = await hooks.client.delete(
            f"/api/v1/workflows/{workflow_id}", headers=hooks.headers
        )
        assert response.status_code == 204
        assert [await schedule_exists(temporal, i) for i in ids] == [False, False]

    async def test_editing_the_workflow_triggers_keeps_unchanged_schedules(
        self, hooks: Hooks, temporal: Client
    ) -> None:
        other = {**YEARLY, "cron": "0 0 2 1 *"}
        workflow_id = await hooks.workflow(triggers=[YEARLY, other])
        before = {
            t["config"]["cron"]: t["schedule_id"] for t in await triggers_of(hooks, workflow_id)
        }
        stored = (
            await hooks.client.get(f"/api/v1/workflows/{workflow_id}", headers=hooks.headers)
        ).json()
        response = await hooks.client.patch(
            f"/api/v1/workflows/{workflow_id}",
            json={"triggers": [stored["triggers"][0], {"type": "manual"}]},
            headers=hooks.headers,
        )
        assert response.status_code == 200, response.text
        after = await triggers_of(hooks, workflow_id)
        assert [t["type"] for t in after] == ["schedule", "manual"] or [
            t["type"] for t in after
        ] == ["manual", "schedule"]
        kept = next(t for t in after if t["type"] == "schedule")
        assert kept["schedule_id"] == before["0 0 1 1 *"]
        assert not await schedule_exists(temporal, before["0 0 2 1 *"])

    async def test_triggers_can_be_added_through_the_trigger_endpoint(self, hooks: Hooks) -> None:
        workflow_id = await hooks.workflow()
        response = await hooks.client.post(
            f"/api/v1/workflows/{workflow_id}/triggers", json=YEARLY, headers=hooks.headers
        )
        assert response.status_code == 201, response.text
        assert response.json()["schedule"]["next_action_times"]
        workflow = (
            await hooks.client.get(f"/api/v1/workflows/{workflow_id}", headers=hooks.headers)
        ).json()
        assert workflow["triggers"][0]["cron"] == YEARLY["cron"]
        bad = await hooks.client.post(
            f"/api/v1/workflows/{workflow_id}/triggers",
            json={"type": "schedule", "cron": "* * *"},
            headers=hooks.headers,
        )
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["pointer"] == "/cron"


@contextmanager
def commits_fail_for(workflow_name: str) -> Iterator[list[str]]:
    """Make the commit of any session holding the workflow named so fail, as a lost database
    connection would; yields the schedule ids of the triggers such a session held.

    Only that workflow's sessions fail: the worker's sessions in this process go on.
    """
    held: list[str] = []

    def marked(session: Session) -> bool:
        if session.info.get(workflow_name):  # seen earlier, e.g. before its delete was flushed
            return True
        objects = [*session.identity_map.values(), *session.new, *session.deleted]
        return any(isinstance(o, Workflow) and o.name == workflow_name for o in objects)

    def note_triggers(session: Session, *_: Any) -> None:
        if marked(session):
            session.info[workflow_name] = True
            held.extend(
                o.schedule_id for o in session.new if isinstance(o, Trigger) and o.schedule_id
            )

    def refuse(session: Session) -> None:
        if marked(session):
            raise OperationalError("COMMIT", None, ConnectionError("forced: database went away"))

    event.listen(Session, "before_flush", note_triggers)
    event.listen(Session, "before_commit", refuse)
    try:
        yield held
    finally:
        event.remove(Session, "before_commit", refuse)
        event.remove(Session, "before_flush", note_triggers)


async def schedules_noting(temporal: Client, workflow_id: str) -> list[str]:
    """Ids of the Temporal Schedules that name this workflow and really exist."""
    listed = [s.id async for s in await temporal.list_schedules()]
    found = []
    for schedule_id in listed:
        try:
            description = await temporal.get_schedule_handle(schedule_id).describe()
        except RPCError as exc:
            assert exc.status == RPCStatusCode.NOT_FOUND  # listed, then deleted
            continue
        if workflow_id in (description.schedule.state.note or ""):
            found.append(schedule_id)
    return found


@pytest.fixture
async def failing_client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client that gets the problem of a forced failure instead of the app's exception."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


class TestScheduleConsistency:
    """Temporal and the database agree even when the database commit fails."""

    async def test_a_failed_commit_of_a_new_workflow_leaves_no_schedule(
        self, hooks: Hooks, temporal: Client, failing_client: httpx.AsyncClient
    ) -> None:
        name = f"doomed-{uuid.uuid4().hex[:8]}"
        body = {"name": name, "definition": ECHO, "triggers": [YEARLY, {**YEARLY, "paused": True}]}
        with commits_fail_for(name) as held:
            response = await failing_client.post(
                "/api/v1/workflows", json=body, headers=hooks.headers
            )
        assert response.status_code == 503, response.text
        assert len(held) == 2
        assert [await schedule_exists(temporal, i) for i in held] == [False, False]
        listed = await hooks.client.get(f"/api/v1/workflows?q={name}", headers=hooks.headers)
        assert listed.json()["count"] == 0

    async def test_a_failed_commit_of_a_workflow_edit_changes_no_schedule(
        self, hooks: Hooks, temporal: Client, failing_client: httpx.AsyncClient
    ) -> None:
        name = f"edited-{uuid.uuid4().hex[:8]}"
        workflow_id = await hooks.workflow(name=name, triggers=[YEARLY])
        [kept] = await triggers_of(hooks, workflow_id)
        triggers = [{**YEARLY, "cron": "0 0 2 1 *"}, {"type": "schedule", "interval": "1h"}]
        with commits_fail_for(name) as held:
            response = await failing_client.patch(
                f"/api/v1/workflows/{workflow_id}",
                json={"triggers": triggers},
                headers=hooks.headers,
            )
        assert response.status_code == 503, response.text
        new = [i for i in held if i != kept["schedule_id"]]
        assert len(new) == 2
        assert [await schedule_exists(temporal, i) for i in new] == [False, False]
        # The replaced schedule was deleted before the commit; it is back as it was.
        assert await schedules_noting(temporal, workflow_id) == [kept["schedule_id"]]
        [after] = await triggers_of(hooks, workflow_id)
        assert after["id"] == kept["id"]
        # Temporal shows a cron as calendars once stored: compare what it will do.
        assert after["schedule"]["next_action_times"] == kept["schedule"]["next_action_times"]

    async def test_a_failed_commit_of_a_workflow_delete_keeps_its_schedules(
        self, hooks: Hooks, temporal: Client, failing_client: httpx.AsyncClient
    ) -> None:
        name = f"undeleted-{uuid.uuid4().hex[:8]}"
        workflow_id = await hooks.workflow(name=name, triggers=[YEARLY])
        [before] = await triggers_of(hooks, workflow_id)
        with commits_fail_for(name):
            response = await failing_client.delete(
                f"/api/v1/workflows/{workflow_id}", headers=hooks.headers
            )
        assert response.status_code == 503
        [after] = await triggers_of(hooks, workflow_id)
        assert after["id"] == before["id"]
        assert await schedules_noting(temporal, workflow_id) == [before["schedule_id"]]
        assert after["schedule"]["next_action_times"] == before["schedule"]["next_action_times"]


class TestInactiveWorkflows:
    """An inactive workflow's schedules are paused in Temporal; a user's pause is kept apart."""

    async def set_status(self, hooks: Hooks, workflow_id: str, status: str) -> None:
        response = await hooks.client.patch(
            f"/api/v1/workflows/{workflow_id}", json={"status": status}, headers=hooks.headers
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == status

    async def paused_in_temporal(
        self, temporal: Client, hooks: Hooks, workflow_id: str
    ) -> dict[str, bool]:
        """cron -> paused, as the Temporal server has it."""
        found = {}
        for trigger in await triggers_of(hooks, workflow_id):
            described = await temporal.get_schedule_handle(trigger["schedule_id"]).describe()
            found[trigger["config"]["cron"]] = described.schedule.state.paused
        return found

    async def test_deactivating_pauses_and_reactivating_resumes_only_unpaused_schedules(
        self, hooks: Hooks, temporal: Client
    ) -> None:
        mine = {**YEARLY, "cron": "0 0 2 1 *", "paused": True}
        workflow_id = await hooks.workflow(triggers=[YEARLY, mine])
        assert await self.paused_in_temporal(temporal, hooks, workflow_id) == {
            "0 0 1 1 *": False,
            "0 0 2 1 *": True,
        }

        await self.set_status(hooks, workflow_id, "inactive")
        assert await self.paused_in_temporal(temporal, hooks, workflow_id) == {
            "0 0 1 1 *": True,
            "0 0 2 1 *": True,
        }
        shown = {t["config"]["cron"]: t for t in await triggers_of(hooks, workflow_id)}
        free = shown["0 0 1 1 *"]
        # The trigger itself is not paused: Temporal pauses it because of the workflow.
        assert free["paused"] is False and free["config"].get("paused") is False
        assert free["schedule"]["paused"] is True
        assert "inactive" in free["schedule"]["note"]

        await self.set_status(hooks, workflow_id, "active")
        assert await self.paused_in_temporal(temporal, hooks, workflow_id) == {
            "0 0 1 1 *": False,
            "0 0 2 1 *": True,
        }

    async def test_an_inactive_workflows_schedule_does_not_fire(
        self, hooks: Hooks, temporal: Client
    ) -> None:
        workflow_id = await hooks.workflow(
            status="inactive", triggers=[{"type": "schedule", "interval": "1s"}]
        )
        [listed] = await triggers_of(hooks, workflow_id)
        assert listed["schedule"]["paused"] is True and listed["paused"] is False
        await asyncio.sleep(2.5)
        assert await scheduled_runs(hooks, workflow_id) == []
        await self.set_status(hooks, workflow_id, "active")
        await wait_for_runs(hooks, workflow_id, 1)

    async def test_unpausing_a_trigger_of_an_inactive_workflow_keeps_temporal_paused(
        self, hooks: Hooks, temporal: Client
    ) -> None:
        workflow_id = await hooks.workflow(triggers=[{**YEARLY, "paused": True}])
        await self.set_status(hooks, workflow_id, "archived")
        [listed] = await triggers_of(hooks, workflow_id)
        response = await hooks.client.patch(
            f"/api/v1/triggers/{listed['id']}", json={"paused": False}, headers=hooks.headers
        )
        assert response.status_code == 200, response.text
        assert response.json()["paused"] is False
        assert await self.paused_in_temporal(temporal, hooks, workflow_id) == {"0 0 1 1 *": True}
        await self.set_status(hooks, workflow_id, "active")
        assert await self.paused_in_temporal(temporal, hooks, workflow_id) == {"0 0 1 1 *": False}

    async def test_a_failed_commit_of_a_deactivation_keeps_schedules_running(
        self, hooks: Hooks, temporal: Client, failing_client: httpx.AsyncClient
    ) -> None:
        name = f"deactivated-{uuid.uuid4().hex[:8]}"
        workflow_id = await hooks.workflow(name=name, triggers=[YEARLY])
        with commits_fail_for(name):
            response = await failing_client.patch(
                f"/api/v1/workflows/{workflow_id}",
                json={"status": "inactive"},
                headers=hooks.headers,
            )
        assert response.status_code == 503
        assert await self.paused_in_temporal(temporal, hooks, workflow_id) == {"0 0 1 1 *": False}


class TestScheduledRunsSeeTheirTrigger:
    async def test_a_backfilled_run_sees_the_time_it_was_scheduled_for(self, hooks: Hooks) -> None:
        definition = {
            "steps": [{"id": "noop", "type": "transform", "with": {}}],
            "output": {
                "type": "{{ trigger.type }}",
                "scheduled_at": "{{ trigger.scheduled_at }}",
                "day": "{{ trigger.scheduled_at | date_format('%Y-%m-%d %H:%M') }}",
                "runs_late": "{{ execution.started_at | timestamp > trigger.scheduled_at | timestamp }}",
            },
        }
        workflow_id = await hooks.workflow(
            definition, triggers=[{"type": "schedule", "cron": "* * * * *", "paused": True}]
        )
        [listed] = await triggers_of(hooks, workflow_id)
        minute = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
        response = await hooks.client.post(
            f"/api/v1/triggers/{listed['id']}/backfill",
            json={
                "start": (minute - timedelta(seconds=30)).isoformat(),
                "end": (minute + timedelta(seconds=30)).isoformat(),
            },
            headers=hooks.headers,
        )
        assert response.status_code == 202, response.text
        [run] = await wait_for_runs(hooks, workflow_id, 1)
        finished = await hooks.finished(run["id"])
        assert finished["status"] == "completed", finished
        assert finished["output_data"] == {
            "type": "schedule",
            "scheduled_at": minute.isoformat().removesuffix("+00:00") + "Z",
            "day": minute.strftime("%Y-%m-%d %H:%M"),
            "runs_late": True,
        }
