"""ASGI middleware that must see requests before FastAPI parses them, or every response."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import PayloadTooLarge
from api.problems import problem_response


class _TooLarge(Exception):
    pass


class BodySizeLimitMiddleware:
    """413 for bodies over ``limit`` bytes: by Content-Length at once, else while streaming."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._reject(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = PayloadTooLarge(detail=f"Request body exceeds {self.limit} bytes")
        await problem_response(error)(scope, receive, send)


# --- security headers ------------------------------------------------------------------------

# The dashboard: its own files only; its one inline script (the theme, in index.html) is
# allowed by hash; React sets styles through the DOM, and the few style attributes need
# 'unsafe-inline' for styles only (no script can run from a style).
_APP_POLICY = (
    "default-src 'self'; script-src 'self'{hashes}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
# /docs and /redoc are FastAPI's pages: Swagger UI and ReDoc load from jsDelivr and start
# with an inline script; ReDoc takes Google Fonts and runs a blob: worker.
_DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "font-src 'self' https://fonts.gstatic.com; worker-src 'self' blob:; connect-src 'self'; "
    "object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/redoc")
HSTS = "max-age=31536000; includeSubDomains"


class _InlineScripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self._inline = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._inline = tag == "script" and not any(name == "src" for name, _ in attrs)
        if self._inline:
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        self._inline = False

    def handle_data(self, data: str) -> None:
        if self._inline:
            self.scripts[-1] += data


def inline_script_hashes(index_html: Path) -> list[str]:
    """CSP source expressions (``'sha256-…'``) of the inline scripts of the built dashboard."""
    if not index_html.is_file():
        return []
    parser = _InlineScripts()
    parser.feed(index_html.read_text(encoding="utf-8"))
    digests = (hashlib.sha256(script.encode()).digest() for script in parser.scripts)
    return [f"'sha256-{base64.b64encode(d).decode()}'" for d in digests]


class SecurityHeadersMiddleware:
    """Hardening headers on every HTTP response: CSP (``frame-ancestors 'none'``), nosniff,
    no referrer, no framing; HSTS over https, or always when ``hsts`` (TLS ends upstream)."""

    def __init__(self, app: ASGIApp, *, hsts: bool, script_hashes: Sequence[str] = ()) -> None:
        self.app = app
        self.hsts = hsts
        hashes = "".join(f" {h}" for h in script_hashes)
        self.base = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
        ]
        self.app_policy = _APP_POLICY.format(hashes=hashes).encode()
        self.docs_policy = _DOCS_POLICY.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        added = list(self.base)
        docs = str(scope.get("path", "")).startswith(DOCS_PATHS)
        added.append((b"content-security-policy", self.docs_policy if docs else self.app_policy))
        if self.hsts or scope.get("scheme") == "https":
            added.append((b"strict-transport-security", HSTS.encode()))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in added if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
