"""The data that crosses the workflow/activity boundary: one input type per call."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from temporal_workflows.definition import WorkflowDefinition

StepStatus = Literal["pending", "running", "waiting", "paused", "completed", "failed", "skipped"]
RunStatus = Literal[
    "pending", "queued", "running", "waiting", "paused", "completed", "failed", "cancelled"
]

INTERPRETER_WORKFLOW = "HeadraceRun"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UntilSegment(_Model):
    """One child run's share of a parent's ``until`` loop."""

    tries: int = Field(ge=1)
    # Every segment but the first carries on a loop that already tried: wait `interval` first.
    wait_first: bool = False
    # Where the segment's tries start in the whole loop, and the output of the try before
    # its first: what its templates see as `loop.index` and `loop.previous`.
    first_index: int = Field(0, ge=0)
    previous: Any = None


class UntilSegmentResult(_Model):
    """What an until segment's run returns as its output: the condition held, or not yet."""

    met: bool
    output: Any = None


class RunLimits(_Model):
    """Limits from the settings that the run enforces itself: workflow code cannot read
    settings, so the API puts them in the run's input and every child run inherits them."""

    # HEADRACE_MAX_CHILD_WORKFLOW_DEPTH: how deep `workflow` steps may nest runs.
    max_child_depth: int = Field(10, ge=0)
    # HEADRACE_MAX_FOREACH_ITEMS: the longest list a `foreach` may run over.
    max_foreach_items: int = Field(10_000, ge=1)
    # HEADRACE_LOCAL_STEP_MAX_TIMEOUT: I/O steps with a timeout up to this many seconds run
    # as local activities unless their `local` says otherwise (0: never).
    local_step_max_timeout_seconds: float = Field(300.0, ge=0)
    # HEADRACE_CONCURRENCY_RECLAIM_SECONDS: how often a concurrency limiter looks for
    # permit holders that closed without giving their permit back.
    concurrency_reclaim_seconds: float = Field(30.0, gt=0)


class RunInput(_Model):
    """Everything a run needs: the definition is already validated at the API edge."""

    execution_id: str
    workflow_id: str
    version: int
    definition: WorkflowDefinition
    input: Any = None
    variables: dict[str, Any] = Field(default_factory=dict)
    trigger_type: str = "manual"
    trigger_id: str | None = None
    # The time a schedule fired for (Temporal's TemporalScheduledStartTime), for `trigger`.
    scheduled_at: datetime | None = None
    created_by: str | None = None
    parent_execution_id: str | None = None
    # Redrive: outputs of steps that completed in an earlier execution, reused, not re-run.
    reused_outputs: dict[str, Any] = Field(default_factory=dict)
    retry_of: str | None = None
    # A `foreach` of I/O steps longer than this runs in child workflows of this many items,
    # so no history outgrows Temporal's limits.
    foreach_chunk_size: int = Field(500, ge=1)
    # Set on such a child: its items, where they start, and the upstream step states its
    # templates read.
    foreach_items: list[Any] | None = None
    index_offset: int = 0
    context_steps: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # An `until` loop allowed more tries than this runs as consecutive child workflows of at
    # most this many tries each, for the same reason.
    until_segment_size: int = Field(200, ge=1)
    # Set on such a child: how far it may go, and the id templates see as `execution.id`
    # (the parent's, so every try sees the context the inline loop would).
    until_segment: UntilSegment | None = None
    context_execution_id: str | None = None
    # Set on a loop's child run: the parent's `trigger` and `execution.started_at`.
    context_trigger: dict[str, Any] | None = None
    context_started_at: str | None = None
    # Random per run, drawn where randomness may be (the API, an activity): it marks the
    # run's genuine secret references (temporal_workflows/secret_markers.py). Chunk and
    # segment children share their run's; empty on runs started before it existed.
    secret_key: str = ""
    limits: RunLimits = Field(default_factory=RunLimits)
    # How many `workflow` steps this run is below the run a trigger started (that one is 0).
    depth: int = Field(0, ge=0)
    # What the Temporal Web UI shows (temporal_workflows/visibility.py): the workflow's name,
    # and the dashboard's public URL (HEADRACE_PUBLIC_URL) its details link to. Child runs
    # inherit the URL; both are empty on runs started before they existed.
    workflow_name: str = ""
    dashboard_url: str = ""


class StepState(_Model):
    status: StepStatus = "pending"
    attempts: int = 0
    started_at: datetime | None = None
    completed_at: datetime | None = None
    output: Any = None
    error: str | None = None
    # Why a skipped step was skipped: "skipped because 'pay' was skipped".
    reason: str | None = None


class RunResult(_Model):
    status: RunStatus
    output: Any = None
    error: str | None = None


class RunSnapshot(_Model):
    """What the ``state`` query answers: the run's status and every step's state."""

    status: RunStatus
    steps: dict[str, StepState]
    # step id -> {"kind": "event" | "approval", "event": name, "approvers": [...]}
    waiting_for: dict[str, dict[str, Any]] = Field(default_factory=dict)
    paused: bool = False
    parked: dict[str, str] = Field(default_factory=dict)  # step id -> its error
    # While queued: the limiter workflow of the run's concurrency group (asked for the place).
    concurrency_group: str | None = None


