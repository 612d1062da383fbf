"""Who may see and change what: the rules, as predicates on users, workflows and runs.

- see a workflow and its runs: an admin, its owner, anyone when it is ``shared``;
- edit a workflow (and override its ``variables`` when running it): an admin, or its owner
  if a developer;
- API key scopes: a key holds some of its user's role scopes (:data:`ROLE_SCOPES`); a request
  made with the key has only those. A logged-in user (a JWT) has all of its role's scopes.
- operate a run (cancel, pause, resume, signal, approve, reject, retry, resolve a parked
  step): an admin, the workflow's owner, or the run's starter (``Execution.created_by``);
  a listed approver may also approve or reject that approval step.

The API turns a refusal into a 403 or 404 (``api/services/access.py``); the worker refuses a
child workflow its parent's owner may not run (``activities/definitions.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, get_args

from db.models import Execution, User, Workflow
from db.repositories.workflows import WorkflowFilter

Scope = Literal["read", "write", "execute", "admin"]
SCOPES: tuple[Scope, ...] = get_args(Scope)
ROLE_SCOPES: Mapping[str, frozenset[str]] = {
    "admin": frozenset(SCOPES),
    "developer": frozenset({"read", "write", "execute"}),
    "user": frozenset({"read", "write", "execute"}),
}
# Keys stored with no permissions were made before scopes were enforced: read-only.
LEGACY_KEY_SCOPES = frozenset({"read"})


def role_scopes(role: str) -> frozenset[str]:
    return ROLE_SCOPES.get(role, frozenset())


def key_scopes(user: User, permissions: Sequence[str]) -> frozenset[str]:
    """What a request made with an API key may do: its permissions within its user's role."""
    return role_scopes(user.role) & (frozenset(permissions) or LEGACY_KEY_SCOPES)


def is_admin(user: User) -> bool:
    return user.role == "admin"


def can_see(user: User, workflow: Workflow) -> bool:
    return is_admin(user) or workflow.owner_id == user.id or workflow.shared


def can_edit(user: User, workflow: Workflow) -> bool:
    return is_admin(user) or (user.role == "developer" and workflow.owner_id == user.id)


def visibility_filter(user: User) -> WorkflowFilter:
    if is_admin(user):
        return WorkflowFilter()
    return WorkflowFilter(owner_id=user.id, include_shared=True)


def can_operate(user: User, execution: Execution, workflow: Workflow) -> bool:
    """Admins, the workflow's owner and the run's starter may change a run."""
    return (
        is_admin(user)
        or workflow.owner_id == user.id
        or (execution.created_by is not None and execution.created_by == user.id)
    )


def can_decide(
    user: User, execution: Execution, workflow: Workflow, approvers: Sequence[str]
) -> bool:
    """Who may approve or reject a step: its listed ``approvers`` (when it lists any), else
    whoever may operate the run. Admins and the workflow's owner always may."""
    if approvers:
        listed = {a.lower() for a in approvers}
        return is_admin(user) or workflow.owner_id == user.id or user.email.lower() in listed
    return can_operate(user, execution, workflow)
