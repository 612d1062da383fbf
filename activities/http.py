"""The ``http`` step: one HTTP request, its response as JSON-friendly step output.

The activity makes exactly one attempt; retries are Temporal's, driven by the RetryPolicy
of the user's definition. What it raises tells Temporal whether a retry can help:

    ApplicationError type       cause                                    retryable
    HttpServerError             5xx or 408                               yes
    HttpTooManyRequests         429 (honours Retry-After)                yes
    HttpNetworkError            DNS, connect, timeout, broken response   yes
    HttpClientError             any other 4xx                            no
    HttpBlockedAddress          the SSRF guard refused the address       no
    HttpInvalidRequest          bad URL, scheme, method, body or auth    no
    HttpResponseTooLarge        body over ``max_response_bytes``         no
    HttpTooManyRedirects        redirect loop                            no
    HttpPaginationError         ``paginate`` cannot follow the pages      no

A status listed in ``expect_status`` is a success whatever it is. Messages name the
method and the URL without its query string, fragment or user info (they may carry
secrets), and never include header values.

Redirects are followed hop by hop (``follow_redirects``). httpx drops ``Authorization`` when
a hop leaves the origin; a step's own headers (an API key in ``X-Api-Key``, a connection's
header) would still go along, so on a hop to another origin every header the step or its
connection set is dropped too, except the harmless ones in :data:`KEPT_ACROSS_ORIGINS`.
"""

from __future__ import annotations

import base64
import dataclasses
import email.utils
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.http_pages import fetch_pages
from core.heartbeat import heartbeat
from core.network_guard import BlockedAddressError

DEFAULT_MAX_RESPONSE_BYTES: Final = 50 * 1024 * 1024
# Enough of an error body to debug with, small enough for Temporal history.
_ERROR_BODY_BYTES: Final = 2048
# The event bus gets a progress event per this many bytes, not one per network chunk.
_PROGRESS_EVERY_BYTES: Final = 1024 * 1024
_METHOD: Final = re.compile(r"[A-Z]+")
_RETRYABLE_CLIENT_STATUSES: Final = frozenset({408, 429})
KEPT_ACROSS_ORIGINS: Final = frozenset({"accept", "accept-language", "content-type"})

ProgressCallback = Callable[[int], Awaitable[None]]

logger = logging.getLogger(__name__)


@dataclass
class HttpRequestInput:
    """What an ``http`` step asks for, with templates already rendered.

    At most one of ``json``, ``body`` and ``form`` is set; ``json=None`` means no JSON
    body. ``auth`` is ``{"type": "basic", "username", "password"}`` or
    ``{"type": "bearer", "token"}``.
    """

    step_id: str
    execution_id: str
    method: str
    url: str
    headers: dict[str, Any] = field(default_factory=dict)  # values rendered, maybe not text
    query: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    body: str | None = None
    form: dict[str, Any] | None = None
    auth: dict[str, str] | None = None
    expect_status: list[int] = field(default_factory=list)
    timeout_seconds: float | None = None
    follow_redirects: bool = True
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    paginate: dict[str, Any] | None = None  # see activities/http_pages.py


