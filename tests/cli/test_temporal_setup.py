"""``headrace temporal setup`` and the start-up check: a production cluster needs Headrace's
search attributes once, and a worker started without them says what to run.

Each test gets its own bare Temporal dev server (no attributes registered), as a production
cluster is before its first deployment.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError
from typer.testing import CliRunner

from cli.devstack import temporal_binary, wait_for_temporal
from cli.main import app
from core.temporal_setup import (
    SearchAttributesMissing,
    ensure_search_attributes,
    missing_search_attributes,
)
from temporal_workflows.run_types import INTERPRETER_WORKFLOW
from temporal_workflows.visibility import (
    SEARCH_ATTRIBUTES,
    STATE,
    WORKFLOW_NAME,
    missing_registration_hint,
)
from tests.conftest import SECRET_KEY
from tests.support.ports import free_port

cli = CliRunner()


@pytest.fixture
def bare_temporal(tmp_path: Path) -> Iterator[str]:
    """A dev server on a free port with no custom search attribute: its address."""
    address = f"127.0.0.1:{free_port()}"
    host, port = address.split(":")
    command = [temporal_binary(), "server", "start-dev", "--headless", "--ip", host]
    command += ["--port", port, "--db-filename", str(tmp_path / "temporal.db")]
    process = subprocess.Popen(
        [*command, "--log-level", "error"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        asyncio.run(wait_for_temporal(address, timeout=60))
        yield address
    finally:
        process.terminate()
        process.wait(15)


def env_for(address: str, tmp_path: Path) -> dict[str, str]:
    return {
        "HEADRACE_TEMPORAL_ADDRESS": address,
        "HEADRACE_SECRET_KEY": SECRET_KEY,
        "HEADRACE_DATA_DIR": str(tmp_path),
        "HEADRACE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db",
        "HEADRACE_TASK_QUEUE": f"setup-{uuid.uuid4().hex[:8]}",
    }


async def problems_of(address: str) -> list[str]:
    return await missing_search_attributes(await Client.connect(address))


class TestProductionStartWithoutTheAttributes:
    def test_a_worker_refuses_to_start_and_names_the_command(
        self, bare_temporal: str, tmp_path: Path
    ) -> None:
        result = cli.invoke(app, ["worker"], env=env_for(bare_temporal, tmp_path))
        assert result.exit_code == 2, result.output
        assert "headrace temporal setup" in result.output
        assert "HeadraceWorkflowName is not registered" in " ".join(result.output.split())

    def test_the_servers_refusal_of_a_start_gets_the_same_hint(self, bare_temporal: str) -> None:
        async def refused_start() -> str:
            client = await Client.connect(bare_temporal)
            try:
                await client.start_workflow(
                    INTERPRETER_WORKFLOW,
                    id=str(uuid.uuid4()),
                    task_queue="nobody",
                    search_attributes=TypedSearchAttributes(
                        [SearchAttributePair(WORKFLOW_NAME, "x")]
                    ),
                )
            except RPCError as exc:
                return exc.message
            raise AssertionError("the server took a run with an unregistered attribute")

        message = asyncio.run(refused_start())
        assert "headrace temporal setup" in missing_registration_hint(message)


class TestTemporalSetup:
    def test_registers_every_attribute_once_then_does_nothing(
        self, bare_temporal: str, tmp_path: Path
    ) -> None:
        env = env_for(bare_temporal, tmp_path)
        first = cli.invoke(app, ["temporal", "setup"], env=env)
        assert first.exit_code == 0, first.output
        for key in SEARCH_ATTRIBUTES:
            assert key.name in first.output
        assert asyncio.run(problems_of(bare_temporal)) == []
        asyncio.run(_ensure(bare_temporal))  # what a worker checks at start now passes

        again = cli.invoke(app, ["temporal", "setup"], env=env)
        assert again.exit_code == 0, again.output
        assert "already has" in again.output

    def test_an_attribute_of_another_type_is_reported_not_changed(
        self, bare_temporal: str, tmp_path: Path
    ) -> None:
        asyncio.run(_register_state_as_int(bare_temporal))
        result = cli.invoke(app, ["temporal", "setup"], env=env_for(bare_temporal, tmp_path))
        assert result.exit_code == 2, result.output
        assert "HeadraceState is registered as INDEXED_VALUE_TYPE_INT" in " ".join(
            result.output.split()
        )
        problems = asyncio.run(problems_of(bare_temporal))
        assert any("HeadraceState is registered as" in p for p in problems)
        with pytest.raises(SearchAttributesMissing):
            asyncio.run(_ensure(bare_temporal))


async def _ensure(address: str) -> None:
    await ensure_search_attributes(await Client.connect(address))


async def _register_state_as_int(address: str) -> None:
    client = await Client.connect(address)
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(namespace=client.namespace, search_attributes={STATE.name: 3})
    )