class EventRecord(_Model):
    """One progress event; ``seq`` is assigned when it is stored, so it is not carried here."""

    type: str
    dedupe_key: str
    step_id: str | None = None
    attempt: int | None = None
    level: str = "info"
    message: str = ""
    data: Any = None
    ts: datetime


class StepLifecycle(_Model):
    """Sent with a plain I/O step's request: the activity records its start and completion."""

    emit: bool = False
    step_type: str | None = None


class StepOutcome(_Model):
    """What a step activity returns: its output, the attempt that produced it, and whether
    the activity managed to record the step's lifecycle events itself."""

    output: Any = None
    attempt: int = 1
    started_recorded: bool = True
    completed_recorded: bool = True


class RecordEventsInput(_Model):
    execution_id: str
    events: list[EventRecord]
    run: RunInput | None = None  # sent with the first batch so a missing row can be created


class ChildDefinitionInput(_Model):
    workflow_id: str
    version: int | None = None
    # The workflow whose `workflow` step asks: its owner must be allowed to run the child.
    # None only for a schedule's launcher, which loads the workflow the trigger belongs to.
    parent_workflow_id: str | None = None


class ChildDefinition(_Model):
    workflow_id: str
    version: int
    definition: WorkflowDefinition
    variables: dict[str, Any] = Field(default_factory=dict)
    secret_key: str = ""  # a fresh one for the run about to start (RunInput.secret_key)
    name: str = ""  # the workflow's name (RunInput.workflow_name)


class EventDelivery(_Model):
    """``POST /executions/{id}/signal``: an event a ``wait_for_event`` step waits for."""

    name: str
    payload: Any = None


class ApprovalDecision(_Model):
    approved: bool
    by: str
    comment: str | None = None
    step_id: str | None = None


class RunControl(_Model):
    """``pause`` / ``resume`` of a run, with who asked (for the audit trail)."""

    by: str


class StepResolution(_Model):
    """An operator's decision on a parked step."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    step_id: str
    action: Literal["retry", "skip", "abort"]
    output: Any = None
    with_: dict[str, Any] | None = Field(default=None, alias="with")
    by: str


# --- step activity inputs: one type per activity, JSON keys fixed (histories keep them) ------


@dataclass
class HttpStepInput:
    """``run_http_step``: an ``http`` step's rendered ``with``, and whose step it is.

    The request fields hold what the templates rendered, of whatever JSON type: the activity
    checks them (a wrong one is ``HttpInvalidRequest``), so they are typed ``Any`` here.
    """

    step_id: str
    execution_id: str
    method: str
    url: Any = None
    headers: Any = field(default_factory=dict)
    query: Any = field(default_factory=dict)
    json: Any = None
    body: Any = None
    form: Any = None
    auth: Any = None
    expect_status: Any = field(default_factory=list)
    follow_redirects: Any = True
    lifecycle: StepLifecycle = field(default_factory=lambda: StepLifecycle())
    workflow_id: str | None = None  # whose secrets and connections the step may use
    secret_key: str = ""  # the run's key: which markers are secret references
    connection: Any = None  # a named http connection of the workflow's owner
    path: Any = None  # with a connection: appended to its base URL
    paginate: Any = None  # HttpPaginate's fields: follow next pages, concatenate their items


@dataclass
class N8nStepInput:
    """``run_n8n_step``: what an ``n8n`` step asks for, templates rendered."""

    step_id: str
    execution_id: str
    workflow_id: str  # the Headrace workflow (whose owner's integrations apply)
    webhook_url: str | None = None
    n8n_workflow_id: str | None = None
    integration: str | None = None
    method: str = "POST"
    payload: Any = None
    poll: bool | None = None  # None: poll only when the webhook answers immediately
    poll_interval_seconds: float = 0.5
    poll_timeout_seconds: float = 300.0
    secret_key: str = ""  # the run's key: which markers in the payload are secret references


class CodeStepInput(_Model):
    """``run_code_step``: a ``code`` step's script (never a template) and its rendered input."""

    step_id: str
    execution_id: str
    code: str
    input: Any = None
    # The step's `timeout`; None: the worker's HEADRACE_CODE_TIMEOUT.
    timeout_seconds: float | None = None


class StorageRequest(_Model):
    """``run_storage_step``: a ``storage`` step's rendered ``with``, and whose step it is."""

    execution_id: str
    step_id: str
    op: Literal["put", "get", "delete", "list"]
    key: str | None = None
    content: Any = None
    content_type: str | None = None


@dataclass
class LlmCallInput:
    """``run_llm_call``: one chat completion of an ``llm`` step or of an ``agent``'s turn.

    The rendered fields are typed ``Any``: templates may render anything, and the activity
    (not the workflow) refuses a wrong value, as ``LlmInvalidRequest``.
    """

    step_id: str
    execution_id: str
    workflow_id: str  # whose llm connections and secrets the call may use
    connection: str
    messages: Any
    model: Any = None
    temperature: Any = None
    max_tokens: Any = None
    tools: list[dict[str, Any]] = field(default_factory=list)  # OpenAI "function" tools
    response_schema: dict[str, Any] | None = None
    stream: bool = False
    turn: int | None = None  # the agent's turn (1, 2, ...); None for an llm step
    secret_key: str = ""  # the run's key: which markers in the messages are secrets
