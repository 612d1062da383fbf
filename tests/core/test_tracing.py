"""One trace from an API request through Temporal to the step's outgoing HTTP call, and the
request id and execution id on the worker's log lines.

Spans are collected with OpenTelemetry's in-memory exporter; Temporal, the API (in-process,
through ASGI), the worker and the called service are real.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from api.app import create_app
from api.temporal_client import connect_temporal
from core.logging_config import ContextFilter, log_context, request_id_var
from core.settings import Settings
from core.temporal_context import RunContextInterceptor
from tests.conftest import login
from tests.support.target_server import TargetServer
from worker.main import build_worker, worker_resources


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    """The process's tracer provider (installed once: OpenTelemetry allows one) with an
    in-memory exporter of this module's own."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()


@pytest.fixture
async def traced(
    settings: Settings, spans: InMemorySpanExporter
) -> AsyncIterator[httpx.AsyncClient]:
    """API and worker of their own, with HEADRACE_TRACING on, on a task queue of their own."""
    traced_settings = settings.model_copy(
        update={"tracing": True, "task_queue": f"traced-{uuid.uuid4().hex[:8]}"}
    )
    client = await connect_temporal(traced_settings)
    async with (
        worker_resources(traced_settings) as resources,
        build_worker(client, traced_settings.task_queue, resources),
    ):
        app = create_app(traced_settings, temporal_client=client)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
                yield http


def _named(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    matches = [s for s in spans if s.name == name]
    assert matches, f"no span {name!r} in {sorted({s.name for s in spans})}"
    return matches[0]


class TestTraceAcrossApiTemporalAndActivity:
    async def test_an_execute_request_is_one_trace_down_to_the_steps_http_call(
        self, traced: httpx.AsyncClient, spans: InMemorySpanExporter, target: TargetServer
    ) -> None:
        headers = await login(traced, "admin@example.com")
        definition = {
            "steps": [{"id": "call", "type": "http", "with": {"url": target.url("/echo")}}]
        }
        created = await traced.post(
            "/api/v1/workflows", json={"name": "traced", "definition": definition}, headers=headers
        )
        assert created.status_code == 201, created.text
        spans.clear()
        run = await traced.post(
            f"/api/v1/workflows/{created.json()['id']}/execute", json={}, headers=headers
        )
        assert run.status_code == 200, run.text

        finished = list(spans.get_finished_spans())
        api = _named(finished, "POST /api/v1/workflows/{workflow_id}/execute")
        run_workflow = _named(finished, "RunWorkflow:HeadraceRun")
        run_activity = _named(finished, "RunActivity:run_http_step")
        assert api.context is not None and run_workflow.context is not None
        trace_id = api.context.trace_id
        assert run_workflow.context.trace_id == trace_id
        assert run_activity.context is not None and run_activity.context.trace_id == trace_id
        # The step's outgoing call is a client span of the same trace, and the called service
        # received the trace context (W3C traceparent).
        http_calls = [
            s
            for s in finished
            if s.kind == trace.SpanKind.CLIENT
            and s.context is not None
            and s.context.trace_id == trace_id
            and (s.attributes or {}).get("url.full", (s.attributes or {}).get("http.url"))
            == target.url("/echo")
        ]
        assert http_calls, [
            (s.name, s.attributes) for s in finished if s.kind == trace.SpanKind.CLIENT
        ]
        assert f"{trace_id:032x}" in target.received[-1]

    async def test_probes_are_not_traced(
        self, traced: httpx.AsyncClient, spans: InMemorySpanExporter
    ) -> None:
        spans.clear()
        assert (await traced.get("/readyz")).status_code == 200
        assert [s.name for s in spans.get_finished_spans()] == []


# --- the request id on the worker's log lines ---------------------------------------------

activity_logger = logging.getLogger("tests.some.library")


@activity.defn(name="log_something")
async def log_something() -> None:
    # Any logger, not only temporalio's activity.logger: the ids come from the context.
    activity_logger.warning("doing the work")


@workflow.defn(name="LogsInAnActivity")
class LogsInAnActivity:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity(log_something, start_to_close_timeout=timedelta(seconds=10))


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.addFilter(ContextFilter())
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class TestRequestIdInWorkerLogs:
    async def test_an_activity_log_line_names_the_request_and_the_execution(
        self, temporal_env: WorkflowEnvironment
    ) -> None:
        config = temporal_env.client.config()
        config["interceptors"] = [RunContextInterceptor()]
        client = Client(**config)  # as the API's client: the interceptor on the client
        task_queue = f"logs-{uuid.uuid4().hex[:8]}"
        handler = _Collect()
        activity_logger.addHandler(handler)
        try:
            async with Worker(
                client,
                task_queue=task_queue,
                workflows=[LogsInAnActivity],
                activities=[log_something],
                workflow_runner=UnsandboxedWorkflowRunner(),
            ):
                token = request_id_var.set("req-from-the-api")
                try:
                    await client.execute_workflow(
                        LogsInAnActivity.run, id="exec-42", task_queue=task_queue
                    )
                finally:
                    request_id_var.reset(token)
        finally:
            activity_logger.removeHandler(handler)
        (record,) = handler.records
        assert record.request_id == "req-from-the-api"
        assert record.execution_id == "exec-42"

    def test_outside_an_activity_a_bound_context_still_applies(self) -> None:
        handler = _Collect()
        activity_logger.addHandler(handler)
        try:
            with log_context(execution_id="bound"):
                activity_logger.warning("outside")
        finally:
            activity_logger.removeHandler(handler)
        assert handler.records[0].execution_id == "bound"
