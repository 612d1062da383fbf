"""Integrations as every caller reads them: one lookup, one decryption, one n8n client.

An integration is a named, typed (``n8n``, ``http``) row of its owner: a ``config`` and
credentials encrypted at rest. Three callers read them: the API (CRUD, connection tests,
the n8n sync), the ``http`` step (its ``connection``) and the ``n8n`` step (its
``integration``). They all go through this module:

- :func:`owned_integration`: one integration by id, with the ownership rule (its owner's;
  any owner's for an admin);
- :class:`WorkflowIntegrations`: the integration a step names, among the integrations of
  its workflow's owner, credentials decrypted;
- :func:`decrypt_credentials` / :func:`encrypt_credentials`: the one way credentials are
  stored;
- :class:`N8nClient`: n8n's public REST API (``/api/v1``, ``X-N8N-API-KEY``), for the sync
  and the ``n8n`` step alike.

It lives beside the activities, not in ``api/``, because the worker uses it too; it imports
nothing from ``api`` but :mod:`api.encryption` (shared infrastructure that issue 20 moves,
with this module, into one package that ``api``, ``activities`` and ``worker`` import).

n8n client errors::

    N8nError                    base; the message is safe to show
    ├── N8nUnreachable          DNS, connect, timeout, TLS, a refused address, or a 5xx
    ├── N8nNotN8n               the URL answers, but not as n8n's public API does
    ├── N8nUnauthorized         401/403: a wrong or revoked API key
    └── N8nWorkflowNotFound     404 for one workflow id
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.encryption import Encryptor
from core.network_guard import BlockedAddressError
from db.models import Integration, Workflow
from db.repositories.integrations import IntegrationRepository

PAGE_SIZE: Final = 100
MAX_PAGES: Final = 1000  # a cursor that never ends must not loop forever


# --- credentials and lookup -----------------------------------------------------------


def decrypt_credentials(integration: Integration, encryptor: Encryptor) -> dict[str, Any]:
    """The integration's credentials, decrypted (``{}`` when it has none)."""
    if not integration.credentials_encrypted:
        return {}
    value = json.loads(encryptor.decrypt(integration.credentials_encrypted))
    return value if isinstance(value, dict) else {}


def encrypt_credentials(credentials: Mapping[str, Any], encryptor: Encryptor) -> str:
    """What ``Integration.credentials_encrypted`` stores for ``credentials``."""
    return encryptor.encrypt(json.dumps(credentials))


async def owned_integration(
    session: AsyncSession, integration_id: uuid.UUID, owner_id: uuid.UUID | None
) -> Integration | None:
    """The integration if ``owner_id`` owns it; ``owner_id=None`` (an admin) sees any."""
    integration = await IntegrationRepository(session).get(integration_id)
    if integration is None or (owner_id is not None and integration.owner_id != owner_id):
        return None
    return integration


@dataclass(frozen=True)
class ResolvedIntegration:
    """An integration's config and decrypted credentials (held only in memory)."""

    config: Mapping[str, Any]
    credentials: Mapping[str, Any] = field(repr=False)
    id: str = ""  # names the connection's shared limits (max_concurrency, rate_limit)


