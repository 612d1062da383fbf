"""With private networks allowed (``headrace dev``), steps still cannot call Headrace itself.

The Temporal Web UI and frontend have no login: a step that reached them could read every
run's history, or terminate runs that are not its own.
"""

from __future__ import annotations

import httpx
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from tests.conftest import UserFactory
from tests.support.runner import Runner, steps_by_id
from tests.support.target_server import TargetServer


class TestHeadracePorts:
    async def test_a_step_cannot_reach_the_temporal_frontend_on_loopback(
        self,
        client: httpx.AsyncClient,
        make_user: UserFactory,
        temporal_env: WorkflowEnvironment,
        target: TargetServer,
        settings: Settings,
    ) -> None:
        assert settings.private_networks_allowed
        frontend = temporal_env.client.service_client.config.target_host
        definition = {
            "steps": [
                {"id": "temporal", "type": "http", "on_error": "continue",
                 "with": {"url": f"http://{frontend}/"}},
                {"id": "elsewhere", "type": "http", "with": {"url": target.url("/echo")}},
            ]
        }  # fmt: skip
        run = await Runner(client, await make_user("developer")).run(definition)
        steps = steps_by_id(run)
        assert steps["temporal"]["status"] == "failed"
        assert "port of Headrace's own services" in (steps["temporal"]["error"] or "")
        assert steps["elsewhere"]["status"] == "completed"  # other local services still work

    def test_the_ports_are_the_api_temporal_and_metrics_unless_allowed(self) -> None:
        settings = Settings(
            environment="test",
            port=8100,
            temporal_address="127.0.0.1:7300",
            temporal_ui_port=8300,
            worker_metrics_port=9464,
        )
        assert settings.headrace_ports == {8100, 7300, 8300, 9464}
        allowed = settings.model_copy(update={"allow_headrace_ports": True})
        assert allowed.headrace_ports == frozenset()
