"""What a run shows in the Temporal Web UI: search attributes and user metadata.

One place builds them for every run, whoever starts it: the API (manual, webhook, API
starts), the schedule launcher, and the interpreter (``workflow`` step children, foreach
chunks and until segments). An operator finds a workflow's runs with
``HeadraceWorkflowName = "orders"`` in the UI's search box; each run's header reads
``<workflow name> v<version> · <trigger>`` and its details link back to the dashboard.

The attributes must be registered on the namespace first (``headrace temporal setup``;
``headrace dev`` and the test servers do it themselves): a start that carries an
unregistered attribute is refused by the server.

Deterministic: the interpreter calls these, so they read nothing but their arguments.
"""

from __future__ import annotations

from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    SearchAttributeUpdate,
    TypedSearchAttributes,
)

from temporal_workflows.definition import StepDefinition
from temporal_workflows.run_types import RunInput

WORKFLOW_ID = SearchAttributeKey.for_keyword("HeadraceWorkflowId")
WORKFLOW_NAME = SearchAttributeKey.for_keyword("HeadraceWorkflowName")
WORKFLOW_VERSION = SearchAttributeKey.for_int("HeadraceWorkflowVersion")
TRIGGER = SearchAttributeKey.for_keyword("HeadraceTrigger")
OWNER = SearchAttributeKey.for_keyword("HeadraceOwner")
EXECUTION_ID = SearchAttributeKey.for_keyword("HeadraceExecutionId")
# running | paused | waiting (a parked step waits for an operator); a closed run keeps its
# last value: Temporal's own ExecutionStatus tells how it ended.
STATE = SearchAttributeKey.for_keyword("HeadraceState")

SEARCH_ATTRIBUTES: tuple[SearchAttributeKey[str] | SearchAttributeKey[int], ...] = (
    WORKFLOW_ID,
    WORKFLOW_NAME,
    WORKFLOW_VERSION,
    TRIGGER,
    OWNER,
    EXECUTION_ID,
    STATE,
)

# Temporal bounds user metadata (and a too-long summary would fail the command, wedging the
# run): summaries and details are clipped well under its limits, names being user input.
SUMMARY_BYTES = 200
DETAILS_BYTES = 4000

# workflow.patched id: child runs carry search attributes and metadata, activity summaries
# name the step's type and name, and the run's HeadraceState follows pause/park/resume.
RUN_VISIBILITY = "run-visibility"


SETUP_COMMAND = "headrace temporal setup"


def missing_registration_hint(message: str) -> str:
    """What to run, when a Temporal refusal ``message`` is about an unknown attribute."""
    if "search attribute" in message.lower() and "Headrace" in message:
        return (
            f" (the Headrace search attributes are not registered on this namespace: "
            f"run `{SETUP_COMMAND}`)"
        )
    return ""


def run_search_attributes(run: RunInput, state: str = "running") -> TypedSearchAttributes:
    """The attributes of ``run``'s Temporal workflow (absent values are left out)."""
    pairs: list[SearchAttributePair[str] | SearchAttributePair[int]] = [
        SearchAttributePair(WORKFLOW_ID, run.workflow_id),
        SearchAttributePair(WORKFLOW_VERSION, run.version),
        SearchAttributePair(TRIGGER, run.trigger_type),
        SearchAttributePair(EXECUTION_ID, run.execution_id),
        SearchAttributePair(STATE, state),
    ]
    if run.workflow_name:
        pairs.append(SearchAttributePair(WORKFLOW_NAME, run.workflow_name))
    if run.created_by:
        pairs.append(SearchAttributePair(OWNER, run.created_by))
    return TypedSearchAttributes(pairs)


def workflow_search_attributes(
    workflow_id: str, workflow_name: str, trigger: str, owner: str | None
) -> TypedSearchAttributes:
    """The attributes of something that belongs to a workflow but is not one run of it
    (a schedule, and the launcher each of its actions starts)."""
    pairs: list[SearchAttributePair[str]] = [
        SearchAttributePair(WORKFLOW_ID, workflow_id),
        SearchAttributePair(WORKFLOW_NAME, workflow_name),
        SearchAttributePair(TRIGGER, trigger),
    ]
    if owner:
        pairs.append(SearchAttributePair(OWNER, owner))
    return TypedSearchAttributes(pairs)


def state_update(state: str) -> list[SearchAttributeUpdate[str]]:
    """The upsert that keeps ``HeadraceState`` current."""
    return [STATE.value_set(state)]


def run_summary(run: RunInput, part: str | None = None) -> str:
    """``<workflow name> v<version> · <trigger>``, plus which part of a loop a child runs."""
    summary = f"{run.workflow_name or run.workflow_id} v{run.version} · {run.trigger_type}"
    return clip(f"{summary} · {part}" if part else summary, SUMMARY_BYTES)


def run_details(run: RunInput) -> str:
    """Markdown for the run's details pane: where it is in the Headrace dashboard."""
    lines = [
        f"**Headrace workflow** {markdown_text(run.workflow_name or run.workflow_id)} "
        f"(`{run.workflow_id}`), version {run.version}",
        f"**Trigger** {run.trigger_type}",
    ]
    if run.dashboard_url:
        base = run.dashboard_url.rstrip("/")
        lines.append(f"[Open this run in Headrace]({base}/executions/{run.execution_id})")
        if run.parent_execution_id:
            lines.append(f"[Open the parent run]({base}/executions/{run.parent_execution_id})")
        lines.append(f"[Open the workflow]({base}/workflows/{run.workflow_id})")
    return clip("\n\n".join(lines), DETAILS_BYTES)


def step_summary(step: StepDefinition) -> str:
    """An activity's summary: the step id, its type, and its name where set."""
    summary = f"{step.id} · {step.type}"
    return clip(f"{summary} · {step.name}" if step.name else summary, SUMMARY_BYTES)


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes (on a character boundary), marked "…"."""
    encoded = text.encode()
    if len(encoded) <= limit:
        return text
    return encoded[: limit - 3].decode(errors="ignore") + "…"


_MARKDOWN = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()<>#+-.!|~"})


def markdown_text(text: str) -> str:
    """A user-chosen name as literal text in markdown: it can make no link or markup."""
    return " ".join(text.split()).translate(_MARKDOWN)
