"""``POST /integrations/n8n/sync``: bring n8n workflows over as Headrace workflows.

The sync reads everything from n8n first; only then does it write, in one transaction, so
an n8n that becomes unreachable half-way, a wrong key or a non-n8n URL leaves nothing
behind. Each n8n workflow maps to one Headrace workflow of the caller, linked through
``workflow.source`` (``kind: n8n``, ``n8n_url``, ``n8n_id``): a second sync updates it (a new
version only when the definition changed) and never duplicates it. A workflow that
disappeared from n8n is archived (never deleted: its runs stay readable). Triggers are
registered last (trigger rows, webhook rows, Temporal Schedules; see ``sync_triggers``),
and a failure undoes the Temporal Schedule changes along with the transaction.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from api.context import AppContext
from api.errors import InvalidInput, PermissionDenied
from api.schemas.integrations import (
    N8nSyncRequest,
    N8nSyncResult,
    SyncedWorkflow,
    SyncError,
)
from api.services.integrations import n8n_problem
from api.services.n8n.sync_triggers import Registered, register_triggers
from api.services.n8n.translate import MalformedWorkflow, Translation, delegate, translate_workflow
from api.services.triggers import Change, TriggerDeps, follow_workflow_status, trigger_change
from api.services.workflows import check_definition, check_triggers
from core.encryption import Encryptor
from core.integrations import (
    N8nClient,
    N8nError,
    N8nWorkflowNotFound,
    decrypt_credentials,
    encrypt_credentials,
)
from db.models import Integration, User, Workflow, WorkflowVersion
from db.repositories.integrations import N8N_SOURCE_KIND, IntegrationRepository
from db.repositories.workflows import WorkflowRepository


@dataclass
class _Fetched:
    n8n_id: str
    raw: dict[str, Any]


async def sync_n8n(
    session: AsyncSession,
    ctx: AppContext,
    http: httpx.AsyncClient,
    user: User,
    data: N8nSyncRequest,
) -> N8nSyncResult:
    """Run one sync for ``user``; see the module docstring.

    Raises:
        InvalidInput: n8n refused the API key (pointer ``/api_key``).
        UpstreamFailed: n8n is unreachable, failed, or the URL is not n8n's API.
    """
    if user.role not in ("admin", "developer"):
        raise PermissionDenied(detail="Only developers and admins sync workflows")
    api_key = data.api_key.get_secret_value()
    fetched, errors = await _fetch(N8nClient(http, data.n8n_url, api_key), data.workflow_ids)
    integration = await _upsert_integration(session, ctx.encryptor, user, data.n8n_url, api_key)
    existing = await IntegrationRepository(session).n8n_synced_workflows(user.id, data.n8n_url)
    translations = _translate_all(fetched, existing, integration.name, errors)
    synced: list[SyncedWorkflow] = []
    # Trigger rows and Temporal Schedules last; the change commits, or undoes Temporal's part.
    async with trigger_change(session, TriggerDeps.of(ctx)) as change:
        for item in fetched:
            if item.n8n_id in translations:
                synced.append(
                    await _sync_one(
                        change, user, data.n8n_url, integration, item, translations, existing
                    )
                )
        if data.workflow_ids is None:
            listed = {item.n8n_id for item in fetched} | {e.workflow_id for e in errors}
            synced.extend(await _archive_missing(change, existing, listed))
    return N8nSyncResult(
        synced_count=sum(1 for s in synced if s.action != "archived"),
        errors=errors,
        workflows=synced,
        integration_id=integration.id,
    )


async def _sync_one(
    change: Change,
    user: User,
    n8n_url: str,
    integration: Integration,
    item: _Fetched,
    translations: dict[str, tuple[uuid.UUID, Translation]],
    existing: dict[str, Workflow],
) -> SyncedWorkflow:
    workflow_id, translation = translations[item.n8n_id]
    previous = existing[item.n8n_id].status if item.n8n_id in existing else "active"
    workflow, action = await _upsert_workflow(
        change.session, user, n8n_url, integration, item, translation, existing, workflow_id
    )
    try:
        registered = await register_triggers(change, workflow, translation.triggers, previous)
    except InvalidInput as exc:
        # Temporal refused a translated schedule: say which n8n workflow it came from.
        exc.detail = f"n8n workflow {item.n8n_id} ({workflow.name}): {exc.detail}"
        raise
    return _synced(item, workflow, action, translation, registered)


async def _fetch(
    client: N8nClient, wanted: list[str] | None
) -> tuple[list[_Fetched], list[SyncError]]:
    """Read every workflow before anything is written."""
    errors: list[SyncError] = []
    fetched: list[_Fetched] = []
    try:
        ids = list(dict.fromkeys(wanted)) if wanted is not None else await client.workflow_ids()
        for n8n_id in ids:
            try:
                fetched.append(_Fetched(n8n_id, _what_runs(await client.workflow(n8n_id))))
            except N8nWorkflowNotFound as exc:
                errors.append(SyncError(workflow_id=n8n_id, error=str(exc)))
    except N8nError as exc:
        raise n8n_problem(exc, "/api_key") from exc
    return fetched, errors


def _what_runs(raw: dict[str, Any]) -> dict[str, Any]:
    """The graph n8n runs: an active workflow's published version, else the saved one.

    n8n 1.1xx keeps the editor's draft in ``nodes``/``connections`` and the version its
    production webhook and schedules run in ``activeVersion``; the two differ while an
    edit is saved but not yet published.
    """
    published = raw.get("activeVersion")
    if not raw.get("active") or not isinstance(published, dict):
        return raw
    if not isinstance(published.get("nodes"), list):
        return raw
    connections = published.get("connections", raw.get("connections"))
    return {**raw, "nodes": published["nodes"], "connections": connections}


def _translate_all(
    fetched: list[_Fetched],
    existing: dict[str, Workflow],
    integration: str,
    errors: list[SyncError],
) -> dict[str, tuple[uuid.UUID, Translation]]:
    """Translate each workflow, knowing the Headrace id of every other (Execute Workflow)."""
    ids = {n8n_id: w.id for n8n_id, w in existing.items()}
    for item in fetched:
        ids.setdefault(item.n8n_id, uuid.uuid4())
    results: dict[str, tuple[uuid.UUID, Translation]] = {}
    for item in fetched:
        try:
            translation = _translate(item, integration, {k: str(v) for k, v in ids.items()})
        except MalformedWorkflow as exc:
            errors.append(SyncError(workflow_id=item.n8n_id, error=f"not an n8n workflow: {exc}"))
            continue
        results[item.n8n_id] = (ids[item.n8n_id], translation)
    broken = {e.workflow_id for e in errors}
    if broken & {i.n8n_id for i in fetched}:
        # A workflow that calls a broken one must not point at a workflow never created.
        usable = {k: str(v) for k, v in ids.items() if k not in broken}
        for n8n_id, (target, _) in list(results.items()):
            item = next(i for i in fetched if i.n8n_id == n8n_id)
            results[n8n_id] = (target, _translate(item, integration, usable))
    return results


def _translate(item: _Fetched, integration: str, ids: dict[str, str]) -> Translation:
    translation = translate_workflow(
        item.raw, n8n_id=item.n8n_id, integration=integration, workflow_ids=ids
    )
    if translation.mode == "delegate":
        try:
            translation.triggers = check_triggers(translation.triggers)
        except InvalidInput as exc:
            translation.triggers = [{"type": "manual"}]
            translation.notes.append(f"the n8n webhook gets no Headrace webhook: {exc.detail}")
        return translation
    try:
        check_definition(translation.definition)
        translation.triggers = check_triggers(translation.triggers)
    except InvalidInput as exc:
        return delegate(
            item.raw, item.n8n_id, integration, [f"the translation is invalid: {exc.detail}"]
        )
    return translation


async def _upsert_integration(
    session: AsyncSession, encryptor: Encryptor, user: User, n8n_url: str, api_key: str
) -> Integration:
    """The caller's n8n integration for this URL (delegated steps run through it)."""
    repo = IntegrationRepository(session)
    for integration in await repo.list(user.id):
        if integration.type == "n8n" and integration.config.get("base_url") == n8n_url:
            credentials = {**decrypt_credentials(integration, encryptor), "api_key": api_key}
            integration.credentials_encrypted = encrypt_credentials(credentials, encryptor)
            return integration
    base = "n8n-" + "-".join(filter(None, urlsplit(n8n_url).netloc.replace(":", ".").split(".")))
    name, suffix = base[:100], 2
    while await repo.by_name(user.id, name) is not None:
        name, suffix = f"{base[:95]}-{suffix}", suffix + 1
    return await repo.add(
        Integration(
            owner_id=user.id,
            type="n8n",
            name=name,
            config={"base_url": n8n_url, "webhook_auth": {"type": "none"}},
            credentials_encrypted=encrypt_credentials({"api_key": api_key}, encryptor),
        )
    )


