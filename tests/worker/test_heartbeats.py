"""Steps that run as local activities do not heartbeat: a local activity has no record on
the server to beat for, and sdk-core warns ("Activity heartbeat failed", UnknownActivity)
at every heartbeat of one: a line per chunk of every response body an http step read."""

from __future__ import annotations

import pytest

from tests.support.runner import Runner, steps_by_id
from tests.support.target_server import TargetServer


async def test_a_local_http_step_reads_its_body_without_failed_heartbeats(
    runner: Runner, target: TargetServer, capfd: pytest.CaptureFixture[str]
) -> None:
    capfd.readouterr()
    execution = await runner.run(
        {"steps": [{"id": "get", "type": "http", "with": {"url": f"{target.base_url}/echo"}}]}
    )
    assert execution["status"] == "completed"
    assert steps_by_id(execution)["get"]["output"]["status"] == 200
    out, err = capfd.readouterr()
    assert "Activity heartbeat failed" not in out + err
