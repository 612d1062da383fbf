"""Analytics: exact figures on a seeded data set, on SQLite and PostgreSQL.

The data set lives in January 2001, a window no other test writes to, so the session's
shared database does not disturb the expected numbers.

    workflow A (dev1, private): completed in 1, 2, 3, 4, 10 s; 2 failed   (2001-01-01)
                                1 cancelled, 1 running                    (2001-01-02)
    workflow B (dev2, shared):  completed in 0.5, 1.5, 2.5 s; 1 failed    (2001-01-02)
    workflow C (dev2, private): completed in 100, 200 s                   (2001-01-02)
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from api.services import analytics
from db.models import Execution, ExecutionLog, execution_stats
from tests.conftest import PASSWORD, login
from tests.support.runner import Runner

DAY1 = datetime(2001, 1, 1, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)
WINDOW = {"since": "2001-01-01T00:00:00Z", "until": "2001-01-03T00:00:00Z"}
DEFINITION = {"steps": [{"id": "a", "type": "transform", "with": {}}]}


# The completed runs of workflows A and B in the seeded data, computed by hand.
A_AND_B_DURATIONS = {
    "count": 8,
    "p50": 2.25,
    "p95": 7.9,
    "p99": 9.58,
    "avg": 3.062,
    "max": 10.0,
    "exact": True,
}


@dataclass
class Seeded:
    a: str
    b: str
    c: str
    dev1: dict[str, str]
    dev2: dict[str, str]
    user: dict[str, str]


def _execution(
    workflow_id: str, status: str, created: datetime, seconds: float | None
) -> Execution:
    execution_id = uuid.uuid4()
    started = created + timedelta(seconds=1)
    ended = started + timedelta(seconds=seconds) if seconds is not None else None
    return Execution(
        id=execution_id,
        temporal_workflow_id=str(execution_id),
        workflow_id=uuid.UUID(workflow_id),
        version=1,
        status=status,
        created_at=created,
        started_at=started,
        completed_at=ended if status != "running" else None,
    )


def _step_events(execution: Execution, step_id: str, *starts_and_end: float) -> list[ExecutionLog]:
    """A step started at each offset but the last (retries), and ended at the last."""
    assert execution.started_at is not None
    *starts, end = starts_and_end
    events = [("step.started", s) for s in starts] + [("step.completed", end)]
    return [
        ExecutionLog(
            execution_id=execution.id,
            seq=seq,
            dedupe_key=f"t:{seq}",
            type=kind,
            step_id=step_id,
            ts=execution.started_at + timedelta(seconds=offset),
        )
        for seq, (kind, offset) in enumerate(events, start=1)
    ]


async def _workflow(client: httpx.AsyncClient, headers: dict[str, str], **fields: Any) -> str:
    body = {"name": fields.pop("name"), "definition": DEFINITION, "triggers": [], **fields}
    response = await client.post("/api/v1/workflows", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.fixture(scope="session")
async def seeded(app: FastAPI) -> Seeded:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        admin = await login(client, "admin@example.com")
        dev1, dev2, user = [
            await _user(client, admin, r) for r in ("developer", "developer", "user")
        ]
        a = await _workflow(client, dev1, name="A")
        b = await _workflow(client, dev2, name="B", shared=True)
        c = await _workflow(client, dev2, name="C")
    at = DAY1 + timedelta(hours=10)
    rows = [
        _execution(a, "completed", at + timedelta(minutes=i), s)
        for i, s in enumerate([1, 2, 3, 4, 10])
    ]
    rows += [_execution(a, "failed", DAY1 + timedelta(hours=11, minutes=i), 1) for i in range(2)]
    rows += [_execution(a, "cancelled", DAY2, 5), _execution(a, "running", DAY2, None)]
    b_rows = [_execution(b, "completed", DAY2 + timedelta(hours=3), s) for s in (0.5, 1.5, 2.5)]
    b_rows.append(_execution(b, "failed", DAY2 + timedelta(hours=4), 1))
    c_rows = [_execution(c, "completed", DAY2 + timedelta(hours=5), s) for s in (100, 200)]
    logs = [
        *_step_events(rows[0], "fetch", 0, 2),
        *_step_events(rows[1], "fetch", 0, 1, 4),  # retried: measured from the last start
        *_step_events(b_rows[0], "calc", 0, 0.5),
        *_step_events(c_rows[0], "slow", 0, 50),
    ]
    async with app.state.ctx.sessions() as session:
        session.add_all([*rows, *b_rows, *c_rows])
        await session.flush()
        session.add_all(logs)
        await session.commit()
    return Seeded(a, b, c, dev1, dev2, user)


async def _user(client: httpx.AsyncClient, admin: dict[str, str], role: str) -> dict[str, str]:
    email = f"analytics-{role}-{uuid.uuid4().hex[:8]}@example.com"
    body = {"email": email, "password": PASSWORD, "role": role, "name": role}
    response = await client.post("/api/v1/users", json=body, headers=admin)
    assert response.status_code == 201, response.text
    return await login(client, email)


async def _summary(
    client: httpx.AsyncClient, headers: dict[str, str], **params: str
) -> dict[str, Any]:
    response = await client.get(
        "/api/v1/analytics/summary", params={**WINDOW, **params}, headers=headers
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def _zero_counts(**counts: int) -> dict[str, int]:
    statuses = (
        "pending",
        "queued",
        "running",
        "waiting",
        "paused",
        "completed",
        "failed",
        "cancelled",
    )
    return {s: counts.get(s, 0) for s in statuses}


class TestSummaryForAnAdmin:
    async def test_counts_every_status_and_the_success_rate(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str], seeded: Seeded
    ) -> None:
        body = await _summary(client, admin_headers)
        assert body["total"] == 15
        assert body["counts"] == _zero_counts(completed=10, failed=3, cancelled=1, running=1)
        assert body["success_rate"] == round(10 / 13, 4)

    async def test_duration_percentiles_interpolate_between_ranks(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str], seeded: Seeded
    ) -> None:
        body = await _summary(client, admin_headers)
        assert body["durations"] == {
            "count": 10,
            "p50": 2.75,
            "p95": 155.0,
            "p99": 191.0,
            "avg": 32.45,
            "max": 200.0,
            "exact": True,
        }
        by_name = {w["name"]: w for w in body["workflows"]}
        assert by_name["A"]["durations"] == {
            "count": 5,
            "p50": 3.0,
            "p95": 8.8,
            "p99": 9.76,
            "avg": 4.0,
            "max": 10.0,
            "exact": True,
        }
        assert by_name["B"]["durations"] == {
            "count": 3,
            "p50": 1.5,
            "p95": 2.4,
            "p99": 2.48,
            "avg": 1.5,
            "max": 2.5,
            "exact": True,
        }
        assert by_name["C"]["durations"] == {
            "count": 2,
            "p50": 150.0,
            "p95": 195.0,
            "p99": 199.0,
            "avg": 150.0,
            "max": 200.0,
            "exact": True,
        }

    async def test_workflows_are_listed_busiest_first_with_their_own_counts(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str], seeded: Seeded
    ) -> None:
        body = await _summary(client, admin_headers)
        assert [(w["name"], w["total"]) for w in body["workflows"]] == [
            ("A", 9),
            ("B", 4),
            ("C", 2),
        ]
        a = body["workflows"][0]
        assert a["workflow_id"] == seeded.a
        assert a["counts"] == _zero_counts(completed=5, failed=2, cancelled=1, running=1)
        assert a["success_rate"] == round(5 / 7, 4)

    async def test_runs_over_time_by_day(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str], seeded: Seeded
    ) -> None:
        body = await _summary(client, admin_headers, bucket="day")
        assert body["timeline"] == [
            {"start": "2001-01-01T00:00:00Z", "total": 7, "completed": 5, "failed": 2},
            {"start": "2001-01-02T00:00:00Z", "total": 8, "completed": 5, "failed": 1},
        ]

    async def test_runs_over_time_by_hour_include_empty_hours(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str], seeded: Seeded
    ) -> None:
        body = await _summary(client, admin_headers, bucket="hour")
        timeline = body["timeline"]
        assert len(timeline) == 48
        busy = {
            t["start"]: (t["total"], t["completed"], t["failed"]) for t in timeline if t["total"]
        }
        assert busy == {
            "2001-01-01T10:00:00Z": (5, 5, 0),
            "2001-01-01T11:00:00Z": (2, 0, 2),
            "2001-01-02T00:00:00Z": (2, 0, 0),
            "2001-01-02T03:00:00Z": (3, 3, 0),
            "2001-01-02T04:00:00Z": (1, 0, 1),
            "2001-01-02T05:00:00Z": (2, 2, 0),
        }

    async def test_slowest_steps_pair_each_end_with_its_latest_start(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str], seeded: Seeded
    ) -> None:
        body = await _summary(client, admin_headers)
        assert [
            (s["workflow_name"], s["step_id"], s["runs"], s["avg_seconds"], s["max_seconds"])
            for s in body["slowest_steps"]
        ] == [("C", "slow", 1, 50.0, 50.0), ("A", "fetch", 2, 2.5, 3.0), ("B", "calc", 1, 0.5, 0.5)]


class TestVisibility:
    async def test_a_developer_sees_own_and_shared_workflows_only(
        self, client: httpx.AsyncClient, seeded: Seeded
    ) -> None:
        body = await _summary(client, seeded.dev1)
        assert body["total"] == 13
        assert body["counts"] == _zero_counts(completed=8, failed=3, cancelled=1, running=1)
        assert body["success_rate"] == round(8 / 11, 4)
        assert body["durations"] == A_AND_B_DURATIONS
        assert {w["name"] for w in body["workflows"]} == {"A", "B"}
        assert {s["step_id"] for s in body["slowest_steps"]} == {"fetch", "calc"}

    async def test_a_user_sees_shared_workflows(
        self, client: httpx.AsyncClient, seeded: Seeded
    ) -> None:
        body = await _summary(client, seeded.user)
        assert [w["name"] for w in body["workflows"]] == ["B"]
        assert body["total"] == 4

    async def test_another_users_private_workflow_is_not_found(
        self, client: httpx.AsyncClient, seeded: Seeded
    ) -> None:
        response = await client.get(
            f"/api/v1/analytics/workflows/{seeded.c}", params=WINDOW, headers=seeded.dev1
        )
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"

    async def test_analytics_need_credentials(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/api/v1/analytics/summary")).status_code == 401


class TestWorkflowAnalytics:
    async def test_one_workflow_has_its_counts_durations_timeline_and_steps(
        self, client: httpx.AsyncClient, seeded: Seeded
    ) -> None:
        response = await client.get(
            f"/api/v1/analytics/workflows/{seeded.a}",
            params={**WINDOW, "bucket": "day"},
            headers=seeded.dev1,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["workflow"]["total"] == 9
        assert body["workflow"]["durations"]["p95"] == 8.8
        assert [t["total"] for t in body["timeline"]] == [7, 2]
        assert [(s["step_id"], s["avg_seconds"]) for s in body["slowest_steps"]] == [("fetch", 2.5)]

    async def test_a_window_without_runs_has_zero_counts_and_no_rates(
        self, client: httpx.AsyncClient, seeded: Seeded
    ) -> None:
        params = {"since": "2000-06-01T00:00:00Z", "until": "2000-06-02T00:00:00Z"}
        response = await client.get(
            f"/api/v1/analytics/workflows/{seeded.a}", params=params, headers=seeded.dev1
        )
        workflow = response.json()["workflow"]
        assert workflow["total"] == 0
        assert workflow["success_rate"] is None
        assert workflow["durations"] == {
            "count": 0,
            "p50": None,
            "p95": None,
            "p99": None,
            "avg": None,
            "max": None,
            "exact": True,
        }


class TestWindowValidation:
    async def test_since_after_until_is_a_422_at_since(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        params = {"since": "2001-01-03T00:00:00Z", "until": "2001-01-01T00:00:00Z"}
        response = await client.get(
            "/api/v1/analytics/summary", params=params, headers=admin_headers
        )
        assert response.status_code == 422
        assert [e["pointer"] for e in response.json()["errors"]] == ["/query/since"]

    async def test_an_unknown_bucket_is_a_422_at_bucket(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        response = await client.get(
            "/api/v1/analytics/summary", params={"bucket": "week"}, headers=admin_headers
        )
        assert response.status_code == 422
        assert [e["pointer"] for e in response.json()["errors"]] == ["/query/bucket"]

    async def test_too_many_buckets_is_a_422_at_bucket(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        params = {
            "since": "2000-01-01T00:00:00Z",
            "until": "2001-01-01T00:00:00Z",
            "bucket": "hour",
        }
        response = await client.get(
            "/api/v1/analytics/summary", params=params, headers=admin_headers
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["code"] == "too_many_buckets"

    async def test_a_malformed_since_is_a_422_at_since(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        response = await client.get(
            "/api/v1/analytics/summary", params={"since": "yesterday"}, headers=admin_headers
        )
        assert response.status_code == 422
        assert [e["pointer"] for e in response.json()["errors"]] == ["/query/since"]


class TestWindowsReadFromTheRollup:
    """Whole days and hours come from the rollup, partial hours from the executions table:
    the figures equal those computed from the rows, whatever the window's edges."""

    UNALIGNED = {"since": "2000-12-31T23:30:00Z", "until": "2001-01-02T04:30:00Z"}

    async def test_a_window_with_partial_hours_and_whole_days_counts_exactly(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str], seeded: Seeded
    ) -> None:
        body = await _summary(client, admin_headers, **self.UNALIGNED)
        assert body["total"] == 13  # everything of A and B; C's runs start at 05:00
        assert body["counts"] == _zero_counts(completed=8, failed=3, cancelled=1, running=1)
        assert body["success_rate"] == round(8 / 11, 4)
        assert body["durations"] == A_AND_B_DURATIONS
        assert [(t["total"], t["completed"], t["failed"]) for t in body["timeline"]] == [
            (0, 0, 0),
            (7, 5, 2),
            (6, 3, 1),
        ]

    async def test_a_window_starting_mid_hour_reads_that_hour_from_the_rows(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str], seeded: Seeded
    ) -> None:
        params = {"since": "2001-01-01T10:02:30Z", "until": "2001-01-02T04:30:00Z"}
        body = await _summary(client, admin_headers, **params, bucket="hour")
        assert body["counts"] == _zero_counts(completed=5, failed=3, cancelled=1, running=1)
        assert body["durations"]["count"] == 5
        assert body["durations"]["max"] == 10.0
        busy = {t["start"]: t["total"] for t in body["timeline"] if t["total"]}
        assert busy == {
            "2001-01-01T10:00:00Z": 2,
            "2001-01-01T11:00:00Z": 2,
            "2001-01-02T00:00:00Z": 2,
            "2001-01-02T03:00:00Z": 3,
            "2001-01-02T04:00:00Z": 1,
        }

    async def test_a_window_inside_one_hour(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str], seeded: Seeded
    ) -> None:
        params = {"since": "2001-01-01T10:02:30Z", "until": "2001-01-01T10:59:00Z"}
        body = await _summary(client, admin_headers, **params, bucket="hour")
        assert body["counts"] == _zero_counts(completed=2)
        assert (body["durations"]["p50"], body["durations"]["max"]) == (7.0, 10.0)

    @pytest.mark.parametrize(
        "window",
        [
            WINDOW,
            UNALIGNED,
            {"since": "2001-01-01T10:02:30Z", "until": "2001-01-02T04:30:00Z"},
        ],
    )
    async def test_estimated_percentiles_stay_within_the_stated_bound(
        self,
        client: httpx.AsyncClient,
        admin_headers: dict[str, str],
        seeded: Seeded,
        monkeypatch: pytest.MonkeyPatch,
        window: dict[str, str],
    ) -> None:
        exact = await _summary(client, admin_headers, **window)
        monkeypatch.setattr(analytics, "EXACT_PERCENTILES", 0)
        estimated = await _summary(client, admin_headers, **window)
        assert {k: v for k, v in exact.items() if k not in ("durations", "workflows")} == {
            k: v for k, v in estimated.items() if k not in ("durations", "workflows")
        }
        pairs = [(exact["durations"], estimated["durations"])] + [
            (e["durations"], s["durations"])
            for e, s in zip(exact["workflows"], estimated["workflows"], strict=True)
        ]
        for truth, guess in pairs:
            assert truth["exact"] and not guess["exact"]
            assert (guess["count"], guess["avg"], guess["max"]) == (
                truth["count"],
                truth["avg"],
                truth["max"],
            )
            for p in ("p50", "p95", "p99"):
                assert abs(guess[p] - truth[p]) <= truth[p] * (2**0.125 - 1) + 0.001, (p, truth)