class WorkflowIntegrations:
    """The integrations a workflow's steps may name: those of the workflow's owner."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], encryptor: Encryptor) -> None:
        self._sessions = sessions
        self._encryptor = encryptor

    async def find(self, workflow_id: str, name: str, kind: str) -> ResolvedIntegration | None:
        """The ``kind`` integration ``name`` of the owner of Headrace workflow ``workflow_id``.

        Returns:
            Its config and decrypted credentials; ``None`` when the owner has no integration
            of that name, or it is of another type.
        """
        async with self._sessions() as session:
            workflow = await session.get(Workflow, uuid.UUID(workflow_id))
            found = (
                await IntegrationRepository(session).by_name(workflow.owner_id, name)
                if workflow is not None
                else None
            )
        if found is None or found.type != kind:
            return None
        return ResolvedIntegration(
            found.config, decrypt_credentials(found, self._encryptor), id=str(found.id)
        )


# --- the n8n REST client --------------------------------------------------------------


class N8nError(Exception):
    """Something went wrong talking to n8n; the message is safe to show."""


class N8nUnreachable(N8nError):
    pass


class N8nNotN8n(N8nError):
    pass


class N8nUnauthorized(N8nError):
    pass


class N8nWorkflowNotFound(N8nError):
    pass


class N8nClient:
    """One n8n instance's public API, through a shared HTTP client (the SSRF guard's)."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, api_key: str) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._headers = {"X-N8N-API-KEY": api_key, "Accept": "application/json"}

    async def workflow_ids(self) -> list[str]:
        """Every workflow id, following ``nextCursor`` page by page."""
        return [str(w["id"]) async for w in self._pages("/api/v1/workflows")]

    async def workflow(self, workflow_id: str) -> dict[str, Any]:
        """One workflow, in n8n's export shape."""
        body = await self._get(f"/api/v1/workflows/{workflow_id}", not_found=workflow_id)
        if not isinstance(body, dict) or not isinstance(body.get("nodes"), list):
            raise N8nNotN8n(f"{self._base} did not answer with a workflow for {workflow_id}")
        return body

    async def check(self) -> int:
        """Prove the URL is n8n and the key works; return how many workflows one page lists."""
        body = await self._get("/api/v1/workflows", params={"limit": 1})
        return len(_page_data(body, self._base))

    async def get(self, path: str, params: Mapping[str, Any] | None = None) -> httpx.Response:
        """``GET`` a path of the API, whatever the status (callers judge it).

        Raises:
            N8nUnreachable: The request did not get an answer; the transport's exception
                (or the network guard's refusal) is its ``__cause__``.
        """
        try:
            return await self._http.get(self._base + path, params=params, headers=self._headers)
        except BlockedAddressError as exc:
            raise N8nUnreachable(f"{self._base} is not allowed: {exc}") from exc
        except httpx.HTTPError as exc:
            raise N8nUnreachable(f"{self._base} is unreachable ({type(exc).__name__})") from exc

    async def _pages(self, path: str) -> AsyncIterator[dict[str, Any]]:
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            params: dict[str, Any] = {"limit": PAGE_SIZE}
            if cursor:
                params["cursor"] = cursor
            body = await self._get(path, params=params)
            for item in _page_data(body, self._base):
                yield item
            cursor = body.get("nextCursor")
            if not cursor:
                return
        raise N8nNotN8n(f"{self._base} kept returning a next page after {MAX_PAGES} pages")

    async def _get(
        self, path: str, *, params: dict[str, Any] | None = None, not_found: str | None = None
    ) -> Any:
        """The JSON of a ``200``; any other answer is one of the errors above."""
        response = await self.get(path, params)
        if response.status_code in (401, 403):
            raise N8nUnauthorized(f"n8n refused the API key ({response.status_code})")
        if response.status_code == 404 and not_found is not None:
            raise N8nWorkflowNotFound(f"n8n has no workflow {not_found}")
        if response.status_code >= 500:
            raise N8nUnreachable(f"{self._base} failed with {response.status_code}")
        if response.status_code != 200:
            raise N8nNotN8n(
                f"{(self._base + path).split('?')[0]} answered {response.status_code}:"
                " is this an n8n URL with the public API enabled?"
            )
        try:
            return response.json()
        except ValueError as exc:
            raise N8nNotN8n(f"{self._base} did not answer JSON: is this an n8n URL?") from exc


def _page_data(body: Any, base: str) -> list[dict[str, Any]]:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list) or not all(isinstance(w, dict) and "id" in w for w in data):
        raise N8nNotN8n(f"{base} did not answer like n8n's API (no `data` list of workflows)")
    return data
