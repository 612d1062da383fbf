"""Approvals: a run's waiting approvals, and signed approve/reject links.

``/api/v1/executions/{id}/approvals...`` take a user; ``/approval-links/{token}`` (outside
``/api/v1``, like ``/hooks``) takes none: the signed token is the credential.
"""

from __future__ import annotations

import uuid
from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse

from api.deps import ContextDep, Executor, Reader, SessionDep, TemporalClientDep
from api.errors import HeadraceError
from api.schemas.approvals import (
    ApprovalLinkPublic,
    ApprovalLinks,
    ApprovalLinksRequest,
    ApprovalPublic,
)
from api.schemas.common import Problem
from api.schemas.executions import ActionAccepted
from api.services import approvals

router = APIRouter(tags=["approvals"])
links = APIRouter(tags=["approvals"])


@router.get("/executions/{execution_id}/approvals", response_model=list[ApprovalPublic])
async def list_approvals(
    execution_id: uuid.UUID, user: Reader, session: SessionDep, client: TemporalClientDep
) -> list[ApprovalPublic]:
    """The run's waiting approvals: all of them for its readers, else those naming the caller."""
    return await approvals.approvals_of(session, client, user, execution_id)


@router.post(
    "/executions/{execution_id}/approvals/{step_id}/links",
    status_code=201,
    response_model=ApprovalLinks,
)
async def create_approval_links(
    execution_id: uuid.UUID,
    step_id: str,
    body: ApprovalLinksRequest,
    user: Executor,
    session: SessionDep,
    client: TemporalClientDep,
    ctx: ContextDep,
) -> ApprovalLinks:
    """Signed one-time approve and reject links for a waiting approval (run operators)."""
    return await approvals.make_links(
        session, client, ctx.settings, user, execution_id, step_id, body
    )


# The link is its own credential, so its errors are not the authenticated routes' ones.
LINK_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"model": Problem, "description": "The link is forged or has expired."},
    409: {
        "model": Problem,
        "description": "The link was used already, or its step no longer waits for a decision.",
    },
    503: {"model": Problem, "description": "The database or Temporal is unavailable."},
}


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


@links.get(
    "/approval-links/{token}",
    response_model=ApprovalLinkPublic,
    responses={200: {"content": {"text/html": {}}}, **LINK_ERRORS},
)
async def show_approval_link(
    token: str, request: Request, session: SessionDep, client: TemporalClientDep, ctx: ContextDep
) -> ApprovalLinkPublic | Response:
    """What the link decides; opening it decides nothing (mail scanners open links)."""
    try:
        shown = await approvals.link_details(session, client, ctx.settings, token)
    except HeadraceError as exc:
        if _wants_html(request):
            return _page("Approval link", exc.detail, exc.status)
        raise
    if _wants_html(request):
        return _confirmation_page(shown)
    return shown


@links.post(
    "/approval-links/{token}",
    status_code=202,
    response_model=ActionAccepted,
    responses=LINK_ERRORS,
)
async def use_approval_link(
    token: str,
    request: Request,
    session: SessionDep,
    client: TemporalClientDep,
    ctx: ContextDep,
    comment: Annotated[str | None, Form(max_length=10_000)] = None,
) -> ActionAccepted | Response:
    """Make the link's decision (once). The body is an optional form field ``comment``."""
    try:
        execution, step_id, approved = await approvals.decide_by_link(
            session, client, ctx.settings, token, comment
        )
    except HeadraceError as exc:
        if _wants_html(request):
            return _page("Approval link", exc.detail, exc.status)
        raise
    status = "approved" if approved else "rejected"
    if _wants_html(request):
        return _page(f"Step {step_id} {status}", "Thank you: you can close this page.", 202)
    return ActionAccepted(execution_id=execution.id, status=status, step_id=step_id)


def _page(title: str, text: str, status: int, form: str = "") -> HTMLResponse:
    body = (
        f"<!doctype html><html><head><meta charset=utf-8><title>{escape(title)}</title></head>"
        f"<body><h1>{escape(title)}</h1><p>{escape(text)}</p>{form}</body></html>"
    )
    return HTMLResponse(body, status_code=status)


def _confirmation_page(shown: ApprovalLinkPublic) -> HTMLResponse:
    verb = "Approve" if shown.decision == "approve" else "Reject"
    deadline = f" Decide before {shown.deadline.isoformat()}." if shown.deadline else ""
    text = f"{shown.message or ''} ({shown.workflow_name}, step {shown.step_id}).{deadline}"
    form = (
        '<form method="post"><p><label>Comment<br><textarea name="comment" rows="3" cols="60">'
        f'</textarea></label></p><p><button type="submit">{verb}</button> as '
        f"{escape(shown.approver)}</p></form>"
    )
    return _page(f"{verb} step {shown.step_id}?", text, 200, form)
