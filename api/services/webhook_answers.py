"""What a ``?wait=true`` webhook call answers once its run has ended.

With a ``response`` in the run's definition, its templates are evaluated against the ended
run (:mod:`temporal_workflows.responses`). Without one: 200 and the usual
:class:`~api.schemas.webhooks.HookAccepted` body when the run completed, a 500 problem
(``run-failed``) when it failed or was cancelled. A run still going when the wait ends is
202, as without ``?wait``.

A custom answer is served from Headrace's own origin with a body the caller may control
(the input is reflected by many workflows), so it is sandboxed: ``Content-Security-Policy:
sandbox`` makes even an HTML answer an opaque origin that cannot read the dashboard's
storage or call the API with its credentials.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api.errors import RunFailed
from api.schemas.webhooks import HookAccepted
from db.models import Execution, Workflow
from temporal_workflows.responses import (
    RenderedResponse,
    ResponseError,
    render_response,
    response_context,
)

SANDBOX_POLICY = "default-src 'none'; sandbox"
TERMINAL_FAILURES = ("failed", "cancelled")


@dataclass(frozen=True)
class EndedRun:
    """An ended run and the definition it ran (the version it started with)."""

    execution: Execution
    workflow: Workflow
    definition: dict[str, Any]
    accepted: HookAccepted


def custom_answer(run: EndedRun) -> RenderedResponse | None:
    """The definition's ``response`` evaluated, or None when the definition has none.

    Raises:
        RunFailed: If the response cannot be built (a template fails, a status out of range,
            a header value that would break the answer's head).
    """
    spec = run.definition.get("response")
    if not isinstance(spec, dict):
        return None
    execution = run.execution
    status = run.accepted.status
    succeeded = status == "completed"
    context = response_context(
        input=execution.input_data,
        vars={**(run.definition.get("variables") or {}), **(execution.variables or {})},
        execution_id=str(execution.id),
        workflow_id=str(run.workflow.id),
        status=status,
        output=run.accepted.result if succeeded else None,
        error=None if succeeded else (run.accepted.error or f"the run is {status}"),
    )
    default_body = run.accepted.model_dump(mode="json")
    try:
        rendered = render_response(spec, context, default_body=default_body, succeeded=succeeded)
    except ResponseError as exc:
        raise RunFailed(
            detail=f"The workflow's response could not be built: {exc}",
            extensions={"execution_id": str(execution.id), "execution_status": status},
        ) from None
    headers = {**rendered.headers, "Content-Security-Policy": SANDBOX_POLICY}
    return RenderedResponse(rendered.status, headers, rendered.body, rendered.media_type)


def failure(accepted: HookAccepted) -> RunFailed:
    """The default answer of a run that failed or was cancelled (no ``response``)."""
    return RunFailed(
        detail=accepted.error or f"The run is {accepted.status}",
        extensions={
            "execution_id": str(accepted.execution_id),
            "execution_status": accepted.status,
        },
    )
