"""The step activities and the resources they use, built once per process.

The worker registers them with Temporal (``worker.main.build_worker``); an express run
calls the very same callables in-process (``express.runtime``). Both get the same SSRF
guard (the resources' HTTP client), secret resolution and redaction, connections and their
limits, and the same ``code`` sandbox.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.client import Client

from activities.code import CodeActivities, CodeLimits
from activities.concurrency import closed_holders, request_run_permit, send_run_permit_ask
from activities.definitions import DefinitionActivities
from activities.events import EventActivities, EventRecorder, Publisher
from activities.http import HttpActivities
from activities.llm import DbLlmConnections, LlmActivities
from activities.n8n import DbIntegrationResolver, N8nActivities
from activities.progress import report_http_bytes
from activities.retention import RetentionActivities
from activities.secrets import SecretLookup, SecretResolver
from activities.steps import StepActivities
from activities.storage import StorageActivities
from core.connection_limits import ConnectionGate
from core.connections import ConnectionApplier, DbConnectionResolver
from core.database import engine_for
from core.encryption import Encryptor
from core.events import EventSink, build_event_bus
from core.integrations import WorkflowIntegrations
from core.network_guard import build_http_client
from core.secrets import SecretVault
from core.settings import Settings, SettingsError
from core.storage import ObjectStore, build_object_store
from core.tracing import instrument_http_client
from db.session import create_session_factory


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
    code_limits: CodeLimits = field(default_factory=CodeLimits)  # `code` step sandbox
    redis_url: str | None = None  # where http connections' rate limits are counted
    concurrency_reclaim_seconds: float = 30.0  # HEADRACE_CONCURRENCY_RECLAIM_SECONDS
    # The recorders built on these resources (workers, express): flushed before the engine goes.
    recorders: list[EventRecorder] = field(default_factory=list)


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
    engine = engine_for(settings, serialize_writes=True)
    http_client = build_http_client(
        allow_private_networks=settings.private_networks_allowed,
        local_ports_refused=settings.headrace_ports,
    )
    instrument_http_client(http_client, settings)
    sessions = create_session_factory(engine)
    own_bus = build_event_bus(settings) if bus is None and settings.redis_url else None
    publisher = bus or own_bus
    vault = SecretVault(sessions, Encryptor(settings.signing_key)) if settings.secret_key else None
    resources: WorkerResources | None = None
    try:
        resources = WorkerResources(
            engine,
            sessions,
            http_client,
            publish=publisher.publish if publisher is not None else None,
            secrets=vault.values if vault is not None else None,
            store=build_object_store(settings),
            inline_limit=settings.inline_limit,
            encryptor=Encryptor(settings.signing_key) if settings.secret_key else None,
            code_limits=code_limits(settings),
            redis_url=settings.redis_url,
            concurrency_reclaim_seconds=settings.concurrency_reclaim_seconds,
        )
        yield resources
    finally:
        for recorder in resources.recorders if resources is not None else ():
            await recorder.aclose()
        if own_bus is not None:
            await own_bus.aclose()
        await http_client.aclose()
        await engine.dispose()


def code_limits(settings: Settings) -> CodeLimits:
    """The ``code`` step's sandbox limits from ``HEADRACE_CODE_*``."""
    return CodeLimits(
        timeout_seconds=settings.code_timeout,
        memory_bytes=settings.code_memory_mb * 1024 * 1024,
        max_output_bytes=settings.code_max_output,
        max_log_lines=settings.code_max_log_lines,
        max_log_line=settings.code_max_log_line,
        max_concurrency=settings.code_max_concurrency,
    )


@dataclass(frozen=True)
class ActivityRegistry:
    """Every activity of a process, by the name the interpreter calls it by."""

    recorder: EventRecorder
    code: CodeActivities
    activities: dict[str, Callable[..., Any]]

    def get(self, name: str) -> Callable[..., Any]:
        return self.activities[name]

    def all(self) -> Sequence[Callable[..., Any]]:
        return list(self.activities.values())


def build_registry(
    client: Client, resources: WorkerResources, publish: Publisher | None = None
) -> ActivityRegistry:
    recorder = EventRecorder(
        resources.sessions, publish or resources.publish, inline_limit=resources.inline_limit
    )
    resources.recorders.append(recorder)
    http = HttpActivities(resources.http_client, on_progress=report_http_bytes)
    encryptor = _encryptor(resources.encryptor)
    integrations = DbIntegrationResolver(resources.sessions, encryptor)
    connections = ConnectionApplier(
        DbConnectionResolver(resources.sessions, encryptor), resources.http_client
    )
    secrets = SecretResolver(resources.secrets)
    gate = ConnectionGate(
        client,
        redis_url=resources.redis_url,
        reclaim_seconds=resources.concurrency_reclaim_seconds,
    )
    steps = StepActivities(http, recorder, secrets, connections, gate)
    code = CodeActivities(recorder, resources.code_limits)
    llm_connections = DbLlmConnections(WorkflowIntegrations(resources.sessions, encryptor))
    llm = LlmActivities(resources.http_client, llm_connections, recorder, secrets)
    activities: dict[str, Callable[..., Any]] = {
        "record_events": EventActivities(recorder).record_events,
        "run_http_step": steps.run_http_step,
        "run_storage_step": StorageActivities(resources.store).run_storage_step,
        "run_n8n_step": N8nActivities(resources.http_client, integrations, secrets).run_n8n_step,
        "run_code_step": code.run_code_step,
        "run_llm_call": llm.run_llm_call,
        "load_child_definition": DefinitionActivities(resources.sessions).load_child_definition,
        "purge_expired_executions": RetentionActivities(
            resources.sessions, resources.store
        ).purge_expired_executions,
        "request_run_permit": request_run_permit,
        "send_run_permit_ask": send_run_permit_ask,
        "closed_holders": closed_holders,
    }
    return ActivityRegistry(recorder, code, activities)


def _encryptor(encryptor: Encryptor | None) -> Encryptor:
    if encryptor is None:
        raise SettingsError("HEADRACE_SECRET_KEY is needed to read integration credentials")
    return encryptor