async def _upsert_workflow(
    session: AsyncSession,
    user: User,
    n8n_url: str,
    integration: Integration,
    item: _Fetched,
    translation: Translation,
    existing: dict[str, Workflow],
    workflow_id: uuid.UUID,
) -> tuple[Workflow, str]:
    source = _source(n8n_url, integration, item, translation)
    name = str(item.raw.get("name") or item.n8n_id)[:200]
    repo = WorkflowRepository(session)
    workflow = existing.get(item.n8n_id)
    if workflow is None:
        workflow = await repo.add(
            Workflow(
                id=workflow_id,
                owner_id=user.id,
                name=name,
                description=f"Synced from n8n workflow {item.n8n_id} at {n8n_url}",
                definition=translation.definition,
                triggers=translation.triggers,
                variables={},
                version=1,
                source=source,
            )
        )
        await repo.add_version(
            WorkflowVersion(
                workflow_id=workflow.id,
                version=1,
                definition=translation.definition,
                created_by=user.id,
            )
        )
        return workflow, "created"
    changed = workflow.definition != translation.definition
    unchanged = not changed and workflow.name == name
    if (workflow.source or {}).get("deleted_upstream"):
        workflow.status, unchanged = "active", False
    # The triggers are registered next (SyncTriggers), which also rewrites `triggers`.
    workflow.name, workflow.source = name, source
    if changed:
        workflow.version += 1
        workflow.definition = translation.definition
        await repo.add_version(
            WorkflowVersion(
                workflow_id=workflow.id,
                version=workflow.version,
                definition=translation.definition,
                created_by=user.id,
            )
        )
    await session.flush()
    return workflow, "unchanged" if unchanged else "updated"


