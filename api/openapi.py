"""The OpenAPI document: every operation's error answers, from one table.

Routes declare their success answers; the errors they can give follow from what they are
(authenticated, with path ids, with a body, under ``/api/v1`` or ``/hooks``...).
:data:`ERROR_RULES` says which, so a new route is documented by being added. Every error is
an ``application/problem+json`` :class:`~api.schemas.common.Problem` (as
:mod:`api.problems` answers it). A status a route already documents is left as the route
wrote it, so a route whose error the rules cannot infer declares it with ``responses=``
(the signed artifact download's 403, ``/readyz``'s 503).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from api.problems import PROBLEM_JSON
from api.schemas.common import Problem
from core.settings import Settings

API_PREFIX = "/api/v1/"
HOOKS_PREFIX = "/hooks/"
SCHEMA_REF = "#/components/schemas/"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Routes that trade credentials for tokens: they answer 401 for bad ones and are rate limited.
CREDENTIAL_EXCHANGES = frozenset({("post", "/api/v1/auth/token"), ("post", "/api/v1/auth/refresh")})
# POSTs that change no stored state, so they cannot conflict with it.
STATELESS_POSTS = frozenset(
    {
        "/api/v1/auth/token",
        "/api/v1/auth/refresh",
        "/api/v1/workflows/validate",
        "/api/v1/temporal-codec/decode",
        "/api/v1/temporal-codec/encode",
    }
)


@dataclass(frozen=True)
class Operation:
    """What the error rules look at in one operation of the document."""

    method: str
    path: str
    spec: dict[str, Any]
    schemas: dict[str, Any]  # the document's components.schemas

    @property
    def authenticated(self) -> bool:
        return bool(self.spec.get("security"))

    @property
    def under_api(self) -> bool:
        return self.path.startswith(API_PREFIX)

    @property
    def webhook_intake(self) -> bool:
        return self.path.startswith(HOOKS_PREFIX)

    @property
    def has_body(self) -> bool:
        return "requestBody" in self.spec

    @property
    def has_input(self) -> bool:
        return self.has_body or bool(self.spec.get("parameters"))

    @property
    def has_path_ids(self) -> bool:
        return any(p.get("in") == "path" for p in self.spec.get("parameters", []))

    @property
    def names_other_resources(self) -> bool:
        """A query parameter or body field ``*_id`` names something that may not exist."""
        names = [p.get("name", "") for p in self.spec.get("parameters", [])]
        body = self.spec.get("requestBody", {}).get("content", {}).get("application/json", {})
        ref = body.get("schema", {}).get("$ref", "")
        if ref.startswith(SCHEMA_REF):
            names += self.schemas.get(ref.removeprefix(SCHEMA_REF), {}).get("properties", {})
        return any(name.endswith("_id") for name in names)

    @property
    def exchanges_credentials(self) -> bool:
        return (self.method, self.path) in CREDENTIAL_EXCHANGES

    @property
    def changes_state(self) -> bool:
        return self.method != "get" and self.path not in STATELESS_POSTS


@dataclass(frozen=True)
class ErrorRule:
    """One error status, what it means, and which operations can answer it."""

    status: int
    description: str
    applies: Callable[[Operation], bool]
    headers: tuple[tuple[str, str], ...] = ()


_RETRY_AFTER = ("Retry-After", "Seconds to wait before trying again.")

ERROR_RULES: tuple[ErrorRule, ...] = (
    ErrorRule(
        401,
        "Missing, expired or invalid credentials (for `/hooks`: the webhook's own).",
        lambda op: op.authenticated or op.exchanges_credentials or op.webhook_intake,
        headers=(("WWW-Authenticate", "The scheme to authenticate with (`Bearer`)."),),
    ),
    ErrorRule(
        403,
        "The caller's role, API-key permissions or ownership do not allow this.",
        lambda op: op.authenticated and op.under_api,
    ),
    ErrorRule(
        404,
        "What the request names does not exist, or belongs to someone the caller may not see.",
        lambda op: op.has_path_ids or op.names_other_resources,
    ),
    ErrorRule(
        405,
        "The webhook takes another method.",
        lambda op: op.webhook_intake,
    ),
    ErrorRule(
        409,
        "The request conflicts with the current state (a name in use, a run already ended, "
        "a workflow's concurrency limit reached with `on_limit: cancel_newest`).",
        lambda op: op.webhook_intake or (op.under_api and op.changes_state),
    ),
    ErrorRule(
        413,
        "The request body is over `HEADRACE_MAX_BODY`.",
        lambda op: op.has_body or op.webhook_intake,
    ),
    ErrorRule(
        422,
        "Invalid input: `errors` has one entry per problem, each with a JSON pointer.",
        lambda op: op.has_input or op.under_api or op.webhook_intake,
    ),
    ErrorRule(
        429,
        "Too many requests (the API-wide limit, the login throttle or the webhook's own "
        "limit); try again after `Retry-After` seconds.",
        lambda op: op.under_api or op.webhook_intake,
        headers=(_RETRY_AFTER,),
    ),
    ErrorRule(
        503,
        "The database, Temporal or object storage is unavailable; nothing was changed.",
        lambda op: op.under_api or op.webhook_intake,
        headers=(_RETRY_AFTER,),
    ),
)

# FastAPI's own 422 body, replaced by the problem schema (and dropped once unused).
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the ``Problem`` schema and each operation's error answers to ``schema``."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem = Problem.model_json_schema(ref_template=SCHEMA_REF + "{model}")
    components.update(problem.pop("$defs", {}))
    components["Problem"] = problem
    for path, item in schema.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                _document_operation(Operation(method, path, item[method], components))
    text = json.dumps(schema)
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        if f'"{SCHEMA_REF}{name}"' not in text:
            components.pop(name, None)
    return schema


def _document_operation(op: Operation) -> None:
    responses: dict[str, Any] = op.spec.setdefault("responses", {})
    for declared in responses.values():
        _problem_as_problem_json(declared)
    for rule in ERROR_RULES:
        key = str(rule.status)
        if not rule.applies(op):
            continue
        current = responses.get(key)
        if current is not None and not _is_fastapi_validation_error(current):
            continue  # the route documents it itself
        answer: dict[str, Any] = {
            "description": rule.description,
            "content": {PROBLEM_JSON: {"schema": {"$ref": SCHEMA_REF + "Problem"}}},
        }
        if rule.headers:
            answer["headers"] = {
                name: {"description": text, "schema": {"type": "string"}}
                for name, text in rule.headers
            }
        responses[key] = answer
    op.spec["responses"] = dict(sorted(responses.items()))


def _problem_as_problem_json(response: dict[str, Any]) -> None:
    """A route's own ``responses={4xx: {"model": Problem}}`` is served as problem+json."""
    content = response.get("content", {})
    ref = content.get("application/json", {}).get("schema", {}).get("$ref")
    if ref == SCHEMA_REF + "Problem":
        content[PROBLEM_JSON] = content.pop("application/json")


def _is_fastapi_validation_error(response: dict[str, Any]) -> bool:
    ref = response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
    return bool(ref == SCHEMA_REF + "HTTPValidationError")


def openapi_document() -> dict[str, Any]:
    """The document ``/openapi.json`` serves, built without starting anything."""
    from api.app import create_app  # (the app factory imports this module)

    settings = Settings(environment="dev", secret_key=secrets.token_urlsafe(48))
    return create_app(settings).openapi()


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` (and ``/openapi.json``) the document with its errors."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
