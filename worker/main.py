"""Worker assembly: clients in, ``Worker`` out. No business logic lives here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.definitions import DefinitionActivities
from activities.events import EventActivities, EventRecorder, Publisher
from activities.http import HttpActivities
from activities.n8n import DbIntegrationResolver, N8nActivities
from activities.progress import report_http_bytes
from activities.secrets import SecretLookup, SecretResolver
from activities.steps import StepActivities
from activities.storage import StorageActivities
from core.connections import ConnectionApplier, DbConnectionResolver
from core.encryption import Encryptor
from core.events import EventSink, build_event_bus
from core.network_guard import build_http_client
from core.secrets import SecretVault
from core.settings import Settings, SettingsError
from core.storage import ObjectStore, build_object_store
from db.session import create_engine, create_session_factory
from temporal_workflows.interpreter import HeadraceRun
from temporal_workflows.scheduled import HeadraceScheduledRun

# Pure, deterministic modules the interpreter uses: the sandbox re-imports every other
# module for each new workflow run (compiling it again where no bytecode cache is written),
# so importing these once, outside it, keeps a run's first task cheap and lets their
# template caches serve every run. Only modules without I/O, clocks, randomness or
# per-run state belong here; the workflow modules themselves stay sandboxed.
PASSTHROUGH_MODULES = (
    "jinja2",
    "markupsafe",
    "pydantic",
    "pydantic_core",
    "jsonschema",
    "annotated_types",
    "typing_extensions",
    "temporal_workflows.definition",
    "temporal_workflows.definition_checks",
    "temporal_workflows.durations",
    "temporal_workflows.expressions",
    "temporal_workflows.retry",
    "temporal_workflows.run_types",
    "temporal_workflows.expression_sandbox",
    "temporal_workflows.secret_markers",
    "temporal_workflows.step_types",
    "temporal_workflows.template_analysis",
    "temporal_workflows.templates",
    "temporal_workflows.validation",
)


SHUTDOWN_GRACE = timedelta(seconds=10)


def workflow_runner() -> SandboxedWorkflowRunner:
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    return SandboxedWorkflowRunner(restrictions=restrictions)


@dataclass
class WorkerResources:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    http_client: httpx.AsyncClient
    publish: Publisher | None = None  # live delivery of recorded events (the event bus)
    secrets: SecretLookup | None = None  # secret values for `secrets.<name>`
    store: ObjectStore | None = None  # artifacts of `storage` steps
    inline_limit: int | None = None  # event data above this is stored as a preview
    encryptor: Encryptor | None = None  # decrypts integration credentials (n8n steps)


@asynccontextmanager
async def worker_resources(
    settings: Settings, bus: EventSink | None = None
) -> AsyncIterator[WorkerResources]:
    """Database, HTTP client, event bus and secret vault of a worker.

    ``bus`` is where events go live when the caller has one (the API's bus in tests that run
    both in one process, the pipe to the API in ``headrace dev``); otherwise the worker
    publishes to Redis when ``HEADRACE_REDIS_URL`` is set, and to nobody when it is not
    (readers then poll the database).
    """
    engine = create_engine(settings.effective_database_url, serialize_writes=True)
    http_client = build_http_client(
        allow_private_networks=settings.private_networks_allowed,
        local_ports_refused=settings.headrace_ports,
    )
    sessions = create_session_factory(engine)
    own_bus = build_event_bus(settings) if bus is None and settings.redis_url else None
    publisher = bus or own_bus
    vault = SecretVault(sessions, Encryptor(settings.signing_key)) if settings.secret_key else None
    try:
        yield WorkerResources(
            engine,
            sessions,
            http_client,
            publish=publisher.publish if publisher is not None else None,
            secrets=vault.values if vault is not None else None,
            store=build_object_store(settings),
            inline_limit=settings.inline_limit,
            encryptor=Encryptor(settings.signing_key) if settings.secret_key else None,
        )
    finally:
        if own_bus is not None:
            await own_bus.aclose()
        await http_client.aclose()
        await engine.dispose()


def build_worker(
    client: Client, task_queue: str, resources: WorkerResources, publish: Publisher | None = None
) -> Worker:
    """The worker that runs the interpreter workflow and every step activity."""
    recorder = EventRecorder(
        resources.sessions, publish or resources.publish, inline_limit=resources.inline_limit
    )
    http = HttpActivities(resources.http_client, on_progress=report_http_bytes)
    encryptor = _encryptor(resources)
    integrations = DbIntegrationResolver(resources.sessions, encryptor)
    connections = ConnectionApplier(
        DbConnectionResolver(resources.sessions, encryptor), resources.http_client
    )
    secrets = SecretResolver(resources.secrets)
    steps = StepActivities(http, recorder, secrets, connections)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[HeadraceRun, HeadraceScheduledRun],
        activities=[
            EventActivities(recorder).record_events,
            steps.run_http_step,
            StorageActivities(resources.store).run_storage_step,
            N8nActivities(resources.http_client, integrations, secrets).run_n8n_step,
            DefinitionActivities(resources.sessions).load_child_definition,
        ],
        workflow_runner=workflow_runner(),
        # On SIGTERM, running activities get this long to finish before they are cancelled
        # (and retried elsewhere); a rolling restart then loses no attempt in flight.
        graceful_shutdown_timeout=SHUTDOWN_GRACE,
    )


def _encryptor(resources: WorkerResources) -> Encryptor:
    if resources.encryptor is None:
        raise SettingsError("HEADRACE_SECRET_KEY is needed to read integration credentials")
    return resources.encryptor
