"""Pagination of the ``http`` step (``with.paginate``): one activity follows the pages.

Paging runs inside the http activity rather than as an interpreter loop: a 100-page
listing is one activity in the run's history, not 100, and the pages of one listing are
fetched together (a retry of the step fetches them again, from the first).

Every page is an ordinary request through the same guarded client, so the SSRF guard
applies to each page's address. A next-page URL comes from the response, that is from the
server: it may be relative, and it must stay on the first request's origin (scheme, host,
port), or the step's headers and auth would go to wherever a hostile server points them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from pydantic import ValidationError
from temporalio.exceptions import ApplicationError

from temporal_workflows.expressions import ExpressionError, evaluate_expression
from temporal_workflows.step_types import HttpPaginate

__all__ = ["fetch_pages"]

Send = Callable[[Any], Awaitable[dict[str, Any]]]


async def fetch_pages(send: Send, req: Any, target: str) -> dict[str, Any]:
    """Request the first page, then each next one, and concatenate their items.

    Args:
        send: Makes one request (an ``HttpRequestInput``) and returns its output.
        req: The first page's request; ``req.paginate`` holds the pagination fields.
        target: ``METHOD url`` without query, for messages.

    Returns:
        The last page's ``status`` and ``headers``, ``body``: every page's items in order,
        ``pages``: how many were fetched, ``complete``: false when ``max_pages`` stopped it
        while there was a next page.

    Raises:
        ApplicationError: ``HttpInvalidRequest`` for bad pagination fields,
            ``HttpPaginationError`` when a page's items are not a list, the next page is on
            another origin, or an expression fails on a response; any error of a page.
    """
    spec = _spec(req.paginate, target)
    origin = _origin(httpx.URL(req.url))
    page, items, pages = req, [], 0
    while True:
        response = await send(page)
        pages += 1
        found = _read(spec.items, response, pages, "items", target)
        if not isinstance(found, list):
            raise _error(f"{target}: page {pages}: items must be a list, not {_kind(found)}")
        items.extend(found)
        following = _read(spec.next_url or spec.cursor or "", response, pages, "next", target)
        more = following not in (None, "", False)
        if not more or pages >= spec.max_pages:
            break
        page = _next_page(req, page, spec, following, origin, target, pages)
    return {
        "status": response["status"],
        "headers": response["headers"],
        "body": items,
        "pages": pages,
        "complete": not more,
    }


def _spec(raw: Any, target: str) -> HttpPaginate:
    try:
        return HttpPaginate.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ApplicationError(
            f"{target}: invalid paginate: {first['msg']}",
            type="HttpInvalidRequest",
            non_retryable=True,
        ) from None


def _read(source: str, response: dict[str, Any], page: int, what: str, target: str) -> Any:
    # A missing value (the last page has no `next` key) reads as null: it ends the paging.
    try:
        return evaluate_expression(f"({source}) | default(none)", {"response": response})
    except ExpressionError as exc:
        raise _error(f"{target}: page {page}: the {what} expression failed: {exc}") from None


def _next_page(
    first: Any,
    current: Any,
    spec: HttpPaginate,
    following: Any,
    origin: tuple[str, str, int | None],
    target: str,
    pages: int,
) -> Any:
    if spec.cursor is not None:
        return dataclasses.replace(first, query={**first.query, spec.cursor_param: following})
    if not isinstance(following, str):
        raise _error(f"{target}: page {pages}: the next URL must be text, not {_kind(following)}")
    try:
        url = httpx.URL(current.url).join(following)
    except httpx.InvalidURL:
        raise _error(f"{target}: page {pages}: the next URL is not a URL") from None
    if _origin(url) != origin:
        raise _error(
            f"{target}: page {pages}: the next URL is on another origin "
            f"({url.scheme}://{url.host}); pages must stay on the first request's origin"
        )
    # The next URL carries its own query (the cursor or page number in it).
    return dataclasses.replace(current, url=str(url), query={})


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _error(message: str) -> ApplicationError:
    return ApplicationError(message, type="HttpPaginationError", non_retryable=True)
