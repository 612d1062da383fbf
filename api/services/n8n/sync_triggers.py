"""The triggers of synced workflows: trigger rows, webhook rows and Temporal Schedules.

The sync registers each workflow's triggers through the trigger service inside one
:func:`api.services.triggers.trigger_change`, after the workflow rows are written: the
change commits the sync's transaction, and if anything fails (another workflow's
triggers, Temporal, the commit) every schedule it created, changed or deleted is undone.

n8n webhook paths are unique per n8n instance, Headrace's per Headrace: a path that
another Headrace workflow already answers on gets a stable suffix made from this
workflow's id (``orders`` → ``orders-1a2b3c4d``), so each later sync finds the same path
again. A header-auth webhook gets a new secret when it is created; the sync result shows
it once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from api.services.triggers import Change, follow_workflow_status, replace_workflow_triggers
from db.models import Trigger, Workflow
from db.repositories.triggers import TriggerRepository, WebhookRepository

MAX_PATH = 200
SUFFIX_LENGTH = 8


@dataclass
class Registered:
    """What registering one workflow's triggers changed."""

    changed: bool = False
    webhook_secrets: dict[str, str] = field(default_factory=dict)  # url_path → new secret
    notes: list[str] = field(default_factory=list)


async def register_triggers(
    change: Change, workflow: Workflow, triggers: Sequence[dict[str, Any]], previous_status: str
) -> Registered:
    """Make the workflow's trigger rows and schedules match ``triggers`` and its status.

    Args:
        change: The sync's trigger change (undone as a whole if the sync fails).
        workflow: The synced workflow, already flushed.
        triggers: Its triggers as translated from n8n.
        previous_status: Its status before this sync (schedules pause while not active).

    Raises:
        InvalidInput: Temporal refused a schedule spec.
        Conflict: A webhook path was taken by a concurrent request.
        UpstreamUnavailable: Temporal is unreachable.
    """
    repo = TriggerRepository(change.session)
    before = list(await repo.for_workflow(workflow.id))
    result = Registered()
    wanted = [await _own_webhook_path(change, workflow, dict(t), result) for t in triggers]
    await replace_workflow_triggers(change, workflow, wanted)
    if workflow.status != previous_status:
        await follow_workflow_status(change, workflow, previous_status)
    after = list(await repo.for_workflow(workflow.id))
    result.changed = _configs(after) != _configs(before)
    for trigger in after:
        secret = change.secrets.get(trigger.id)
        if secret is not None and trigger.type == "webhook":
            result.webhook_secrets[str(trigger.config.get("url_path"))] = secret
    return result


def _configs(rows: list[Trigger]) -> list[dict[str, Any]]:
    return [dict(t.config) for t in rows]


async def _own_webhook_path(
    change: Change, workflow: Workflow, trigger: dict[str, Any], result: Registered
) -> dict[str, Any]:
    """The trigger, its webhook path made this workflow's own if another one holds it."""
    if trigger.get("type") != "webhook" or not trigger.get("url_path"):
        return trigger
    path = str(trigger["url_path"])
    found = await WebhookRepository(change.session).receiving(path)
    if found is not None and found[0].workflow_id != workflow.id:
        own = _suffixed(path, workflow.id)
        result.notes.append(
            f"webhook path {path!r} is used by another Headrace workflow:"
            f" this one answers on /hooks/{own}"
        )
        trigger["url_path"] = own
    return trigger


def _suffixed(path: str, workflow_id: uuid.UUID) -> str:
    suffix = workflow_id.hex[:SUFFIX_LENGTH]
    return f"{path[: MAX_PATH - SUFFIX_LENGTH - 1]}-{suffix}"