class HttpActivities:
    """Activities of the ``http`` step, around one shared ``httpx.AsyncClient``."""

    def __init__(self, client: httpx.AsyncClient, on_progress: ProgressCallback | None = None):
        """Keep the client and the optional progress sink.

        Args:
            client: Built by ``core.network_guard.build_http_client`` in the worker,
                so the SSRF guard applies; tests may pass their own.
            on_progress: Awaited with the number of body bytes read so far, every MiB and
                once at the end.
        """
        self._client = client
        self._on_progress = on_progress

    @activity.defn(name="http_request")
    async def request(self, req: HttpRequestInput) -> dict[str, Any]:
        """Send one HTTP request and return ``{status, headers, body}``.

        Args:
            req: The rendered step input.

        Returns:
            ``status`` (int), ``headers`` (lower-case names, repeated ones joined with
            ``", "``), ``body`` (parsed JSON for JSON media types, else text; bytes that
            are not text are base64 with ``"body_encoding": "base64"``).

        Raises:
            ApplicationError: See the module docstring for types and retryability.
        """
        # Templates often render "get"; HTTP methods are case-sensitive upper-case tokens.
        req = dataclasses.replace(req, method=req.method.strip().upper())
        if req.paginate is not None:
            _validate(req, _describe(req.method, req.url))
            return await fetch_pages(self._request_one, req, _describe(req.method, req.url))
        return await self._request_one(req)

    async def _request_one(self, req: HttpRequestInput) -> dict[str, Any]:
        """One request (one page): its output, or the ApplicationError its failure is."""
        target = _describe(req.method, req.url)
        request = _build_request(self._client, req, target)
        auth = _basic_auth(req.auth)
        try:
            response = await self._send(request, req, auth)
            try:
                return await self._handle_response(response, req, target)
            finally:
                await response.aclose()
        except BlockedAddressError as exc:
            raise _error(f"{target} refused: {exc}", "HttpBlockedAddress", retryable=False) from exc
        except httpx.HTTPError as exc:
            raise _transport_error(exc, target) from exc

    async def _send(
        self, request: httpx.Request, req: HttpRequestInput, auth: httpx.BasicAuth | None
    ) -> httpx.Response:
        """Send ``request``, then follow its redirects (when asked) hop by hop."""
        origin = _origin(request.url)
        step_headers = {name.lower() for name in req.headers} - KEPT_ACROSS_ORIGINS
        response = await self._client.send(request, stream=True, auth=auth)
        hops = 0
        while req.follow_redirects and response.next_request is not None:
            following = response.next_request
            await response.aclose()
            hops += 1
            if hops > self._client.max_redirects:
                raise httpx.TooManyRedirects("Exceeded maximum allowed redirects.", request=request)
            if _origin(following.url) != origin:
                for name in step_headers:
                    following.headers.pop(name, None)
            response = await self._client.send(following, stream=True)
        return response

    async def _handle_response(
        self, response: httpx.Response, req: HttpRequestInput, target: str
    ) -> dict[str, Any]:
        """Read the body of a success, or raise the failure a status stands for."""
        status = response.status_code
        if status in req.expect_status or status < 400:
            content = await self._read_body(response, req.max_response_bytes, target)
            return {
                "status": status,
                "headers": dict(response.headers.items()),
                **_decode_body(content, response),
            }
        excerpt = await self._read_excerpt(response)
        raise _status_error(response, target, excerpt)

    async def _read_body(self, response: httpx.Response, limit: int, target: str) -> bytes:
        """Read the whole (decoded) body, failing as soon as it grows past ``limit``."""
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _too_large(target, limit)
        content = bytearray()
        reported = 0
        async for chunk in response.aiter_bytes():
            content += chunk
            # The limit applies to decoded bytes, so a small gzip bomb is caught too.
            if len(content) > limit:
                raise _too_large(target, limit)
            heartbeat(len(content))
            if len(content) - reported >= _PROGRESS_EVERY_BYTES:
                reported = len(content)
                await self._report_progress(reported)
        await self._report_progress(len(content))
        return bytes(content)

    async def _read_excerpt(self, response: httpx.Response) -> str:
        """Read the start of an error body; the rest is not worth the bytes."""
        content = bytearray()
        async for chunk in response.aiter_bytes():
            content += chunk
            if len(content) >= _ERROR_BODY_BYTES:
                break
        return content[:_ERROR_BODY_BYTES].decode("utf-8", errors="replace")

    async def _report_progress(self, bytes_read: int) -> None:
        """Tell the progress sink; its failures must not fail the request."""
        if self._on_progress is None:
            return
        try:
            await self._on_progress(bytes_read)
        except Exception:
            logger.warning("http step progress callback failed", exc_info=True)


def header_text(value: Any) -> str:
    """A header value as text, spelled as JSON (``3``, ``true``) when it is not a string.

    A template that is one expression renders to its native value, not to its text.
    """
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _build_request(client: httpx.AsyncClient, req: HttpRequestInput, target: str) -> httpx.Request:
    """Validate the input and build the request, or raise HttpInvalidRequest."""
    _validate(req, target)
    headers = {name: header_text(value) for name, value in req.headers.items()}
    if req.auth is not None and req.auth.get("type") == "bearer":
        headers["Authorization"] = f"Bearer {req.auth.get('token', '')}"
    try:
        return client.build_request(
            req.method,
            # Merged by hand: httpx 0.28's ``params=`` replaces the URL's own query.
            httpx.URL(req.url).copy_merge_params(req.query),
            headers=headers,
            json=req.json,
            content=req.body.encode("utf-8") if req.body is not None else None,
            data=req.form,
            timeout=req.timeout_seconds
            if req.timeout_seconds is not None
            else httpx.USE_CLIENT_DEFAULT,
        )
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        # Only the exception's type: its text may quote a header value or a query value.
        raise _invalid(f"{target}: cannot build the request ({type(exc).__name__})") from exc