class TestRunsThroughTheWorker:
    """Real runs: the event recorder's writes keep the rollup in step, retries included."""

    async def test_completed_failed_and_retried_runs_are_counted_once_each(
        self, client: httpx.AsyncClient, runner: Runner, app: FastAPI
    ) -> None:
        ok = await runner.create({"steps": [{"id": "a", "type": "transform", "with": {}}]})
        boom = await runner.create(
            {"steps": [{"id": "boom", "type": "fail", "with": {"message": "no"}}]}
        )
        runs = [(await runner.execute(w)).json()["execution_id"] for w in (ok, ok, boom)]
        retried = await runner.post(f"/api/v1/executions/{runs[2]}/retry", {})
        assert retried.status_code == 202, retried.text
        runs.append(retried.json()["execution_id"])
        ended = [
            await runner.wait_until(r, lambda e: e["status"] in ("completed", "failed"))
            for r in runs
        ]
        assert [e["status"] for e in ended] == ["completed", "completed", "failed", "failed"]
        async with app.state.ctx.sessions() as session:
            for workflow_id, status, runs_in_rollup in (
                (ok, "completed", 2),
                (boom, "failed", 2),
            ):
                rows = await session.execute(
                    select(execution_stats.c.runs).where(
                        execution_stats.c.grain == "day",
                        execution_stats.c.workflow_id == uuid.UUID(workflow_id),
                        execution_stats.c.status == status,
                    )
                )
                assert sum(rows.scalars()) == runs_in_rollup
        # A window of whole hours: read from the rollup alone.
        created = sorted(datetime.fromisoformat(e["created_at"]) for e in ended)
        since = created[0].replace(minute=0, second=0, microsecond=0)
        until = created[-1].replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        window = {"since": since.isoformat(), "until": until.isoformat(), "bucket": "hour"}
        body = (
            await client.get(
                f"/api/v1/analytics/workflows/{boom}", params=window, headers=runner.headers
            )
        ).json()
        assert body["workflow"]["counts"] == _zero_counts(failed=2)
        assert body["workflow"]["success_rate"] == 0.0
        body = (
            await client.get(
                f"/api/v1/analytics/workflows/{ok}", params=window, headers=runner.headers
            )
        ).json()
        assert body["workflow"]["counts"] == _zero_counts(completed=2)
        assert body["workflow"]["durations"]["count"] == 2
