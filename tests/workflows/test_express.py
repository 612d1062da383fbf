"""Express runs (``execution_mode: express``): the same semantics without a history.

One table of step-semantics cases runs in both modes: the interpreter is one, only its
runtime differs (temporal_workflows/runtime.py, express/runtime.py). Then what is express's
own: the 422s for steps that wait, the recording of its runs, the 409s of operator actions,
``?wait=true`` webhooks, and the marking of runs a dead process left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from core.settings import Settings
from db.migrate import upgrade_to_head
from db.models import Execution
from tests.conftest import PASSWORD, SECRET_KEY, login
from tests.support.polling import eventually
from tests.support.ports import free_port
from tests.support.runner import Runner, steps_by_id
from tests.support.target_server import TargetServer

MODES = ["durable", "express"]


@dataclass
class Case:
    """A definition, its input, and what the ended execution must show (in either mode)."""

    definition: Callable[[TargetServer, str], dict[str, Any]]
    check: Callable[[dict[str, Any], TargetServer, str], None]
    input: Any = None
    children: dict[str, Callable[[TargetServer], dict[str, Any]]] = field(default_factory=dict)


def _http_then_when(target: TargetServer, key: str) -> dict[str, Any]:
    return {
        "variables": {"base": target.base_url},
        "steps": [
            {
                "id": "user",
                "type": "http",
                "with": {"url": "{{ vars.base }}/users/{{ input.user_id }}"},
                "timeout": "10s",
            },
            {
                "id": "vip",
                "type": "transform",
                "depends_on": ["user"],
                "when": "{{ steps.user.output.body.tier == 'vip' }}",
                "with": {"discount": "{{ steps.user.output.body.spend * 0.1 }}"},
            },
        ],
        "output": {"discount": "{{ steps.vip.output.discount }}"},
    }


def _check_http_then_when(execution: dict[str, Any], target: TargetServer, key: str) -> None:
    assert execution["status"] == "completed"
    assert execution["output_data"] == {"discount": 25.0}
    assert steps_by_id(execution)["user"]["output"]["status"] == 200


def _skips(target: TargetServer, key: str) -> dict[str, Any]:
    return {
        "steps": [
            {"id": "a", "type": "transform", "with": {"n": 1}},
            {"id": "b", "type": "transform", "depends_on": ["a"], "when": "{{ false }}"},
            {"id": "c", "type": "transform", "depends_on": ["b"], "with": {"x": 1}},
            {
                "id": "d",
                "type": "transform",
                "depends_on": ["b", "a"],
                "join": "any_succeeded",
                "with": {"from_a": "{{ steps.a.output.n }}"},
            },
        ]
    }


def _check_skips(execution: dict[str, Any], target: TargetServer, key: str) -> None:
    steps = steps_by_id(execution)
    assert execution["status"] == "completed"
    assert [steps[s]["status"] for s in "abcd"] == ["completed", "skipped", "skipped", "completed"]
    assert steps["c"]["reason"] == "skipped because 'b' was skipped"
    assert steps["d"]["output"] == {"from_a": 1}


def _continue_then_handler(target: TargetServer, key: str) -> dict[str, Any]:
    return {
        "steps": [
            {
                "id": "bad",
                "type": "fail",
                "with": {"message": "nope", "error_type": "Boom"},
                "on_error": "continue",
            },
            {
                "id": "handler",
                "type": "transform",
                "depends_on": ["bad"],
                "join": "all_done",
                "when": "{{ steps.bad.status == 'failed' }}",
                "with": {"caught": "{{ steps.bad.error }}"},
            },
        ]
    }


def _check_continue(execution: dict[str, Any], target: TargetServer, key: str) -> None:
    steps = steps_by_id(execution)
    assert execution["status"] == "completed"
    assert steps["bad"]["status"] == "failed"
    assert steps["handler"]["output"] == {"caught": "nope"}


def _fail_run(target: TargetServer, key: str) -> dict[str, Any]:
    return {
        "steps": [
            {"id": "stop", "type": "fail", "with": {"message": "stopped: {{ input.why }}"}},
            {"id": "after", "type": "transform", "depends_on": ["stop"], "with": {"x": 1}},
        ]
    }


def _check_fail_run(execution: dict[str, Any], target: TargetServer, key: str) -> None:
    assert execution["status"] == "failed"
    assert "stopped: because" in execution["error_message"]
    assert steps_by_id(execution)["after"]["status"] in ("pending", "not_run")


def _flaky(target: TargetServer, key: str) -> dict[str, Any]:
    return {
        "steps": [
            {
                "id": "flaky",
                "type": "http",
                "with": {"url": target.url(f"/flaky/{key}?fail=2")},
                "retry": {"max_attempts": 4, "initial_interval": "100ms"},
            }
        ]
    }


def _check_flaky(execution: dict[str, Any], target: TargetServer, key: str) -> None:
    step = steps_by_id(execution)["flaky"]
    assert execution["status"] == "completed"
    assert step["output"]["body"] == {"ok": True, "calls": 3}
    assert step["attempts"] == 3


def _not_retried(target: TargetServer, key: str) -> dict[str, Any]:
    return {
        "steps": [
            {
                "id": "bad",
                "type": "http",
                "with": {"url": target.url(f"/status/422?k={key}")},
                "retry": {"max_attempts": 5, "initial_interval": "50ms"},
            }
        ]
    }


def _check_not_retried(execution: dict[str, Any], target: TargetServer, key: str) -> None:
    assert execution["status"] == "failed"
    assert steps_by_id(execution)["bad"]["attempts"] == 1


def _foreach(target: TargetServer, key: str) -> dict[str, Any]:
    return {
        "steps": [
            {
                "id": "each",
                "type": "http",
                "foreach": "{{ input.ids }}",
                "concurrency": 2,
                "with": {"url": target.url("/users/{{ item }}")},
            },
            {
                "id": "names",
                "type": "transform",
                "depends_on": ["each"],
                "with": {"ids": "{{ steps.each.output | map(attribute='body.id') | list }}"},
            },
        ]
    }


def _check_foreach(execution: dict[str, Any], target: TargetServer, key: str) -> None:
    assert execution["status"] == "completed", execution["error_message"]
    assert steps_by_id(execution)["names"]["output"] == {"ids": ["u1", "u2", "u3", "u4"]}


def _until(target: TargetServer, key: str) -> dict[str, Any]:
    return {
        "steps": [
            {
                "id": "poll",
                "type": "http",
                "with": {"url": target.url(f"/count/{key}")},
                "until": "{{ output.body.count >= 3 }}",
                "interval": "50ms",
                "max_iterations": 10,
            }
        ]
    }


def _check_until(execution: dict[str, Any], target: TargetServer, key: str) -> None:
    assert execution["status"] == "completed"
    assert steps_by_id(execution)["poll"]["output"]["body"] == {"count": 3}


def _code(target: TargetServer, key: str) -> dict[str, Any]:
    return {
        "steps": [
            {
                "id": "calc",
                "type": "code",
                "with": {
                    "language": "javascript",
                    "code": "console.log('hi'); return {sum: input.a + input.b};",
                    "input": {"a": "{{ input.a }}", "b": 2},
                },
            }
        ]
    }


def _check_code(execution: dict[str, Any], target: TargetServer, key: str) -> None:
    assert execution["status"] == "completed", execution["error_message"]
    assert steps_by_id(execution)["calc"]["output"] == {"sum": 42}


def _saga(target: TargetServer, key: str) -> dict[str, Any]:
    return {
        "steps": [
            {
                "id": "book",
                "type": "transform",
                "with": {"booked": True},
                "compensate": {"type": "log", "with": {"message": "unbook {{ input.ref }}"}},
            },
            {"id": "pay", "type": "fail", "depends_on": ["book"], "with": {"message": "no money"}},
        ]
    }


def _check_saga(execution: dict[str, Any], target: TargetServer, key: str) -> None:
    assert execution["status"] == "failed"
    assert steps_by_id(execution)["book"]["compensation"]["status"] == "compensated"


def _storage(target: TargetServer, key: str) -> dict[str, Any]:
    return {
        "steps": [
            {
                "id": "put",
                "type": "storage",
                "with": {"op": "put", "key": "a.json", "content": {"v": 1}},
            },
            {
                "id": "get",
                "type": "storage",
                "depends_on": ["put"],
                "with": {"op": "get", "key": "a.json"},
            },
        ]
    }


def _check_storage(execution: dict[str, Any], target: TargetServer, key: str) -> None:
    assert execution["status"] == "completed", execution["error_message"]
    assert steps_by_id(execution)["get"]["output"]["content"] == {"v": 1}


def _child(target: TargetServer, key: str) -> dict[str, Any]:
    return {
        "steps": [
            {
                "id": "sub",
                "type": "workflow",
                "with": {"workflow_id": "{{ vars.child }}", "input": {"n": "{{ input.n }}"}},
            }
        ]
    }


def _child_definition(target: TargetServer) -> dict[str, Any]:
    return {
        "steps": [{"id": "double", "type": "transform", "with": {"n": "{{ input.n * 2 }}"}}],
        "output": "{{ steps.double.output.n }}",
    }


def _check_child(execution: dict[str, Any], target: TargetServer, key: str) -> None:
    assert execution["status"] == "completed", execution["error_message"]
    assert steps_by_id(execution)["sub"]["output"]["output"] == 42


def _sleep_and_log(target: TargetServer, key: str) -> dict[str, Any]:
    return {
        "steps": [
            {"id": "nap", "type": "sleep", "with": {"duration": "100ms"}},
            {
                "id": "say",
                "type": "log",
                "depends_on": ["nap"],
                "with": {"message": "woke {{ steps.nap.output.slept_seconds }}"},
            },
        ]
    }


def _check_sleep_and_log(execution: dict[str, Any], target: TargetServer, key: str) -> None:
    assert execution["status"] == "completed"
    assert steps_by_id(execution)["say"]["output"]["message"] == "woke 0.1"


CASES: dict[str, Case] = {
    "http_then_when": Case(_http_then_when, _check_http_then_when, {"user_id": "v42"}),
    "skips_and_joins": Case(_skips, _check_skips),
    "on_error_continue": Case(_continue_then_handler, _check_continue),
    "fail_step_fails_the_run": Case(_fail_run, _check_fail_run, {"why": "because"}),
    "5xx_retried_by_policy": Case(_flaky, _check_flaky),
    "4xx_not_retried": Case(_not_retried, _check_not_retried),
    "foreach_keeps_order": Case(_foreach, _check_foreach, {"ids": ["u1", "u2", "u3", "u4"]}),
    "until_polls": Case(_until, _check_until),
    "code_step_sandbox": Case(_code, _check_code, {"a": 40}),
    "saga_compensates": Case(_saga, _check_saga, {"ref": "r1"}),
    "storage_put_get": Case(_storage, _check_storage),
    "child_workflow": Case(_child, _check_child, {"n": 21}, {"child": _child_definition}),
    "sleep_then_log": Case(_sleep_and_log, _check_sleep_and_log),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(CASES))
async def test_step_semantics_are_the_same_in_both_modes(
    runner: Runner, target: TargetServer, name: str, mode: str
) -> None:
    case = CASES[name]
    key = f"k-{uuid.uuid4().hex[:8]}"
    variables = {}
    for var, child in case.children.items():
        variables[var] = await runner.create({**child(target), "execution_mode": mode})
    definition = {**case.definition(target, key), "execution_mode": mode}
    if variables:
        definition["variables"] = {**definition.get("variables", {}), **variables}
    response = await runner.execute(await runner.create(definition), case.input)
    assert response.status_code == 200, response.text
    execution = await runner.execution(response.json()["execution_id"])
    assert execution["execution_mode"] == mode
    case.check(execution, target, key)


class TestWaitingStepsAreRefused:
    @pytest.mark.parametrize(
        ("step", "pointer"),
        [
            ({"id": "ok", "type": "approval", "with": {"approvers": ["a@b.c"]}}, "/steps/0/type"),
            ({"id": "ev", "type": "wait_for_event", "with": {"event": "paid"}}, "/steps/0/type"),
            ({"id": "nap", "type": "sleep", "with": {"duration": "1h"}}, "/steps/0/with/duration"),
            (
                {"id": "nap", "type": "sleep", "with": {"until": "2030-01-01T00:00:00Z"}},
                "/steps/0/with",
            ),
            (
                {"id": "p", "type": "transform", "with": {"a": 1}, "on_error": "park"},
                "/steps/0/on_error",
            ),
        ],
    )
    async def test_a_step_that_waits_is_422_with_its_pointer(
        self, runner: Runner, step: dict[str, Any], pointer: str
    ) -> None:
        body = {"name": "x", "definition": {"execution_mode": "express", "steps": [step]}}
        response = await runner.client.post("/api/v1/workflows", json=body, headers=runner.headers)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        pointers = [e["pointer"] for e in response.json()["errors"]]
        assert f"/definition{pointer}" in pointers or pointer in pointers, pointers

    async def test_the_same_steps_are_fine_in_a_durable_workflow(self, runner: Runner) -> None:
        step = {"id": "ok", "type": "approval", "with": {"approvers": ["a@b.c"]}}
        await runner.create({"steps": [step]})  # 201 (asserted by create)

    async def test_a_short_written_sleep_is_allowed(self, runner: Runner) -> None:
        step = {"id": "nap", "type": "sleep", "with": {"duration": "2s"}}
        await runner.create({"execution_mode": "express", "steps": [step]})


class TestRecording:
    async def test_an_express_run_is_listed_logged_and_counted(self, runner: Runner) -> None:
        definition = {
            "execution_mode": "express",
            "steps": [{"id": "say", "type": "log", "with": {"message": "hello"}}],
        }
        workflow_id = await runner.create(definition)
        response = await runner.execute(workflow_id, {})
        assert response.status_code == 200, response.text
        execution_id = response.json()["execution_id"]
        listed = await runner.client.get(
            "/api/v1/executions", params={"workflow_id": workflow_id}, headers=runner.headers
        )
        [row] = listed.json()["data"]
        assert (row["id"], row["status"], row["execution_mode"]) == (
            execution_id,
            "completed",
            "express",
        )
        logs = await runner.client.get(
            f"/api/v1/executions/{execution_id}/logs", headers=runner.headers
        )
        types = [e["type"] for e in logs.json()["data"]]
        assert types == [
            "execution.started",
            "step.started",
            "log",
            "step.completed",
            "execution.completed",
        ]
        detail = await runner.execution(execution_id)
        assert detail["started_at"] is not None and detail["completed_at"] is not None
        assert detail["temporal_ui_url"] == ""  # no Temporal run to link to

    async def test_an_async_start_runs_in_the_background(self, runner: Runner) -> None:
        definition = {
            "execution_mode": "express",
            "steps": [{"id": "nap", "type": "sleep", "with": {"duration": "200ms"}}],
        }
        execution_id = await runner.start(definition)
        done = await runner.wait_until(execution_id, lambda e: e["status"] == "completed")
        assert done["execution_mode"] == "express"

    async def test_operator_actions_are_409_and_a_whole_retry_works(self, runner: Runner) -> None:
        definition = {
            "execution_mode": "express",
            "steps": [{"id": "stop", "type": "fail", "with": {"message": "no"}}],
        }
        response = await runner.execute(await runner.create(definition), {})
        execution_id = response.json()["execution_id"]
        assert response.json()["status"] == "failed"
        for action in ("pause", "resume", "cancel"):
            answer = await runner.post(f"/api/v1/executions/{execution_id}/{action}")
            assert answer.status_code == 409, (action, answer.text)
            assert "express run" in answer.json()["detail"]
        from_failed = await runner.post(
            f"/api/v1/executions/{execution_id}/retry", {"from_failed": True}
        )
        assert from_failed.status_code == 409, from_failed.text
        whole = await runner.post(f"/api/v1/executions/{execution_id}/retry", {})
        assert whole.status_code in (200, 201, 202), whole.text
        retried = await runner.wait_until(
            whole.json()["execution_id"], lambda e: e["status"] in ("failed", "completed")
        )
        assert (retried["execution_mode"], retried["retry_of"]) == ("express", execution_id)

    async def test_a_run_past_the_maximum_duration_fails(
        self, runner: Runner, settings: Settings
    ) -> None:
        settings_max = settings.express_max_duration
        from express.runner import host_for

        host = host_for(settings)
        assert host is not None
        express = await host.runner(await _client(runner))
        express._max_duration = 0.3  # this test's runs only: restored below
        try:
            definition = {
                "execution_mode": "express",
                "steps": [{"id": "nap", "type": "sleep", "with": {"duration": "5s"}}],
            }
            response = await runner.execute(await runner.create(definition), {})
            assert response.json()["status"] == "failed"
            assert "ExpressTimeout" in response.json()["error"]
        finally:
            express._max_duration = settings_max
        row = await runner.execution(response.json()["execution_id"])
        assert row["status"] == "failed" and "ExpressTimeout" in row["error_message"]


async def _client(runner: Runner) -> Any:
    app = runner.client._transport.app  # type: ignore[attr-defined]
    return await app.state.ctx.temporal.client()


class TestWebhooks:
    async def test_wait_true_answers_with_the_result_and_the_run_is_recorded(
        self, runner: Runner
    ) -> None:
        definition = {
            "execution_mode": "express",
            "steps": [
                {"id": "shape", "type": "transform", "with": {"seen": "{{ input.body.id }}"}}
            ],
            "output": "{{ steps.shape.output }}",
        }
        workflow_id = await runner.create(definition)
        hook = await runner.post(
            "/api/v1/webhooks", {"workflow_id": workflow_id, "authentication": {"type": "none"}}
        )
        assert hook.status_code == 201, hook.text
        path = f"/hooks/{hook.json()['url_path']}"
        answer = await runner.client.post(f"{path}?wait=true", json={"id": 7})
        assert answer.status_code == 200, answer.text
        assert answer.json()["result"] == {"seen": 7}
        assert answer.json()["status"] == "completed"
        # The answer does not wait for the run's events to be stored; the row follows.
        row = await runner.wait_until(
            answer.json()["execution_id"], lambda e: e["status"] == "completed"
        )
        assert (row["trigger_type"], row["execution_mode"]) == ("webhook", "express")
        assert row["output_data"] == {"seen": 7}
        later = await runner.client.post(path, json={"id": 8})  # without wait: 202 at once
        assert later.status_code == 202, later.text
        await runner.wait_until(later.json()["execution_id"], lambda e: e["status"] == "completed")

    async def test_a_definition_response_shapes_the_answer(self, runner: Runner) -> None:
        definition = {
            "execution_mode": "express",
            "steps": [{"id": "v", "type": "transform", "with": {"ok": "{{ input.body.n > 1 }}"}}],
            "output": "{{ steps.v.output }}",
            "response": {"status": 201, "body": {"valid": "{{ output.ok }}"}},
        }
        workflow_id = await runner.create(definition)
        hook = await runner.post(
            "/api/v1/webhooks", {"workflow_id": workflow_id, "authentication": {"type": "none"}}
        )
        answer = await runner.client.post(
            f"/hooks/{hook.json()['url_path']}?wait=true", json={"n": 5}
        )
        assert answer.status_code == 201, answer.text
        assert answer.json() == {"valid": True}


class TestInterrupted:
    async def test_a_restarted_process_marks_its_unfinished_runs_interrupted(
        self, runner: Runner, settings: Settings
    ) -> None:
        """A process that died mid-run left rows ``running`` under its name: its next start
        (the lifespan's first act) fails them as interrupted; other runners' stay."""
        from express.runner import INTERRUPTED, mark_interrupted

        workflow_id = await runner.create(
            {"execution_mode": "express", "steps": [{"id": "a", "type": "transform"}]}
        )
        dead, other = f"dead-{uuid.uuid4().hex[:6]}", f"alive-{uuid.uuid4().hex[:6]}"
        app = runner.client._transport.app  # type: ignore[attr-defined]
        sessions = app.state.ctx.sessions
        ids = {dead: uuid.uuid4(), other: uuid.uuid4()}
        async with sessions() as session, session.begin():
            for name, execution_id in ids.items():
                session.add(
                    Execution(
                        id=execution_id,
                        workflow_id=uuid.UUID(workflow_id),
                        version=1,
                        status="running",
                        temporal_workflow_id=str(execution_id),
                        execution_mode="express",
                        express_runner=name,
                    )
                )
        assert await mark_interrupted(sessions, dead, settings.express_max_duration) >= 1
        async with sessions() as session:
            rows = {
                e.express_runner: e
                for e in await session.scalars(
                    select(Execution).where(Execution.id.in_(list(ids.values())))
                )
            }
        assert (rows[dead].status, rows[dead].error_message) == ("failed", INTERRUPTED)
        assert rows[other].status == "running"
        shown = await runner.execution(str(ids[dead]))
        assert shown["status"] == "failed" and shown["error_message"].startswith("interrupted")

    async def test_a_second_app_of_the_same_settings_leaves_the_first_its_runner(
        self, runner: Runner, settings: Settings, temporal_env: Any
    ) -> None:
        """A second app in the process (a replica, a test's own app) with the same settings
        shares the runner: its start marks nothing of the first's, its end takes nothing."""
        from api.app import create_app

        nap = {
            "execution_mode": "express",
            "steps": [{"id": "nap", "type": "sleep", "with": {"duration": "1s"}}],
        }
        going = await runner.start(nap)
        await runner.wait_until(going, lambda e: e["status"] == "running")
        other = create_app(settings, temporal_client=temporal_env.client)
        async with other.router.lifespan_context(other):
            pass
        done = await runner.wait_until(going, lambda e: e["status"] in ("completed", "failed"))
        assert done["status"] == "completed", done.get("error_message")
        after = await runner.execute(await runner.create(nap), {})
        assert after.status_code == 200, after.text
        assert after.json()["status"] == "completed"


class TestChildren:
    async def test_an_express_run_refuses_a_child_that_waits(self, runner: Runner) -> None:
        child = await runner.create(
            {"steps": [{"id": "ok", "type": "approval", "with": {"approvers": ["a@b.c"]}}]}
        )
        definition = {
            "execution_mode": "express",
            "steps": [{"id": "sub", "type": "workflow", "with": {"workflow_id": child}}],
        }
        response = await runner.execute(await runner.create(definition), {})
        assert response.status_code == 200, response.text
        execution = await runner.execution(response.json()["execution_id"])
        assert execution["status"] == "failed"
        assert "cannot run inside an express run" in steps_by_id(execution)["sub"]["error"]


async def test_a_killed_api_process_leaves_its_run_interrupted_after_restart(
    tmp_path: Path,
) -> None:
    """The real thing: an API process runs an express run, is killed (SIGKILL, nothing
    recorded), and starts again under the same runner name: the run is failed, interrupted."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}"
    await upgrade_to_head(url)
    port = free_port()
    env = {
        **os.environ,
        "HEADRACE_ENVIRONMENT": "test",
        "HEADRACE_DATABASE_URL": url,
        "HEADRACE_DATA_DIR": str(tmp_path),
        "HEADRACE_SECRET_KEY": SECRET_KEY,
        "HEADRACE_PORT": str(port),
        "HEADRACE_ADMIN_EMAIL": "admin@example.com",
        "HEADRACE_ADMIN_PASSWORD": PASSWORD,
        "HEADRACE_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",  # express needs no Temporal
        "HEADRACE_EXPRESS_RUNNER": "crash-test",
        "HEADRACE_PENDING_SWEEP_INTERVAL": "0",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    command = [str(Path(sys.executable).parent / "headrace"), "api"]
    process = _start_api(command, env)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            await _until_ready(http)
            headers = await login(http, "admin@example.com")
            nap = {"id": "nap", "type": "sleep", "with": {"duration": "10s"}}
            created = await http.post(
                "/api/v1/workflows",
                json={"name": "nap", "definition": {"execution_mode": "express", "steps": [nap]}},
                headers=headers,
            )
            started = await http.post(
                f"/api/v1/workflows/{created.json()['id']}/execute",
                json={"input_data": {}, "async_mode": True},
                headers=headers,
            )
            assert started.status_code == 202, started.text
            execution_id = started.json()["execution_id"]
            await eventually(
                lambda: http.get(f"/api/v1/executions/{execution_id}", headers=headers),
                lambda r: r.json()["status"] == "running",
                timeout=10,
                what="the express run to be running",
            )
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
            process = _start_api(command, env)
            await _until_ready(http)
            shown = (await http.get(f"/api/v1/executions/{execution_id}", headers=headers)).json()
            assert shown["status"] == "failed"
            assert shown["error_message"].startswith("interrupted")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def _start_api(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, env=env, start_new_session=True)


async def _until_ready(http: httpx.AsyncClient) -> None:
    async def ready() -> int:
        try:
            return (await http.get("/readyz")).status_code
        except httpx.TransportError:
            return 0

    await eventually(ready, lambda status: status == 200, timeout=60, what="the API to be up")


class TestOverdue:
    async def test_the_sweep_fails_an_overdue_run_of_a_process_that_never_came_back(
        self, runner: Runner, settings: Settings
    ) -> None:
        from datetime import UTC, datetime, timedelta

        from api.services.sweeper import sweep_once
        from express.runner import INTERRUPTED

        workflow_id = await runner.create(
            {"execution_mode": "express", "steps": [{"id": "a", "type": "transform"}]}
        )
        app = runner.client._transport.app  # type: ignore[attr-defined]
        ctx = app.state.ctx
        old = datetime.now(UTC) - timedelta(seconds=settings.express_max_duration + 120)
        recent = datetime.now(UTC)
        ids = {"old": uuid.uuid4(), "recent": uuid.uuid4()}
        async with ctx.sessions() as session, session.begin():
            for label, created in (("old", old), ("recent", recent)):
                session.add(
                    Execution(
                        id=ids[label],
                        workflow_id=uuid.UUID(workflow_id),
                        version=1,
                        status="running",
                        temporal_workflow_id=str(ids[label]),
                        execution_mode="express",
                        express_runner=f"gone-{uuid.uuid4().hex[:6]}",
                        created_at=created,
                    )
                )
        await sweep_once(ctx)
        old_row = await runner.execution(str(ids["old"]))
        assert (old_row["status"], old_row["error_message"]) == ("failed", INTERRUPTED)
        assert (await runner.execution(str(ids["recent"])))["status"] == "running"


class TestStorageGivesUp:
    async def test_a_run_whose_row_is_deleted_ends_instead_of_retrying_forever(
        self, runner: Runner, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Its workflow deleted mid-run, the run's events cannot be stored (no row): they
        are retried for a while, then dropped, and the run's task ends."""
        import express.runtime
        from express.runner import runner_of

        monkeypatch.setattr(express.runtime, "STORE_PATIENCE", 0.5)
        nap = {"id": "nap", "type": "sleep", "with": {"duration": "1s"}}
        workflow_id = await runner.create({"execution_mode": "express", "steps": [nap]})
        started = await runner.execute(workflow_id, {}, async_mode=True)
        execution_id = started.json()["execution_id"]
        await runner.wait_until(execution_id, lambda e: e["status"] == "running")
        deleted = await runner.client.delete(
            f"/api/v1/workflows/{workflow_id}", headers=runner.headers
        )
        assert deleted.status_code == 204, deleted.text
        await eventually(
            _async(lambda: runner_of(execution_id) is None),
            timeout=15,
            what="the express run's task to end",
        )


def _async(check: Callable[[], bool]) -> Callable[[], Any]:
    async def call() -> bool:
        return check()

    return call
