"""Per-workflow concurrency limits (``concurrency`` in the definition), with the real worker.

The runs call a loopback service that counts the requests it is serving at once, per group
and per key: that count, not timing, shows the limit. Runs that must hold their permit
for as long as a test needs wait for an event after their call.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from temporalio.testing import WorkflowEnvironment

from core.concurrency import ask_by_signal
from core.settings import Settings
from temporal_workflows.concurrency import GroupState, PermitRequest
from tests.support.runner import Runner
from tests.support.target_server import TargetServer


def _limited(
    target: TargetServer,
    group: str,
    concurrency: dict[str, Any],
    *,
    key: str = "all",
    hold: bool = False,
    seconds: float = 0.3,
) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [
        {
            "id": "call",
            "type": "http",
            "with": {
                "method": "GET",
                "url": target.url(f"/inflight/{group}/{key}?seconds={seconds}"),
            },
        }
    ]
    if hold:  # keep the permit until the test sends "go"
        steps.append(
            {
                "id": "hold",
                "type": "wait_for_event",
                "depends_on": ["call"],
                "with": {"event": "go"},
            }
        )
    return {"concurrency": concurrency, "steps": steps}


async def _start(runner: Runner, workflow_id: str, input_data: Any = None) -> str:
    response = await runner.execute(workflow_id, input_data, async_mode=True)
    assert response.status_code == 202, response.text
    return str(response.json()["execution_id"])


async def _release(runner: Runner, execution_id: str) -> None:
    sent = await runner.post(f"/api/v1/executions/{execution_id}/signal", {"name": "go"})
    assert sent.status_code == 202, sent.text


async def _events(runner: Runner, execution_id: str) -> list[str]:
    response = await runner.client.get(
        f"/api/v1/executions/{execution_id}/logs", headers=runner.headers
    )
    return [event["type"] for event in response.json()["data"]]


def _status(status: str) -> Any:
    return lambda execution: execution["status"] == status


class TestWorkflowLimit:
    async def test_six_runs_with_limit_two_never_exceed_two_in_flight_and_all_complete(
        self, runner: Runner, target: TargetServer
    ) -> None:
        group = uuid.uuid4().hex
        workflow_id = await runner.create(_limited(target, group, {"limit": 2}, seconds=0.5))
        ids = [await _start(runner, workflow_id) for _ in range(6)]
        for execution_id in ids:
            await runner.wait_until(execution_id, _status("completed"), timeout=60)
        assert target.peak[group] == 2
        queued = [i for i in ids if "execution.queued" in await _events(runner, i)]
        assert queued, "six runs started at once against a limit of two: some waited"

    async def test_a_queued_run_shows_queued_with_its_place_then_runs(
        self, runner: Runner, target: TargetServer
    ) -> None:
        group = uuid.uuid4().hex
        workflow_id = await runner.create(_limited(target, group, {"limit": 1}, hold=True))
        first = await _start(runner, workflow_id)
        await runner.wait_until(first, _status("waiting"))
        second, third = await _start(runner, workflow_id), await _start(runner, workflow_id)
        await runner.wait_until(third, lambda e: e["queue_position"] == 2)
        queued = await runner.wait_until(second, lambda e: e["queue_position"] == 1)
        assert queued["status"] == "queued"
        assert target.peak[group] == 1

        await _release(runner, first)
        await runner.wait_until(second, _status("waiting"))
        await _release(runner, second)
        await runner.wait_until(third, _status("waiting"))
        await _release(runner, third)
        for execution_id in (first, second, third):
            await runner.wait_until(execution_id, _status("completed"))
        assert target.peak[group] == 1

    async def test_keyed_limit_serialises_one_key_while_other_keys_run(
        self, runner: Runner, target: TargetServer
    ) -> None:
        group = uuid.uuid4().hex
        definition = _limited(target, group, {"limit": 1, "key": "{{ input.customer }}"}, hold=True)
        definition["steps"][0]["with"]["url"] = target.url(
            f"/inflight/{group}/{{{{ input.customer }}}}?seconds=0.1"
        )
        workflow_id = await runner.create(definition)
        acme_1 = await _start(runner, workflow_id, {"customer": "acme"})
        await runner.wait_until(acme_1, _status("waiting"))
        acme_2 = await _start(runner, workflow_id, {"customer": "acme"})
        await runner.wait_until(acme_2, _status("queued"))

        globex = await _start(runner, workflow_id, {"customer": "globex"})
        await runner.wait_until(globex, _status("waiting"))  # ran while acme_2 waits
        assert (await runner.execution(acme_2))["status"] == "queued"
        await _release(runner, globex)
        await runner.wait_until(globex, _status("completed"))

        await _release(runner, acme_1)
        await runner.wait_until(acme_2, _status("waiting"))
        await _release(runner, acme_2)
        await runner.wait_until(acme_2, _status("completed"))
        assert target.peak[f"{group}/acme"] == 1

    async def test_cancel_oldest_cancels_the_older_run(
        self, runner: Runner, target: TargetServer
    ) -> None:
        group = uuid.uuid4().hex
        workflow_id = await runner.create(
            _limited(target, group, {"limit": 1, "on_limit": "cancel_oldest"}, hold=True)
        )
        older = await _start(runner, workflow_id)
        await runner.wait_until(older, _status("waiting"))
        newer = await _start(runner, workflow_id)
        await runner.wait_until(older, _status("cancelled"))
        await runner.wait_until(newer, _status("waiting"))
        await _release(runner, newer)
        await runner.wait_until(newer, _status("completed"))
        assert target.peak[group] == 1

    async def test_cancel_newest_refuses_an_api_start_with_409(
        self, runner: Runner, target: TargetServer
    ) -> None:
        group = uuid.uuid4().hex
        workflow_id = await runner.create(
            _limited(target, group, {"limit": 1, "on_limit": "cancel_newest"}, hold=True)
        )
        first = await _start(runner, workflow_id)
        await runner.wait_until(first, _status("waiting"))
        refused = await runner.execute(workflow_id, None, async_mode=True)
        assert refused.status_code == 409, refused.text
        problem = refused.json()
        assert problem["type"].endswith("concurrency-limit-reached")
        assert "cancel_newest" in problem["detail"]
        listed = await runner.client.get(
            "/api/v1/executions", params={"workflow_id": workflow_id}, headers=runner.headers
        )
        assert [e["id"] for e in listed.json()["data"]] == [first]  # nothing half-recorded

        await _release(runner, first)
        await runner.wait_until(first, _status("completed"))
        again = await _start(runner, workflow_id)  # the permit came back
        await runner.wait_until(again, _status("waiting"))
        await _release(runner, again)
        await runner.wait_until(again, _status("completed"))

    async def test_cancel_newest_records_a_webhook_start_as_cancelled(
        self, runner: Runner, target: TargetServer, client: httpx.AsyncClient
    ) -> None:
        group = uuid.uuid4().hex
        workflow_id = await runner.create(
            _limited(target, group, {"limit": 1, "on_limit": "cancel_newest"}, hold=True)
        )
        hook = await runner.post(
            "/api/v1/webhooks",
            {"workflow_id": workflow_id, "authentication": {"type": "none"}},
        )
        assert hook.status_code == 201, hook.text
        path = f"/hooks/{hook.json()['url_path']}"
        first = (await client.post(path, json={})).json()["execution_id"]
        await runner.wait_until(first, _status("waiting"))
        second = await client.post(path, json={})
        assert second.status_code == 202, second.text
        refused = await runner.wait_until(second.json()["execution_id"], _status("cancelled"))
        assert "cancel_newest" in refused["error_message"]
        await _release(runner, first)
        await runner.wait_until(first, _status("completed"))

    async def test_cancelling_a_queued_run_takes_it_out_of_the_queue(
        self, runner: Runner, target: TargetServer
    ) -> None:
        group = uuid.uuid4().hex
        workflow_id = await runner.create(_limited(target, group, {"limit": 1}, hold=True))
        first = await _start(runner, workflow_id)
        await runner.wait_until(first, _status("waiting"))
        queued, last = await _start(runner, workflow_id), await _start(runner, workflow_id)
        await runner.wait_until(last, _status("queued"))
        cancelled = await runner.post(f"/api/v1/executions/{queued}/cancel")
        assert cancelled.status_code == 202, cancelled.text
        await runner.wait_until(queued, _status("cancelled"))
        await runner.wait_until(last, lambda e: e["queue_position"] == 1)

        await _release(runner, first)
        await runner.wait_until(last, _status("waiting"))
        await _release(runner, last)
        await runner.wait_until(last, _status("completed"))

    async def test_runs_without_a_limit_are_not_held_by_another_workflows_limit(
        self, runner: Runner, target: TargetServer
    ) -> None:
        group = uuid.uuid4().hex
        limited = await runner.create(_limited(target, group, {"limit": 1}, hold=True))
        holder = await _start(runner, limited)
        await runner.wait_until(holder, _status("waiting"))
        free = _limited(target, group, {"limit": 1})
        del free["concurrency"]
        execution = await runner.run(free)
        assert execution["status"] == "completed"
        await _release(runner, holder)
        await runner.wait_until(holder, _status("completed"))


async def test_many_starts_at_once_get_distinct_places(
    runner: Runner, target: TargetServer
) -> None:
    """Concurrent starts race for the limiter: it is one workflow, so no place is given twice."""
    group = uuid.uuid4().hex
    workflow_id = await runner.create(_limited(target, group, {"limit": 1}, hold=True))
    first = await _start(runner, workflow_id)
    await runner.wait_until(first, _status("waiting"))
    waiting = await asyncio.gather(*(_start(runner, workflow_id) for _ in range(4)))
    places = [
        (await runner.wait_until(i, lambda e: e["queue_position"] is not None))["queue_position"]
        for i in waiting
    ]
    assert sorted(places) == [1, 2, 3, 4]
    for execution_id in [first, *sorted(waiting, key=lambda i: places[waiting.index(i)])]:
        await runner.wait_until(execution_id, _status("waiting"))
        await _release(runner, execution_id)
        await runner.wait_until(execution_id, _status("completed"))
    assert target.peak[group] == 1


async def test_a_burst_of_thirty_starts_into_one_group_all_complete_two_at_a_time(
    runner: Runner, target: TargetServer
) -> None:
    """Runs ask by signal, which Temporal does not cap: asking by Update, more than 10 asks
    in flight to one limiter were refused and retried (docs/architecture.md)."""
    group = uuid.uuid4().hex
    workflow_id = await runner.create(_limited(target, group, {"limit": 2}, seconds=0.2))
    ids = await asyncio.gather(*(_start(runner, workflow_id) for _ in range(30)))
    for execution_id in ids:
        await runner.wait_until(execution_id, _status("completed"), timeout=120)
    assert target.peak[group] == 2


async def test_an_ask_sent_again_for_a_holder_takes_no_second_permit(
    runner: Runner, target: TargetServer, temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    """What a worker that dies after sending a run's ask, before recording it, does: the next
    worker sends the same ask again. The limiter answers it as the first, and the run, told
    `granted` twice, runs once."""
    group = uuid.uuid4().hex
    workflow_id = await runner.create(_limited(target, group, {"limit": 1}, hold=True))
    holder = await _start(runner, workflow_id)
    await runner.wait_until(holder, _status("waiting"))
    limiter = f"headrace-concurrency-{workflow_id}"
    again = PermitRequest(group=limiter, holder=holder, limit=1)
    await ask_by_signal(temporal_env.client, again, settings.task_queue)
    queued = await _start(runner, workflow_id)
    await runner.wait_until(queued, lambda e: e["queue_position"] == 1)
    state = await temporal_env.client.get_workflow_handle(limiter).query(
        "state", result_type=GroupState
    )
    assert (state.holders, state.queue) == ([holder], [queued])

    await _release(runner, holder)
    await runner.wait_until(holder, _status("completed"))
    await runner.wait_until(queued, _status("waiting"))
    await _release(runner, queued)
    await runner.wait_until(queued, _status("completed"))
    assert target.peak[group] == 1


class TestDefinitionAndAttacks:
    async def test_invalid_settings_are_422_with_pointers(self, runner: Runner) -> None:
        response = await runner.client.post(
            "/api/v1/workflows",
            json={
                "name": "bad",
                "definition": {
                    "concurrency": {"limit": 0, "on_limit": "drop", "key": "{{ steps.a }}"},
                    "steps": [{"id": "a", "type": "log", "with": {"message": "x"}}],
                },
            },
            headers=runner.headers,
        )
        assert response.status_code == 422, response.text
        pointers = {e["pointer"] for e in response.json()["errors"]}
        assert {
            "/definition/concurrency/limit",
            "/definition/concurrency/on_limit",
            "/definition/concurrency/key",
        } <= pointers

    async def test_a_key_that_fails_for_this_input_fails_the_run(self, runner: Runner) -> None:
        definition = {
            "concurrency": {"limit": 1, "key": "{{ input.customer.id }}"},
            "steps": [{"id": "a", "type": "log", "with": {"message": "x"}}],
        }
        execution = await runner.run(definition, {"customer": None})
        assert execution["status"] == "failed"
        assert execution["error_message"].startswith("concurrency key:")

    async def test_another_users_workflow_with_the_same_key_is_another_group(
        self, runner: Runner, target: TargetServer, make_user: Any
    ) -> None:
        """Groups are per workflow: a hostile definition cannot take, or fill, the permits
        of someone else's workflow by choosing the same key."""
        group = uuid.uuid4().hex
        concurrency = {"limit": 1, "key": "shared", "on_limit": "cancel_newest"}
        victim = await runner.create(_limited(target, group, concurrency, hold=True))
        held = await _start(runner, victim)
        await runner.wait_until(held, _status("waiting"))
        attacker = Runner(runner.client, await make_user("developer"))
        execution = await attacker.run(_limited(target, group, concurrency, key="other"))
        assert execution["status"] == "completed"
        await _release(runner, held)
        await runner.wait_until(held, _status("completed"))
