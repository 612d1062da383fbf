"""Structured logs: JSON lines in production, readable text in dev; request and run ids.

Every record carries the ids of what it is about when they are known: ``request_id`` (the
request being served, from ``X-Request-ID`` or generated), ``execution_id`` and ``step_id``
(bound with :func:`log_context`, or taken from the Temporal activity being run). The ids
live in :mod:`contextvars`, so concurrent requests and activities never mix them up.

Nothing secret is written: values of secret-looking keys in ``extra`` are replaced, and
credentials that slip into a message (bearer tokens, API keys, passwords in URLs or forms)
are masked before the record is formatted.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.exceptions import ApplicationError

from core.settings import Settings

REQUEST_ID_HEADER = "X-Request-ID"
REDACTED = "[redacted]"

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
execution_id_var: ContextVar[str | None] = ContextVar("execution_id", default=None)
step_id_var: ContextVar[str | None] = ContextVar("step_id", default=None)

_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_SECRET_KEY = re.compile(r"pass(word)?|secret|token|api[_-]?key|authorization|cookie", re.I)
_SECRET_TEXT = (
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + REDACTED),
    (re.compile(r"\bhr_[A-Za-z0-9_-]{8,}"), REDACTED),
    (
        re.compile(r"(?i)\b(password|passwd|secret|token|api_key|access_token)=[^&\s]+"),
        r"\1=" + REDACTED,
    ),
    (re.compile(r"(://[^:/@\s]+:)[^@\s]+@"), r"\1" + REDACTED + "@"),
)
# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}


def current_request_id() -> str | None:
    """The id of the request being served, if any."""
    return request_id_var.get()


def request_memo() -> dict[str, str] | None:
    """The Temporal memo that ties a run to the request that started it (``request_id``)."""
    request_id = request_id_var.get()
    return {"request_id": request_id} if request_id else None


@contextmanager
def log_context(*, execution_id: str | None = None, step_id: str | None = None) -> Iterator[None]:
    """Bind execution and step ids to every record logged inside the block."""
    tokens = []
    if execution_id is not None:
        tokens.append((execution_id_var, execution_id_var.set(execution_id)))
    if step_id is not None:
        tokens.append((step_id_var, step_id_var.set(step_id)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def redact(text: str) -> str:
    """``text`` with credentials masked."""
    for pattern, replacement in _SECRET_TEXT:
        text = pattern.sub(replacement, text)
    return text


# Failures Temporal retries by design (activities/http.py): one line each, not a traceback.
EXPECTED_RETRY_TYPES = frozenset({"HttpServerError", "HttpTooManyRequests", "HttpNetworkError"})


class ExpectedRetryFilter(logging.Filter):
    """Turns the SDK's "Completing activity as failed" traceback into one WARNING line when
    the failure is an expected, retryable one (a 503 from a step's target, say); anything
    else keeps its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if (
            isinstance(error, ApplicationError)
            and not error.non_retryable
            and error.type in EXPECTED_RETRY_TYPES
        ):
            record.msg = f"{record.getMessage()}, to be retried: {error.type}: {error.message}"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


class ContextFilter(logging.Filter):
    """Adds ``request_id``, ``execution_id`` and ``step_id`` to records; masks secrets."""

    def filter(self, record: logging.LogRecord) -> bool:
        activity_ids = _temporal_activity_ids(record)
        record.request_id = request_id_var.get()
        record.execution_id = execution_id_var.get() or activity_ids.get("workflow_id")
        record.step_id = step_id_var.get()
        record.msg = redact(record.getMessage())
        record.args = None
        for key in _extra_keys(record):
            if _SECRET_KEY.search(key):
                setattr(record, key, REDACTED)
        return True


def _temporal_activity_ids(record: logging.LogRecord) -> dict[str, Any]:
    # temporalio's activity.logger attaches the activity's info as ``temporal_activity``.
    info = getattr(record, "temporal_activity", None)
    return info if isinstance(info, dict) else {}


def _extra_keys(record: logging.LogRecord) -> list[str]:
    return [k for k in vars(record) if k not in _STANDARD_ATTRS]


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, ids, extras, exception."""

    _OWN = frozenset({"request_id", "execution_id", "step_id"})

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "execution_id", "step_id"):
            value = getattr(record, key, None)
            if value:
                entry[key] = value
        for key in _extra_keys(record):
            if key not in self._OWN and key != "temporal_activity":
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger [ids]: message`` for people reading a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(ids)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        ids = [
            f"{label}={value}"
            for label, value in (
                ("req", getattr(record, "request_id", None)),
                ("exec", getattr(record, "execution_id", None)),
                ("step", getattr(record, "step_id", None)),
            )
            if value
        ]
        record.ids = f" [{' '.join(ids)}]" if ids else ""
        return super().format(record)


def configure_logging(settings: Settings) -> None:
    """Send every log record to stderr, as JSON or text per ``HEADRACE_LOG_FORMAT``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ExpectedRetryFilter())
    handler.addFilter(ContextFilter())
    json_format = settings.effective_log_format == "json"
    handler.setFormatter(JsonFormatter() if json_format else TextFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        # uvicorn installs its own handlers; route its records through ours instead.
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    # httpx and httpcore log whole request URLs at INFO, query strings (and so any secret a
    # step put there) included.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


class RequestIdMiddleware:
    """Takes ``X-Request-ID`` from the request (or makes one) and returns it on the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        token = request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


def _incoming_request_id(scope: Scope) -> str | None:
    wanted = REQUEST_ID_HEADER.lower().encode()
    for name, value in scope.get("headers", ()):
        if name == wanted:
            candidate = value.decode("latin-1").strip()
            # An id from outside is echoed into logs and headers: keep it short and plain.
            return candidate if _VALID_REQUEST_ID.fullmatch(candidate) else None
    return None