def _source(
    n8n_url: str, integration: Integration, item: _Fetched, translation: Translation
) -> dict[str, Any]:
    """What links the workflow to n8n, and how (and why) it was translated."""
    return {
        "kind": N8N_SOURCE_KIND,
        "n8n_url": n8n_url,
        "n8n_id": item.n8n_id,
        "n8n_name": item.raw.get("name"),
        "n8n_active": bool(item.raw.get("active")),
        "n8n_updated_at": item.raw.get("updatedAt"),
        "n8n_version_id": item.raw.get("versionId"),
        "fingerprint": _fingerprint(item.raw),
        "integration": integration.name,
        "mode": translation.mode,
        "reasons": translation.reasons,
        "notes": translation.notes,
        "requirements": translation.requirements,
        "synced_at": datetime.now(UTC).isoformat(),
    }


def _fingerprint(raw: dict[str, Any]) -> str:
    """A hash of what makes the workflow behave (not positions, ids or timestamps)."""
    nodes = [
        {k: v for k, v in n.items() if k not in ("position", "id")}
        for n in raw.get("nodes", [])
        if isinstance(n, dict)
    ]
    content = {
        "nodes": nodes,
        "connections": raw.get("connections"),
        "settings": raw.get("settings"),
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


async def _archive_missing(
    change: Change, existing: dict[str, Workflow], listed: set[str]
) -> list[SyncedWorkflow]:
    """Archive what n8n no longer has: its schedules pause until a sync brings it back."""
    archived = []
    for n8n_id, workflow in existing.items():
        source = dict(workflow.source or {})
        if n8n_id in listed or source.get("deleted_upstream"):
            continue
        source["deleted_upstream"] = datetime.now(UTC).isoformat()
        previous = workflow.status
        workflow.source, workflow.status = source, "archived"
        await follow_workflow_status(change, workflow, previous)
        archived.append(
            SyncedWorkflow(
                n8n_id=n8n_id,
                workflow_id=workflow.id,
                name=workflow.name,
                action="archived",
                mode=source.get("mode", "translated"),
                reasons=[],
                notes=["deleted in n8n: archived here (runs kept, schedules paused)"],
            )
        )
    return archived


def _synced(
    item: _Fetched,
    workflow: Workflow,
    action: str,
    translation: Translation,
    registered: Registered,
) -> SyncedWorkflow:
    notes = translation.notes + registered.notes
    schedules = any(t.get("type") == "schedule" for t in translation.triggers)
    if schedules and item.raw.get("active"):
        notes.append(
            "the workflow is active in n8n and runs on its schedule there too:"
            " deactivate it in n8n to run it only here"
        )
    return SyncedWorkflow(
        n8n_id=item.n8n_id,
        workflow_id=workflow.id,
        name=workflow.name,
        action="updated" if action == "unchanged" and registered.changed else action,
        mode=translation.mode,
        reasons=translation.reasons,
        notes=notes,
        webhook_secrets=registered.webhook_secrets,
    )
