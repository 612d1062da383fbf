"""The whole OpenAPI document, fuzzed (schemathesis): the API keeps the contract it publishes.

Every operation gets generated requests, valid and invalid, as an admin and as a `user`,
through the real app (real database, real Temporal, real worker). Each answer must be no
5xx, a status the operation documents, with a content type documented for that status.

The default run is small and derandomized (a reproducible ~30 s); ``-m fuzz`` runs many more
examples per operation.

Left out, because they would break the session the fuzz runs in rather than test anything:
``PATCH /api/v1/users/{user_id}`` and ``DELETE /api/v1/users/{user_id}`` (they could demote,
disable or delete the admin every other test logs in as; their answers are covered by
tests/api/test_users.py).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

from tests.conftest import UserFactory

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance]
DESTRUCTIVE = {("PATCH", "/api/v1/users/{user_id}"), ("DELETE", "/api/v1/users/{user_id}")}
QUICK_EXAMPLES = 3
# ``-m fuzz``: examples per operation and role (HEADRACE_FUZZ_EXAMPLES to change it).
FUZZ_EXAMPLES = int(os.environ.get("HEADRACE_FUZZ_EXAMPLES", "200"))

Send = Callable[[schemathesis.Case, dict[str, str]], httpx.Response]


@pytest.fixture(scope="session")
async def session_loop() -> asyncio.AbstractEventLoop:
    """The loop the app and its database connections live on (idle while a test runs)."""
    return asyncio.get_running_loop()


def _schema(app: FastAPI, phases: list[str]) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_dict(app.openapi())
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], deterministic=True
    )
    schema.config.phases.update(phases=phases)
    return schema


@pytest.fixture
def quick_schema(app: FastAPI) -> schemathesis.BaseSchema:
    """Generated requests only (a few per operation)."""
    return _schema(app, ["fuzzing"])


@pytest.fixture
def long_schema(app: FastAPI) -> schemathesis.BaseSchema:
    """Also every boundary and invalid value the schema defines (the coverage phase)."""
    return _schema(app, ["examples", "coverage", "fuzzing"])


@pytest.fixture
async def user_headers(make_user: UserFactory) -> dict[str, str]:
    """A fresh `user`: most operations answer it 403 or 404."""
    return await make_user("user")


@pytest.fixture
def send(client: httpx.AsyncClient, session_loop: asyncio.AbstractEventLoop) -> Send:
    """Send a generated case through the app's ASGI transport, on the app's own loop."""

    def call(case: schemathesis.Case, headers: dict[str, str]) -> httpx.Response:
        return session_loop.run_until_complete(client.request(**_httpx_kwargs(case, headers)))

    return call


def _httpx_kwargs(case: schemathesis.Case, headers: dict[str, str]) -> dict[str, Any]:
    kwargs = case.as_transport_kwargs(base_url=str(httpx.URL("http://testserver")))
    kwargs.pop("cookies", None)
    request: dict[str, Any] = {
        "method": kwargs["method"],
        "url": kwargs["url"],
        "params": kwargs.get("params"),
        "headers": {**(kwargs.get("headers") or {}), **headers},
    }
    if "json" in kwargs:
        request["content"] = json.dumps(kwargs["json"]).encode()
    elif isinstance(kwargs.get("data"), str | bytes):
        request["content"] = kwargs["data"]
    elif kwargs.get("data") is not None or kwargs.get("files") is not None:
        request["data"] = kwargs.get("data")
        request["files"] = kwargs.get("files")
    return request


def _lazy(fixture: str) -> Any:
    schema = schemathesis.pytest.from_fixture(fixture)
    for method, path in DESTRUCTIVE:
        schema = schema.exclude(method=method, path=path)
    return schema


quick = _lazy("quick_schema")
long = _lazy("long_schema")


def fuzz_settings(examples: int) -> Callable[[Any], Any]:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


def _check(case: schemathesis.Case, headers: dict[str, str], send: Send) -> None:
    case.validate_response(send(case, headers), checks=CHECKS)


class TestEveryAnswerIsDocumented:
    """A few generated requests per operation: no 5xx, nothing undocumented."""

    @quick.parametrize()
    @fuzz_settings(QUICK_EXAMPLES)
    def test_as_an_admin(
        self, case: schemathesis.Case, admin_headers: dict[str, str], send: Send
    ) -> None:
        _check(case, admin_headers, send)

    @quick.parametrize()
    @fuzz_settings(QUICK_EXAMPLES)
    def test_as_a_user(
        self, case: schemathesis.Case, user_headers: dict[str, str], send: Send
    ) -> None:
        _check(case, user_headers, send)


@pytest.mark.fuzz
@pytest.mark.timeout(3600)
class TestEveryAnswerIsDocumentedUnderALongFuzz:
    """The same with many examples per operation (``pytest -m fuzz``)."""

    @long.parametrize()
    @fuzz_settings(FUZZ_EXAMPLES)
    def test_as_an_admin(
        self, case: schemathesis.Case, admin_headers: dict[str, str], send: Send
    ) -> None:
        _check(case, admin_headers, send)

    @long.parametrize()
    @fuzz_settings(FUZZ_EXAMPLES)
    def test_as_a_user(
        self, case: schemathesis.Case, user_headers: dict[str, str], send: Send
    ) -> None:
        _check(case, user_headers, send)
