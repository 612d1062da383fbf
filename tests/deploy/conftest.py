"""A real Temporal SDK runtime exporting Prometheus metrics, scraped once per session."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from core.settings import Settings
from tests.conftest import SECRET_KEY
from tests.support.ports import free_port
from worker.telemetry import build_runtime


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The production-process tests share one stack of subprocesses (module scope): keep them
    # on one xdist worker (`--dist loadgroup`), in file order.
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        if item.nodeid.startswith("tests/deploy/test_production_processes.py::"):
            item.add_marker(pytest.mark.xdist_group("production-processes"))
        elif item.nodeid.startswith("tests/deploy/test_outages.py::"):
            item.add_marker(pytest.mark.xdist_group("outages"))


@activity.defn
async def ping() -> str:
    return "pong"


@workflow.defn(sandboxed=False)
class PingWorkflow:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_activity(ping, start_to_close_timeout=timedelta(seconds=10))


@pytest.fixture(scope="session")
async def sdk_metrics_text(temporal_env: WorkflowEnvironment) -> str:
    """What the SDK exporter of a worker built by ``build_runtime`` serves after one run."""
    port = free_port()
    settings = Settings(
        environment="test", secret_key=SECRET_KEY, host="127.0.0.1", temporal_metrics_port=port
    )
    runtime = build_runtime(settings)
    assert runtime is not None
    address = temporal_env.client.service_client.config.target_host
    client = await Client.connect(address, runtime=runtime)
    queue = f"sdk-metrics-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[PingWorkflow],
        activities=[ping],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        await client.execute_workflow(
            PingWorkflow.run, id=queue, task_queue=queue, execution_timeout=timedelta(seconds=60)
        )
    async with httpx.AsyncClient() as http:
        response = await http.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    return response.text
