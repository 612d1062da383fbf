"""Domain errors. Services raise these; :mod:`api.problems` maps them to problem+json.

The hierarchy::

    HeadraceError                      500  (base class; never raised directly)
    ├── InvalidInput                   422  one entry per problem, each with a JSON pointer
    ├── AuthenticationFailed           401  missing, expired or forged credentials
    ├── PermissionDenied               403  a role that may not do this
    ├── NotFound                       404  missing, or owned by someone the caller may not see
    ├── MethodNotAllowed               405  e.g. a webhook called with the wrong method
    ├── Conflict                       409  a clash with the current state
    ├── PayloadTooLarge                413  a body over HEADRACE_MAX_BODY
    ├── RateLimited                    429  with a Retry-After
    ├── UpstreamUnavailable            503  Temporal, the database or the bus cannot be reached
    └── RunFailed                      500  a ``?wait=true`` webhook call's run failed
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ProblemDetail:
    """One entry of a 422's ``errors``: where (a JSON pointer) and what is wrong."""

    pointer: str
    detail: str
    code: str = "invalid"


@dataclass
class HeadraceError(Exception):
    detail: str = "Internal error"
    status: int = 500
    title: str = "Internal Server Error"
    type_slug: str = "internal"
    headers: dict[str, str] = field(default_factory=dict)
    # RFC 9457 extension members, added to the problem's body (e.g. ``execution_id``).
    extensions: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.detail


@dataclass
class InvalidInput(HeadraceError):
    errors: list[ProblemDetail] = field(default_factory=list)
    status: int = 422
    title: str = "Invalid input"
    type_slug: str = "invalid-input"


@dataclass
class AuthenticationFailed(HeadraceError):
    detail: str = "Missing or invalid credentials"
    status: int = 401
    title: str = "Unauthorized"
    type_slug: str = "unauthorized"
    headers: dict[str, str] = field(default_factory=lambda: {"WWW-Authenticate": "Bearer"})


@dataclass
class PermissionDenied(HeadraceError):
    detail: str = "Your role may not do this"
    status: int = 403
    title: str = "Forbidden"
    type_slug: str = "forbidden"


@dataclass
class NotFound(HeadraceError):
    detail: str = "Not found"
    status: int = 404
    title: str = "Not Found"
    type_slug: str = "not-found"


@dataclass
class MethodNotAllowed(HeadraceError):
    detail: str = "Method not allowed"
    status: int = 405
    title: str = "Method Not Allowed"
    type_slug: str = "method-not-allowed"


@dataclass
class Conflict(HeadraceError):
    detail: str = "Conflict with the current state"
    status: int = 409
    title: str = "Conflict"
    type_slug: str = "conflict"


@dataclass
class ConcurrencyLimitReached(Conflict):
    """A start refused by the workflow's ``concurrency`` (``on_limit: cancel_newest``)."""

    detail: str = "The workflow's concurrency limit is reached"
    title: str = "Concurrency limit reached"
    type_slug: str = "concurrency-limit-reached"


@dataclass
class PayloadTooLarge(HeadraceError):
    detail: str = "Request body too large"
    status: int = 413
    title: str = "Payload Too Large"
    type_slug: str = "payload-too-large"


@dataclass
class RateLimited(HeadraceError):
    detail: str = "Too many requests"
    status: int = 429
    title: str = "Too Many Requests"
    type_slug: str = "rate-limited"


@dataclass
class UpstreamUnavailable(HeadraceError):
    detail: str = "A backing service is unavailable"
    status: int = 503
    title: str = "Service Unavailable"
    type_slug: str = "unavailable"
    # Outages are short-lived: tell the caller when to try again (RFC 9110 §10.2.3).
    headers: dict[str, str] = field(default_factory=lambda: {"Retry-After": "5"})


@dataclass
class RunFailed(HeadraceError):
    detail: str = "The run failed"
    status: int = 500
    title: str = "Run failed"
    type_slug: str = "run-failed"


def not_found(kind: str, ident: object) -> NotFound:
    return NotFound(detail=f"{kind} {ident} not found")


def invalid(pointer: str, detail: str, code: str = "invalid") -> InvalidInput:
    """A 422 with a single problem."""
    return InvalidInput(detail=detail, errors=[ProblemDetail(pointer, detail, code)])