def _validate(req: HttpRequestInput, target: str) -> None:
    """Refuse inputs no retry can fix, before anything goes on the wire."""
    try:
        url = httpx.URL(req.url)
    except httpx.InvalidURL as exc:
        raise _invalid(f"invalid URL for {req.method}: {exc}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise _invalid(f"{target}: only absolute http and https URLs are allowed")
    if not _METHOD.fullmatch(req.method):
        raise _invalid(f"{target}: the method must be letters only")
    if sum(part is not None for part in (req.json, req.body, req.form)) > 1:
        raise _invalid(f"{target}: give at most one of json, body and form")
    if req.max_response_bytes <= 0:
        raise _invalid(f"{target}: max_response_bytes must be positive")
    if req.auth is not None:
        _validate_auth(req.auth, target)


def _validate_auth(auth: dict[str, str], target: str) -> None:
    """Check the shape of ``auth`` (never its values, which are secrets)."""
    required = {"basic": ("username", "password"), "bearer": ("token",)}.get(auth.get("type", ""))
    if required is None:
        raise _invalid(f"{target}: auth.type must be 'basic' or 'bearer'")
    missing = [name for name in required if not isinstance(auth.get(name), str)]
    if missing:
        raise _invalid(f"{target}: auth needs {', '.join(missing)}")


def _basic_auth(auth: dict[str, str] | None) -> httpx.BasicAuth | None:
    """httpx's BasicAuth for ``type: basic`` (bearer is a plain header)."""
    if auth is None or auth.get("type") != "basic":
        return None
    return httpx.BasicAuth(auth["username"], auth["password"])


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def _describe(method: str, url: str) -> str:
    """``METHOD scheme://host/path``: the URL without query, fragment or user info."""
    try:
        safe = str(httpx.URL(url).copy_with(query=None, fragment=None, userinfo=b""))
    except (httpx.InvalidURL, TypeError, ValueError):
        safe = "<invalid URL>"
    return f"{method} {safe}"


def _decode_body(content: bytes, response: httpx.Response) -> dict[str, Any]:
    """Parsed JSON for JSON media types, else text, else base64."""
    media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if content and (media_type == "application/json" or media_type.endswith("+json")):
        try:
            return {"body": json.loads(content)}
        except ValueError:
            pass  # A server that mislabels its body still gets its text returned.
    try:
        return {"body": content.decode(response.charset_encoding or "utf-8")}
    except (LookupError, UnicodeDecodeError):
        return {"body": base64.b64encode(content).decode("ascii"), "body_encoding": "base64"}


def _status_error(response: httpx.Response, target: str, excerpt: str) -> ApplicationError:
    """The failure for a status that is neither a success nor expected."""
    status = response.status_code
    details = {"status": status, "body": excerpt}
    message = f"{target} returned {status}"
    if status >= 500 or status in _RETRYABLE_CLIENT_STATUSES:
        return ApplicationError(
            message,
            details,
            type="HttpTooManyRequests" if status == 429 else "HttpServerError",
            # 503 carries Retry-After as often as 429 does; both mean "not before then".
            next_retry_delay=_retry_after(response.headers.get("retry-after"))
            if status in (429, 503)
            else None,
        )
    return ApplicationError(message, details, type="HttpClientError", non_retryable=True)


def _retry_after(value: str | None) -> timedelta | None:
    """Parse Retry-After (delay-seconds or HTTP-date); None when absent, past or invalid."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value)) if int(value) > 0 else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delay = when - datetime.now(UTC)
    return delay if delay > timedelta(0) else None


def _transport_error(exc: httpx.HTTPError, target: str) -> ApplicationError:
    """Map an httpx failure without a usable response to an ApplicationError."""
    if isinstance(exc, httpx.TooManyRedirects):
        return _error(f"{target}: too many redirects", "HttpTooManyRedirects", retryable=False)
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError):
        # A redirect to another scheme, or a header value h11 refuses to send.
        return _invalid(f"{target}: {type(exc).__name__}")
    if isinstance(exc, httpx.TimeoutException):
        return _error(f"{target} timed out ({type(exc).__name__})", "HttpNetworkError")
    return _error(f"{target} failed: {type(exc).__name__}: {exc}", "HttpNetworkError")


def _too_large(target: str, limit: int) -> ApplicationError:
    """The failure for a body over the limit."""
    return _error(
        f"{target}: response body exceeds {limit} bytes", "HttpResponseTooLarge", retryable=False
    )


def _invalid(message: str) -> ApplicationError:
    """The failure for an input no retry can fix."""
    return _error(message, "HttpInvalidRequest", retryable=False)


def _error(message: str, error_type: str, *, retryable: bool = True) -> ApplicationError:
    """An ApplicationError of ``error_type``; Temporal retries it unless told not to."""
    return ApplicationError(message, type=error_type, non_retryable=not retryable)
