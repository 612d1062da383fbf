"""Approvals: who may see and decide a waiting approval step, and signed one-time links.

A step's listed ``approvers`` may see that approval (its message and deadline) and decide
it without the workflow being shared with them; that gives them nothing else on the run
(not its input, steps or logs, no other action), and to anyone neither listed nor a reader
the run stays a 404. Operators of the run may also make signed links (a JWT naming the run,
the step, the decision and the approver, with an expiry): whoever holds one may make that
one decision once, without logging in, as Step Functions' task tokens or n8n's resume URLs.
One use is enforced by the ``approval_link_uses`` table (the link's ``jti`` is its key), so
a link replayed against any API replica is a 409.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api.errors import Conflict, invalid, not_found
from api.schemas.approvals import (
    ApprovalLinkPublic,
    ApprovalLinks,
    ApprovalLinksRequest,
    ApprovalPublic,
)
from api.security import create_approval_token, decode_approval_token
from api.services import run_control
from api.services.access import operable_execution
from core.access import can_decide, can_see
from core.settings import Settings
from db.execution_projection import TERMINAL
from db.models import ApprovalLinkUse, Execution, User, Workflow
from temporal_workflows.durations import parse_duration

LINK_ROUTE = "/approval-links/"
MAX_LINK_LIFETIME = timedelta(days=30)


async def _run(session: AsyncSession, execution_id: uuid.UUID) -> tuple[Execution, Workflow]:
    execution = await session.get(Execution, execution_id)
    workflow = await session.get(Workflow, execution.workflow_id) if execution else None
    if execution is None or workflow is None:
        raise not_found("Execution", execution_id)
    return execution, workflow


def _listed(user: User, approvers: list[str]) -> bool:
    return _listed_email(user.email, approvers)


def _listed_email(email: str, approvers: list[str]) -> bool:
    return email.lower() in {a.lower() for a in approvers}


def _public(
    execution: Execution, workflow: Workflow, step_id: str, info: dict[str, Any], may: bool
) -> ApprovalPublic:
    return ApprovalPublic(
        execution_id=execution.id,
        workflow_id=workflow.id,
        workflow_name=workflow.name,
        step_id=step_id,
        message=info.get("message"),
        deadline=info.get("deadline"),
        approvers=info.get("approvers") or [],
        may_decide=may,
    )


async def approvals_of(
    session: AsyncSession, client: Client, user: User, execution_id: uuid.UUID
) -> list[ApprovalPublic]:
    """The run's waiting approvals the caller may see: all for a reader, else its own."""
    execution, workflow = await _run(session, execution_id)
    reader = can_see(user, workflow)
    waiting = {} if execution.status in TERMINAL else await _waiting(client, execution)
    shown = []
    for sid, info in waiting.items():
        approvers = info.get("approvers") or []
        if reader or _listed(user, approvers):
            may = can_decide(user, execution, workflow, approvers)
            shown.append(_public(execution, workflow, sid, info, may))
    if not reader and not shown:
        raise not_found("Execution", execution_id)
    return shown


async def _waiting(client: Client, execution: Execution) -> dict[str, dict[str, Any]]:
    try:
        return await run_control.waiting_approvals(client, execution)
    except Conflict:  # the run ended meanwhile
        return {}


async def decide(
    session: AsyncSession,
    client: Client,
    user: User,
    execution_id: uuid.UUID,
    *,
    approved: bool,
    comment: str | None,
    step_id: str | None,
) -> str:
    """Approve or reject as a logged-in user: a reader as before, or a listed approver."""
    execution, workflow = await _run(session, execution_id)
    if can_see(user, workflow):
        return await run_control.decide(
            client,
            user,
            workflow,
            execution,
            approved=approved,
            comment=comment,
            step_id=step_id,
        )
    # Not a reader: only an approval that lists the caller, and any refusal is a 404 so
    # that the run's existence is not told to someone it does not concern.
    waiting = {} if execution.status in TERMINAL else await _waiting(client, execution)
    mine = [
        sid
        for sid, info in waiting.items()
        if (step_id is None or sid == step_id) and _listed(user, info.get("approvers") or [])
    ]
    if not mine:
        raise not_found("Execution", execution_id)
    return await run_control.send_decision(
        client, execution, mine[0], approved, user.email, comment
    )


