"""A small client of n8n's public REST API (``/api/v1``, ``X-N8N-API-KEY``).

Errors::

    N8nError                    base
    ├── N8nUnreachable          DNS, connect, timeout, TLS, a refused address, or a 5xx
    ├── N8nNotN8n               the URL answers, but not as n8n's public API does
    ├── N8nUnauthorized         401/403: a wrong or revoked API key
    └── N8nWorkflowNotFound     404 for one workflow id
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Final

import httpx

from activities.network_guard import BlockedAddressError

PAGE_SIZE: Final = 100
MAX_PAGES: Final = 1000  # a cursor that never ends must not loop forever


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
    """Reads workflows from one n8n instance."""

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
        url = self._base + path
        try:
            response = await self._http.get(url, params=params, headers=self._headers)
        except BlockedAddressError as exc:
            raise N8nUnreachable(f"{self._base} is not allowed: {exc}") from exc
        except httpx.HTTPError as exc:
            raise N8nUnreachable(f"{self._base} is unreachable ({type(exc).__name__})") from exc
        if response.status_code in (401, 403):
            raise N8nUnauthorized(f"n8n refused the API key ({response.status_code})")
        if response.status_code == 404 and not_found is not None:
            raise N8nWorkflowNotFound(f"n8n has no workflow {not_found}")
        if response.status_code >= 500:
            raise N8nUnreachable(f"{self._base} failed with {response.status_code}")
        if response.status_code != 200:
            raise N8nNotN8n(
                f"{url.split('?')[0]} answered {response.status_code}: is this an n8n URL"
                " with the public API enabled?"
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
