"""Registering Headrace's search attributes on a Temporal namespace, and checking them.

Every run carries the attributes of :mod:`temporal_workflows.visibility`; Temporal refuses
a start (or a child start, which would stall the parent) carrying one it does not know.
``headrace dev`` and the test servers register them at start; on a production cluster
``headrace temporal setup`` does, idempotently, and a worker refuses to start without them.
On Temporal Cloud the namespace's attributes are added with ``tcld`` or the Cloud UI instead
(its operator API does not add them); the check still runs there.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode

from temporal_workflows.visibility import SEARCH_ATTRIBUTES, SETUP_COMMAND

logger = logging.getLogger(__name__)

__all__ = [
    "SearchAttributesMissing",
    "dev_server_arguments",
    "ensure_search_attributes",
    "missing_search_attributes",
    "register_search_attributes",
]


class SearchAttributesMissing(RuntimeError):
    """The namespace lacks Headrace's search attributes (or has one of another type)."""

    def __init__(self, namespace: str, problems: Sequence[str]) -> None:
        super().__init__(
            f"Temporal namespace {namespace!r} is not set up for Headrace: "
            f"{'; '.join(problems)}. Run `{SETUP_COMMAND}` (with the same HEADRACE_TEMPORAL_* "
            "settings) once to register its search attributes, then start again."
        )
        self.problems = list(problems)


def _indexed_type(key: SearchAttributeKey[str] | SearchAttributeKey[int]) -> int:
    # The SDK's enum has the protocol's numbers (KEYWORD = 2, INT = 3).
    return int(key.indexed_value_type)


def dev_server_arguments() -> list[str]:
    """``temporal server start-dev`` flags that register the attributes at start."""
    arguments: list[str] = []
    for key in SEARCH_ATTRIBUTES:
        kind = key._metadata_type  # the server's own name of the type: "Keyword", "Int"
        arguments += ["--search-attribute", f"{key.name}={kind}"]
    return arguments


async def missing_search_attributes(client: Client) -> list[str]:
    """What is wrong with the client's namespace: each attribute absent or mistyped."""
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    problems = []
    for key in SEARCH_ATTRIBUTES:
        found = listed.custom_attributes.get(key.name)
        if found is None:
            problems.append(f"{key.name} is not registered")
        elif found != _indexed_type(key):
            problems.append(
                f"{key.name} is registered as {IndexedValueType.Name(found)}, "
                f"not {IndexedValueType.Name(_indexed_type(key))}"  # type: ignore[arg-type]
            )
    return problems


async def register_search_attributes(client: Client) -> list[str]:
    """Add the attributes the namespace lacks; the names added (none on a second call).

    Raises:
        SearchAttributesMissing: an attribute exists with another type (nothing is changed:
            Temporal cannot retype one, an operator must decide).
    """
    problems = await missing_search_attributes(client)
    mistyped = [p for p in problems if "registered as" in p]
    if mistyped:
        raise SearchAttributesMissing(client.namespace, mistyped)
    absent = [key for key in SEARCH_ATTRIBUTES if f"{key.name} is not registered" in problems]
    if absent:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=client.namespace,
                search_attributes={key.name: _indexed_type(key) for key in absent},  # type: ignore[misc]
            )
        )
    return [key.name for key in absent]


async def ensure_search_attributes(client: Client) -> None:
    """Raise :class:`SearchAttributesMissing` unless the namespace has every attribute."""
    try:
        problems = await missing_search_attributes(client)
    except RPCError as exc:
        if exc.status not in (RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNIMPLEMENTED):
            raise
        # Temporal Cloud API keys may not list them: starts will tell if they are missing.
        logger.warning("cannot list the namespace's search attributes: %s", exc.message)
        return
    if problems:
        raise SearchAttributesMissing(client.namespace, problems)
