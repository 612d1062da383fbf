"""Prometheus metrics: API-side counters, database gauges, worker metrics from events, ids."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from temporalio.testing import WorkflowEnvironment

import activities.events
from activities.metrics import observe_events
from api.metrics import (
    ExecutionGauges,
    count_webhook,
    observe_bus_lag,
    track_stream_subscriber,
)
from api.services.analytics import active_execution_counts
from db.models import Execution
from tests.workflows.conftest import Runner


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scraped(body: str, name: str, **labels: str) -> float | None:
    """The value of ``name{labels}`` in Prometheus text, or None when absent."""
    rendered = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = re.escape(f"{name}{{{rendered}}}" if labels else name) + r" ([0-9.e+-]+)$"
    match = re.search(pattern, body, re.MULTILINE)
    return float(match.group(1)) if match else None


class TestApiCounters:
    async def test_webhook_outcomes_are_counted_and_unknown_ones_bounded(
        self, client: httpx.AsyncClient
    ) -> None:
        before = sample("headrace_webhook_requests_total", outcome="accepted")
        other = sample("headrace_webhook_requests_total", outcome="other")
        count_webhook("accepted")
        count_webhook("accepted")
        count_webhook("a-value-nobody-planned-for")
        body = (await client.get("/metrics")).text
        assert scraped(body, "headrace_webhook_requests_total", outcome="accepted") == before + 2
        assert scraped(body, "headrace_webhook_requests_total", outcome="other") == other + 1

    async def test_bus_lag_is_a_histogram_and_clock_skew_counts_as_zero(self) -> None:
        count = sample("headrace_event_bus_lag_seconds_count")
        zero_bucket = sample("headrace_event_bus_lag_seconds_bucket", le="0.001")
        observe_bus_lag(0.2)
        observe_bus_lag(-3)
        assert sample("headrace_event_bus_lag_seconds_count") == count + 2
        assert sample("headrace_event_bus_lag_seconds_bucket", le="0.001") == zero_bucket + 1

    async def test_stream_subscribers_count_only_while_connected(self) -> None:
        before = sample("headrace_stream_subscribers", transport="ws")
        with track_stream_subscriber("ws"):
            assert sample("headrace_stream_subscribers", transport="ws") == before + 1
        assert sample("headrace_stream_subscribers", transport="ws") == before


class TestActiveExecutionGauges:
    async def test_metrics_report_unfinished_executions_counted_in_the_database(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        async with app.state.ctx.sessions() as session:
            expected = await active_execution_counts(session)
        body = (await client.get("/metrics")).text
        for status in ("pending", "queued", "running", "waiting", "paused"):
            assert scraped(body, "headrace_executions_active", status=status) is not None
        assert scraped(body, "headrace_runs_queued") is not None
        assert scraped(body, "headrace_executions_active_stale") == 0
        assert (scraped(body, "headrace_executions_active", status="waiting") or 0) >= 0
        assert set(expected) <= {"pending", "queued", "running", "waiting", "paused"}

    async def test_counts_follow_the_rows(self, app: FastAPI, seeded_workflow: str) -> None:
        async def load() -> dict[str, int]:
            async with app.state.ctx.sessions() as session:
                return await active_execution_counts(session)

        gauges = ExecutionGauges(load, ttl=0)
        await gauges.refresh()
        before = _family_values(gauges)
        ids = await _insert(app, seeded_workflow, ["waiting", "waiting", "paused", "completed"])
        try:
            await gauges.refresh()
            after = _family_values(gauges)
        finally:
            await _delete(app, ids)
        assert after["waiting"] - before["waiting"] == 2
        assert after["paused"] - before["paused"] == 1

    async def test_queued_runs_have_their_own_gauge(
        self, app: FastAPI, seeded_workflow: str
    ) -> None:
        """headrace_runs_queued: runs waiting for a permit of their concurrency limit."""

        async def load() -> dict[str, int]:
            async with app.state.ctx.sessions() as session:
                return await active_execution_counts(session)

        gauges = ExecutionGauges(load, ttl=0)
        await gauges.refresh()
        before = _family_values(gauges)
        ids = await _insert(app, seeded_workflow, ["queued", "queued", "running"])
        try:
            await gauges.refresh()
            after = _family_values(gauges)
        finally:
            await _delete(app, ids)
        assert after["headrace_runs_queued"] - before["headrace_runs_queued"] == 2
        assert after["queued"] - before["queued"] == 2

    async def test_scrapes_within_the_ttl_share_one_query(self) -> None:
        calls = 0

        async def load() -> dict[str, int]:
            nonlocal calls
            calls += 1
            return {"running": 4}

        gauges = ExecutionGauges(load, ttl=60)
        await asyncio.gather(gauges.refresh(), gauges.refresh(), gauges.refresh())
        assert calls == 1
        assert _family_values(gauges)["running"] == 4

    async def test_a_failing_count_keeps_the_last_figures_and_says_they_are_stale(self) -> None:
        answers: list[dict[str, int] | Exception] = [{"waiting": 2}, ConnectionError("db down")]

        async def load() -> dict[str, int]:
            answer = answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer

        gauges = ExecutionGauges(load, ttl=0)
        await gauges.refresh()
        await gauges.refresh()
        assert _family_values(gauges)["waiting"] == 2
        assert _family_values(gauges)["stale"] == 1


def _family_values(gauges: ExecutionGauges) -> dict[str, float]:
    values: dict[str, float] = {}
    for family in gauges.collect():
        for s in family.samples:
            values[s.labels.get("status", s.name.removeprefix("headrace_executions_active_"))] = (
                s.value
            )
    return values


@pytest.fixture
async def seeded_workflow(runner: Runner) -> str:
    return await runner.create({"steps": [{"id": "a", "type": "transform", "with": {}}]})


async def _insert(app: FastAPI, workflow_id: str, statuses: list[str]) -> list[uuid.UUID]:
    created = datetime(2002, 1, 1, tzinfo=UTC)
    rows = []
    for status in statuses:
        execution_id = uuid.uuid4()
        rows.append(
            Execution(
                id=execution_id,
                temporal_workflow_id=str(execution_id),
                workflow_id=uuid.UUID(workflow_id),
                version=1,
                status=status,
                created_at=created,
            )
        )
    async with app.state.ctx.sessions() as session:
        session.add_all(rows)
        await session.commit()
    return [r.id for r in rows]


async def _delete(app: FastAPI, ids: list[uuid.UUID]) -> None:
    async with app.state.ctx.sessions() as session:
        for execution_id in ids:
            row = await session.get(Execution, execution_id)
            if row is not None:
                await session.delete(row)
        await session.commit()


def _events(
    execution_id: str, *events: tuple[str, str | None, dict[str, Any], float]
) -> list[dict[str, Any]]:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    messages = []
    for kind, step_id, data, offset in events:
        message: dict[str, Any] = {
            "type": kind,
            "execution_id": execution_id,
            "ts": (base + timedelta(seconds=offset)).isoformat(),
            "data": data,
        }
        if step_id:
            message["step_id"] = step_id
            message["attempt"] = data.pop("attempt", 1)
        messages.append(message)
    return messages


class TestWorkerMetricsFromEvents:
    def test_executions_are_counted_by_trigger_type_and_outcome(self) -> None:
        started = sample("headrace_executions_started_total", trigger_type="webhook")
        failed = sample(
            "headrace_executions_finished_total", trigger_type="webhook", outcome="failed"
        )
        run = str(uuid.uuid4())
        observe_events(
            _events(
                run,
                ("execution.started", None, {}, 0),
                ("execution.failed", None, {"error": "x"}, 1),
            ),
            trigger_type="webhook",
        )
        assert sample("headrace_executions_started_total", trigger_type="webhook") == started + 1
        assert (
            sample("headrace_executions_finished_total", trigger_type="webhook", outcome="failed")
            == failed + 1
        )

    def test_an_unplanned_trigger_type_is_reported_as_other(self) -> None:
        before = sample("headrace_executions_started_total", trigger_type="other")
        observe_events(
            _events(str(uuid.uuid4()), ("execution.started", None, {}, 0)),
            trigger_type="carrier-pigeon",
        )
        assert sample("headrace_executions_started_total", trigger_type="other") == before + 1

    def test_step_duration_and_attempts_by_type_and_outcome(self) -> None:
        labels = {"step_type": "http", "outcome": "completed"}
        count = sample("headrace_step_duration_seconds_count", **labels)
        total = sample("headrace_step_duration_seconds_sum", **labels)
        attempts = sample("headrace_step_attempts_sum", **labels)
        retries = sample("headrace_step_retries_total", step_type="http")
        run = str(uuid.uuid4())
        observe_events(
            _events(
                run,
                ("step.started", "fetch", {"step_type": "http"}, 0),
                ("step.retrying", "fetch", {"step_type": "http", "attempt": 1}, 1),
            )
        )
        # The end arrives in a later batch, as it does when an activity runs in between.
        observe_events(
            _events(run, ("step.completed", "fetch", {"step_type": "http", "attempt": 2}, 2.5))
        )
        assert sample("headrace_step_duration_seconds_count", **labels) == count + 1
        assert sample("headrace_step_duration_seconds_sum", **labels) == pytest.approx(total + 2.5)
        assert sample("headrace_step_attempts_sum", **labels) == attempts + 2
        assert sample("headrace_step_retries_total", step_type="http") == retries + 1

    def test_a_duration_given_by_the_interpreter_wins(self) -> None:
        labels = {"step_type": "transform", "outcome": "failed"}
        total = sample("headrace_step_duration_seconds_sum", **labels)
        observe_events(
            _events(
                str(uuid.uuid4()),
                ("step.failed", "t", {"step_type": "transform", "duration_seconds": 0.75}, 9),
            )
        )
        assert sample("headrace_step_duration_seconds_sum", **labels) == pytest.approx(total + 0.75)

    def test_skipped_steps_are_counted_without_a_duration(self) -> None:
        finished = sample("headrace_steps_finished_total", step_type="unknown", outcome="skipped")
        observe_events(_events(str(uuid.uuid4()), ("step.skipped", "s", {}, 0)))
        assert (
            sample("headrace_steps_finished_total", step_type="unknown", outcome="skipped")
            == finished + 1
        )


wired = "observe_events" in vars(activities.events)


@pytest.mark.skipif(
    not wired, reason="EventRecorder.record does not call observe_events yet (lead's wiring)"
)
class TestMetricsAfterARealRun:
    async def test_a_run_moves_the_execution_and_step_counters(self, runner: Runner) -> None:
        started = sample("headrace_executions_started_total", trigger_type="manual")
        completed = sample(
            "headrace_executions_finished_total", trigger_type="manual", outcome="completed"
        )
        steps = _finished_steps("completed")
        execution = await runner.run(
            {
                "steps": [
                    {"id": "a", "type": "transform", "with": {"v": 1}},
                    {"id": "b", "type": "transform", "depends_on": ["a"], "with": {"v": 2}},
                ]
            }
        )
        assert execution["status"] == "completed"
        assert sample("headrace_executions_started_total", trigger_type="manual") >= started + 1
        assert (
            sample("headrace_executions_finished_total", trigger_type="manual", outcome="completed")
            >= completed + 1
        )
        assert _finished_steps("completed") >= steps + 2


def _finished_steps(outcome: str) -> float:
    return sum(
        s.value
        for family in REGISTRY.collect()
        if family.name == "headrace_steps_finished"
        for s in family.samples
        if s.name == "headrace_steps_finished_total" and s.labels.get("outcome") == outcome
    )


class TestRequestIds:
    async def test_a_given_request_id_is_echoed(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
        assert response.headers["X-Request-ID"] == "abc-123"

    async def test_a_missing_or_unsafe_request_id_is_replaced_by_a_fresh_one(
        self, client: httpx.AsyncClient
    ) -> None:
        plain = await client.get("/healthz")
        unsafe = await client.get(
            "/healthz", headers={"X-Request-ID": "has spaces; and <tags>" + "x" * 200}
        )
        assert re.fullmatch(r"[0-9a-f]{32}", plain.headers["X-Request-ID"])
        assert re.fullmatch(r"[0-9a-f]{32}", unsafe.headers["X-Request-ID"])
        assert plain.headers["X-Request-ID"] != unsafe.headers["X-Request-ID"]

    async def test_errors_carry_the_request_id_too(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/v1/workflows", headers={"X-Request-ID": "req-401"})
        assert response.status_code == 401
        assert response.headers["X-Request-ID"] == "req-401"

    async def test_the_run_started_by_a_request_carries_its_id_in_the_temporal_memo(
        self, runner: Runner, temporal_env: WorkflowEnvironment
    ) -> None:
        workflow_id = await runner.create({"steps": [{"id": "a", "type": "transform", "with": {}}]})
        response = await runner.client.post(
            f"/api/v1/workflows/{workflow_id}/execute",
            json={"async_mode": True},
            headers={**runner.headers, "X-Request-ID": "trace-me-42"},
        )
        assert response.status_code == 202, response.text
        handle = temporal_env.client.get_workflow_handle(response.json()["execution_id"])
        description = await handle.describe()
        assert await description.memo_value("request_id") == "trace-me-42"
