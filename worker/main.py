"""Worker assembly: clients in, ``Worker`` out. No business logic lives here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.definitions import DefinitionActivities
from activities.events import EventActivities, EventRecorder, Publisher
from activities.http import HttpActivities
from activities.network_guard import build_http_client
from activities.steps import StepActivities
from api.settings import Settings
from db.session import create_engine, create_session_factory
from temporal_workflows.interpreter import HeadraceRun

# Pure, deterministic libraries the interpreter uses: importing them once, outside the
# sandbox, keeps each workflow task cheap.
PASSTHROUGH_MODULES = (
    "jinja2",
    "markupsafe",
    "pydantic",
    "pydantic_core",
    "jsonschema",
    "annotated_types",
    "typing_extensions",
)


def workflow_runner() -> SandboxedWorkflowRunner:
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    return SandboxedWorkflowRunner(restrictions=restrictions)


@dataclass
class WorkerResources:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    http_client: httpx.AsyncClient


@asynccontextmanager
async def worker_resources(settings: Settings) -> AsyncIterator[WorkerResources]:
    engine = create_engine(settings.effective_database_url, serialize_writes=True)
    http_client = build_http_client(allow_private_networks=settings.private_networks_allowed)
    try:
        yield WorkerResources(engine, create_session_factory(engine), http_client)
    finally:
        await http_client.aclose()
        await engine.dispose()


def build_worker(
    client: Client, task_queue: str, resources: WorkerResources, publish: Publisher | None = None
) -> Worker:
    """The worker that runs the interpreter workflow and every step activity."""
    recorder = EventRecorder(resources.sessions, publish)
    steps = StepActivities(HttpActivities(resources.http_client), recorder)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[HeadraceRun],
        activities=[
            EventActivities(recorder).record_events,
            steps.run_http_step,
            DefinitionActivities(resources.sessions).load_child_definition,
        ],
        workflow_runner=workflow_runner(),
    )
