"""Limits of an http connection (``config.max_concurrency``, ``config.rate_limit``), shared by
every run that uses the connection, whichever workflow it belongs to.

The loopback service counts the requests it serves at once; it also notes when each came.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from tests.support.runner import Runner
from tests.support.target_server import TargetServer


async def _connection(runner: Runner, target: TargetServer, **limits: Any) -> str:
    name = f"limited-{uuid.uuid4().hex[:6]}"
    response = await runner.post(
        "/api/v1/integrations",
        {"type": "http", "name": name, "config": {"base_url": target.base_url, **limits}},
    )
    assert response.status_code == 201, response.text
    return name


def _fan_out(connection: str, path: str, items: int) -> dict[str, Any]:
    """One step calling the connection once per item, all items at once."""
    return {
        "steps": [
            {
                "id": "calls",
                "type": "http",
                "foreach": list(range(items)),
                "with": {"connection": connection, "path": path},
            }
        ]
    }


class TestMaxConcurrency:
    async def test_two_workflows_sharing_a_connection_with_max_one_never_overlap(
        self, runner: Runner, target: TargetServer
    ) -> None:
        group = uuid.uuid4().hex
        name = await _connection(runner, target, max_concurrency=1)
        first = await runner.create(_fan_out(name, f"/inflight/{group}/first?seconds=0.2", 3))
        second = await runner.create(_fan_out(name, f"/inflight/{group}/second?seconds=0.2", 3))
        started = await asyncio.gather(
            *(runner.execute(w, None, async_mode=True) for w in (first, second))
        )
        for response in started:
            assert response.status_code == 202, response.text
            execution_id = response.json()["execution_id"]
            await runner.wait_until(execution_id, lambda e: e["status"] == "completed", 60)
        assert target.peak[group] == 1
        assert target.peak[f"{group}/first"] == target.peak[f"{group}/second"] == 1

    async def test_max_concurrency_lets_that_many_through_together(
        self, runner: Runner, target: TargetServer
    ) -> None:
        group = uuid.uuid4().hex
        name = await _connection(runner, target, max_concurrency=2)
        execution = await runner.run(_fan_out(name, f"/inflight/{group}/all?seconds=0.5", 6))
        assert execution["status"] == "completed", execution
        assert 1 <= target.peak[group] <= 2

    async def test_a_burst_longer_than_temporals_update_cap_all_completes(
        self, runner: Runner, target: TargetServer
    ) -> None:
        """Temporal lets a workflow have 10 Updates in flight: 16 requests asking at once
        are asked again, not failed, and wait in the queue by query."""
        group = uuid.uuid4().hex
        name = await _connection(runner, target, max_concurrency=2)
        execution = await runner.run(_fan_out(name, f"/inflight/{group}/all?seconds=0.05", 16))
        assert execution["status"] == "completed", execution
        assert 1 <= target.peak[group] <= 2
        assert len([k for k, _ in target.arrivals if k == group]) == 16


class TestRateLimit:
    async def test_no_more_requests_in_a_window_than_the_rate_allows(
        self, runner: Runner, target: TargetServer
    ) -> None:
        name = await _connection(runner, target, rate_limit={"requests": 2, "per": "1s"})
        key = uuid.uuid4().hex
        before = time.time()
        execution = await runner.run(_fan_out(name, f"/inflight/{key}/r?seconds=0", 5))
        assert execution["status"] == "completed", execution
        arrivals = sorted(t for k, t in target.arrivals if k == key and t >= before)
        assert len(arrivals) == 5
        # Any three consecutive requests span a window (less the loopback's jitter).
        assert all(
            later - earlier > 0.9 for earlier, later in zip(arrivals, arrivals[2:], strict=False)
        )


class TestSettings:
    async def test_invalid_limits_are_422_with_pointers(self, runner: Runner) -> None:
        response = await runner.post(
            "/api/v1/integrations",
            {
                "type": "http",
                "name": f"bad-{uuid.uuid4().hex[:6]}",
                "config": {
                    "base_url": "https://api.example.com",
                    "max_concurrency": 0,
                    "rate_limit": {"requests": 5, "per": "500ms"},
                },
            },
        )
        assert response.status_code == 422, response.text
        pointers = {e["pointer"] for e in response.json()["errors"]}
        assert {"/config/max_concurrency", "/config/rate_limit/per"} <= pointers
