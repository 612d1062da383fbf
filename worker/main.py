"""Worker assembly: clients in, ``Worker`` out. No business logic lives here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import Interceptor, PollerBehaviorSimpleMaximum, Worker, WorkerTuner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.events import Publisher
from activities.registry import (  # the resources are the worker's and express runs'
    WorkerResources,
    build_registry,
    code_limits,
    worker_resources,
)
from core.settings import Settings
from core.temporal_context import RunContextInterceptor
from temporal_workflows.concurrency import ConcurrencyGroup
from temporal_workflows.interpreter import HeadraceRun
from temporal_workflows.retention import HeadraceRetention
from temporal_workflows.scheduled import HeadraceScheduledRun
from temporal_workflows.step_test import HeadraceStepTest

__all__ = [
    "WorkerResources",
    "WorkerTuning",
    "build_worker",
    "code_limits",
    "worker_resources",
    "workflow_runner",
]

# Pure, deterministic modules the interpreter uses: the sandbox re-imports every other
# module for each new workflow run (compiling it again where no bytecode cache is written),
# so importing these once, outside it, keeps a run's first task cheap and lets their
# template caches serve every run. Only modules without I/O, clocks, randomness or
# per-run state belong here; the workflow modules themselves stay sandboxed.
PASSTHROUGH_MODULES = (
    "jinja2",
    "opentelemetry",  # the tracing interceptor's workflow side (HEADRACE_TRACING)
    "markupsafe",
    "pydantic",
    "pydantic_core",
    "jsonschema",
    "quickjs",
    "_quickjs",
    "annotated_types",
    "typing_extensions",
    "temporal_workflows.definition",
    "temporal_workflows.definition_checks",
    "temporal_workflows.durations",
    "temporal_workflows.expressions",
    "temporal_workflows.retry",
    "temporal_workflows.run_types",
    "temporal_workflows.expression_sandbox",
    "temporal_workflows.javascript",
    "temporal_workflows.secret_markers",
    "temporal_workflows.step_types",
    "temporal_workflows.template_analysis",
    "temporal_workflows.templates",
    "temporal_workflows.validation",
)


@dataclass(frozen=True)
class WorkerTuning:
    """Slots, pollers, sticky cache and drain time of a worker (``HEADRACE_WORKER_*``).

    ``None`` keeps the SDK's default. With both resource targets set, the SDK's
    resource-based tuner sizes the slots from the machine's memory and CPU instead.
    """

    max_concurrent_workflow_tasks: int | None = None
    max_concurrent_activities: int | None = None
    workflow_task_pollers: int | None = None
    activity_task_pollers: int | None = None
    max_cached_workflows: int | None = None
    target_memory: float | None = None
    target_cpu: float | None = None
    shutdown_grace: timedelta = timedelta(seconds=30)

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerTuning:
        return cls(
            max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
            max_concurrent_activities=settings.worker_max_concurrent_activities,
            workflow_task_pollers=settings.worker_workflow_task_pollers,
            activity_task_pollers=settings.worker_activity_task_pollers,
            max_cached_workflows=settings.worker_max_cached_workflows,
            target_memory=settings.worker_target_memory,
            target_cpu=settings.worker_target_cpu,
            shutdown_grace=timedelta(seconds=settings.worker_shutdown_grace),
        )

    def worker_options(self) -> dict[str, Any]:
        """Keyword arguments of :class:`Worker` (only those set: the rest keep SDK defaults)."""
        options: dict[str, Any] = {"graceful_shutdown_timeout": self.shutdown_grace}
        if self.target_memory is not None and self.target_cpu is not None:
            # The tuner owns slot counts; the SDK refuses both at once.
            options["tuner"] = WorkerTuner.create_resource_based(
                target_memory_usage=self.target_memory, target_cpu_usage=self.target_cpu
            )
        else:
            if self.max_concurrent_workflow_tasks is not None:
                options["max_concurrent_workflow_tasks"] = self.max_concurrent_workflow_tasks
            if self.max_concurrent_activities is not None:
                options["max_concurrent_activities"] = self.max_concurrent_activities
        if self.workflow_task_pollers is not None:
            options["workflow_task_poller_behavior"] = PollerBehaviorSimpleMaximum(
                self.workflow_task_pollers
            )
        if self.activity_task_pollers is not None:
            options["activity_task_poller_behavior"] = PollerBehaviorSimpleMaximum(
                self.activity_task_pollers
            )
        if self.max_cached_workflows is not None:
            options["max_cached_workflows"] = self.max_cached_workflows
        return options


def workflow_runner() -> SandboxedWorkflowRunner:
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    return SandboxedWorkflowRunner(restrictions=restrictions)


def build_worker(
    client: Client,
    task_queue: str,
    resources: WorkerResources,
    publish: Publisher | None = None,
    tuning: WorkerTuning | None = None,
    interceptors: Sequence[Interceptor] = (),
) -> Worker:
    """The worker that runs the interpreter workflow and every step activity.

    ``interceptors`` add to those of ``client`` (tracing is set on the client, whose
    interceptors that are also worker interceptors the SDK applies here by itself).
    """
    registry = build_registry(client, resources, publish)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[
            HeadraceRun,
            HeadraceScheduledRun,
            HeadraceRetention,
            HeadraceStepTest,
            ConcurrencyGroup,
        ],
        activities=registry.all(),
        workflow_runner=workflow_runner(),
        interceptors=[*_run_context(client), *interceptors],
        # On SIGTERM, running activities get tuning.shutdown_grace to finish before they are
        # cancelled (and retried elsewhere); a rolling restart then loses no attempt in flight.
        **(tuning or WorkerTuning()).worker_options(),
    )


def _run_context(client: Client) -> list[Interceptor]:
    # The API's client carries it already (and the SDK then applies it to this worker too);
    # a worker on a plain client still binds the execution id in its activities' logs.
    on_client = any(isinstance(i, RunContextInterceptor) for i in client.config()["interceptors"])
    return [] if on_client else [RunContextInterceptor()]