async def make_links(
    session: AsyncSession,
    client: Client,
    settings: Settings,
    user: User,
    execution_id: uuid.UUID,
    step_id: str,
    request: ApprovalLinksRequest,
) -> ApprovalLinks:
    """Signed approve and reject links for a waiting approval (the run's operators only)."""
    execution, workflow = await operable_execution(session, user, execution_id)
    lifetime = _lifetime(request.expires_in)
    _, info = await run_control.waiting_approval(client, execution, step_id)
    approvers = info.get("approvers") or []
    approver = request.approver or user.email
    # The links decide as ``approver``: one the step lists, or the caller if it may decide.
    as_caller = approver.lower() == user.email.lower()
    if not (
        _listed_email(approver, approvers)
        or (as_caller and can_decide(user, execution, workflow, approvers))
    ):
        listed = ", ".join(approvers) or "none listed"
        detail = f"{approver!r} is not an approver of step {step_id} ({listed})"
        raise invalid("/approver", detail, "not_an_approver")
    tokens = [
        create_approval_token(
            settings.signing_key,
            execution_id=execution.id,
            step_id=step_id,
            approved=approved,
            by=approver,
            ttl=lifetime,
        )
        for approved in (True, False)
    ]
    base = settings.base_url + LINK_ROUTE
    return ApprovalLinks(
        execution_id=execution.id,
        step_id=step_id,
        approver=approver,
        approve_url=base + tokens[0][0],
        reject_url=base + tokens[1][0],
        expires_at=tokens[0][1],
    )


def _lifetime(text: str) -> timedelta:
    try:
        lifetime = parse_duration(text)
    except ValueError as exc:
        raise invalid("/expires_in", str(exc), "invalid_duration") from exc
    if not timedelta(0) < lifetime <= MAX_LINK_LIFETIME:
        raise invalid("/expires_in", "a link lives between 1s and 30d", "invalid_duration")
    return lifetime


async def link_details(
    session: AsyncSession, client: Client, settings: Settings, token: str
) -> ApprovalLinkPublic:
    """What a link would decide; 403 forged or expired, 409 used or nothing waiting."""
    claims = decode_approval_token(token, settings.signing_key)
    execution, workflow = await _run(session, claims.execution_id)
    if await session.get(ApprovalLinkUse, claims.token_id) is not None:
        raise Conflict(detail="This approval link has already been used")
    _, info = await run_control.waiting_approval(client, execution, claims.step_id)
    deadline = info.get("deadline")
    return ApprovalLinkPublic(
        execution_id=execution.id,
        workflow_name=workflow.name,
        step_id=claims.step_id,
        decision="approve" if claims.approved else "reject",
        approver=claims.by,
        message=info.get("message"),
        deadline=datetime.fromisoformat(deadline) if deadline else None,
        expires_at=claims.expires_at,
    )


async def decide_by_link(
    session: AsyncSession, client: Client, settings: Settings, token: str, comment: str | None
) -> tuple[Execution, str, bool]:
    """Make the link's decision, once: (the run, the step, approved)."""
    claims = decode_approval_token(token, settings.signing_key)
    execution, _ = await _run(session, claims.execution_id)
    session.add(
        ApprovalLinkUse(jti=claims.token_id, execution_id=execution.id, step_id=claims.step_id)
    )
    try:
        await session.flush()  # a concurrent use of the same link waits here, then fails
    except IntegrityError:
        await session.rollback()
        raise Conflict(detail="This approval link has already been used") from None
    try:
        await run_control.waiting_approval(client, execution, claims.step_id)
        step_id = await run_control.send_decision(
            client, execution, claims.step_id, claims.approved, claims.by, comment
        )
    except BaseException:
        await session.rollback()  # nothing was decided: the link stays usable
        raise
    await session.commit()
    return execution, step_id, claims.approved
