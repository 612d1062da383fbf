"""`http` steps that name a connection: base URL and auth come from an `http` integration,
so no credential sits in the definition, and none comes back in the output."""

from __future__ import annotations

import uuid

from tests.support.runner import Runner, steps_by_id
from tests.support.target_server import TargetServer


async def create_connection(runner: Runner, base_url: str, token: str) -> str:
    name = f"echo-{uuid.uuid4().hex[:6]}"
    response = await runner.post(
        "/api/v1/integrations",
        {
            "type": "http",
            "name": name,
            "config": {"base_url": base_url, "auth": {"type": "bearer"}},
            "credentials": {"token": token},
        },
    )
    assert response.status_code == 201, response.text
    return name


class TestNamedConnections:
    async def test_the_connection_supplies_url_and_auth_and_the_token_is_redacted(
        self, runner: Runner, target: TargetServer
    ) -> None:
        token = f"tok-{uuid.uuid4().hex}"
        name = await create_connection(runner, target.base_url, token)
        execution = await runner.run(
            {
                "steps": [
                    {"id": "call", "type": "http", "with": {"connection": name, "path": "/echo"}}
                ]
            }
        )
        assert execution["status"] == "completed", execution
        echoed = steps_by_id(execution)["call"]["output"]["body"]["headers"]
        assert echoed["authorization"] == "Bearer ***"  # the server got it; nobody sees it
        assert token not in str(execution)

    async def test_an_unknown_connection_fails_the_step_at_once(self, runner: Runner) -> None:
        execution = await runner.run(
            {
                "steps": [
                    {
                        "id": "call",
                        "type": "http",
                        "retry": {"max_attempts": 3},
                        "with": {"connection": "nowhere", "path": "/x"},
                    }
                ]
            }
        )
        assert execution["status"] == "failed"
        step = steps_by_id(execution)["call"]
        assert "nowhere" in step["error"] and step["attempts"] == 1
