"""The one place where errors become RFC 9457 ``application/problem+json`` responses."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.service import RPCError

from api.errors import HeadraceError, InvalidInput, ProblemDetail, UpstreamUnavailable
from api.temporal_client import connect_failed

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://headrace.dev/problems/"


def problem_response(error: HeadraceError) -> JSONResponse:
    body: dict[str, Any] = {
        **error.extensions,
        "type": TYPE_BASE + error.type_slug,
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
    }
    if isinstance(error, InvalidInput):
        body["errors"] = [
            {"pointer": e.pointer, "detail": e.detail, "code": e.code} for e in error.errors
        ]
    return JSONResponse(
        body, status_code=error.status, media_type=PROBLEM_JSON, headers=error.headers or None
    )


def json_pointer(parts: Sequence[str | int]) -> str:
    """RFC 6901 pointer for a path of keys and indexes."""
    escaped = (str(p).replace("~", "~0").replace("/", "~1") for p in parts)
    return "".join("/" + p for p in escaped)


def _validation_entry(error: dict[str, Any]) -> ProblemDetail:
    loc = list(error.get("loc", ()))
    where = loc.pop(0) if loc else "body"
    # pydantic adds the model/tagged-union name to unions; it is not part of the document
    loc = [p for p in loc if not (isinstance(p, str) and p.startswith("function-"))]
    pointer = json_pointer(loc)
    if where != "body":
        pointer = f"/{where}{pointer}" if pointer else f"/{where}"
    code = str(error.get("type", "invalid"))
    message = str(error.get("msg", "Invalid value"))
    if code == "json_invalid":
        message = f"Body is not valid JSON: {error.get('ctx', {}).get('error', message)}"
    return ProblemDetail(pointer=pointer or "", detail=message, code=code)


async def _on_request_validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [_validation_entry(e) for e in exc.errors()]
    summary = "; ".join(f"{e.pointer or '/'}: {e.detail}" for e in errors[:3])
    return problem_response(InvalidInput(detail=summary, errors=errors))


async def _on_headrace_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HeadraceError)
    if exc.status >= 500:
        logger.error("request failed: %s %s: %s", request.method, request.url.path, exc.detail)
    return problem_response(exc)


_STARLETTE_TITLES = {
    404: ("Not Found", "not-found"),
    405: ("Method Not Allowed", "method-not-allowed"),
}


async def _on_http_exception(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # FastAPI's answer to a body it cannot decode (bytes that are not UTF-8, a broken
        # form): invalid input like any other, so a 422 pointing at the whole body.
        detail = f"The body cannot be parsed: {exc.detail}"
        return problem_response(
            InvalidInput(detail=detail, errors=[ProblemDetail("", detail, "body_unparsable")])
        )
    title, slug = _STARLETTE_TITLES.get(exc.status_code, ("Error", "http-error"))
    detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
    error = HeadraceError(
        detail=detail,
        status=exc.status_code,
        title=title,
        type_slug=slug,
        headers=dict(exc.headers or {}),
    )
    return problem_response(error)


async def _on_database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # A lost connection, a locked SQLite file, a failed commit: nothing was stored, and
    # the same request may well succeed in a moment.
    logger.error("database error on %s %s: %s", request.method, request.url.path, exc)
    error = UpstreamUnavailable(
        detail="The database is unavailable; nothing was changed. Try again.",
        headers={"Retry-After": "1"},
    )
    return problem_response(error)


async def _on_temporal_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # A Temporal call that no service took care of: Temporal is away or overloaded.
    assert isinstance(exc, RPCError)
    logger.error("Temporal error on %s %s: %s", request.method, request.url.path, exc.message)
    error = UpstreamUnavailable(detail=f"Temporal is unavailable: {exc.message}. Try again.")
    return problem_response(error)


async def _on_unreachable(request: Request, exc: Exception) -> JSONResponse:
    # A connection that could not be made (a database or store whose address refuses).
    logger.error("backing service unreachable on %s %s: %r", request.method, request.url.path, exc)
    error = UpstreamUnavailable(detail="A backing service is unreachable. Try again.")
    return problem_response(error)


async def _on_runtime_error(request: Request, exc: Exception) -> JSONResponse:
    if connect_failed(exc):  # the lazy Temporal client could not connect
        logger.error("Temporal unreachable on %s %s: %s", request.method, request.url.path, exc)
        return problem_response(UpstreamUnavailable(detail="Temporal is unreachable. Try again."))
    return await _on_unexpected(request, exc)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(HeadraceError(detail="An internal error occurred; it was logged."))


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_request_validation)
    app.add_exception_handler(HeadraceError, _on_headrace_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    for database_error in (OperationalError, InterfaceError, PoolTimeout):
        app.add_exception_handler(database_error, _on_database_unavailable)
    app.add_exception_handler(RPCError, _on_temporal_unavailable)
    app.add_exception_handler(OSError, _on_unreachable)
    app.add_exception_handler(RuntimeError, _on_runtime_error)
    app.add_exception_handler(Exception, _on_unexpected)
