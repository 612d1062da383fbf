"""Secrets for step activities: turn a run's genuine references into values, and hide them.

The workflow hands an activity its rendered ``with`` and, beside it, the run's key (see
:mod:`temporal_workflows.secret_markers`). :class:`SecretResolver` replaces only the markers
that carry that key, with the values of secrets the workflow's owner may use, and returns every
form in which those values could come back (raw, URL-encoded, JSON-escaped), so the caller can
redact them from outputs and errors before anything is recorded.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Collection
from typing import Any
from urllib.parse import quote, quote_plus

from temporalio.exceptions import ApplicationError

from temporal_workflows.expressions import (
    UnknownSecretError,
    redact_secrets,
    resolve_secret_markers,
)
from temporal_workflows.secret_markers import contains_unkeyed_markers, keyed_secret_names

SecretLookup = Callable[[str, Collection[str]], Awaitable[dict[str, str]]]
"""``(workflow id, names)``: the values of those secrets the workflow's owner may use."""


class SecretResolver:
    """Resolves a step's secret references for one worker."""

    def __init__(self, lookup: SecretLookup | None) -> None:
        self._lookup = lookup

    async def resolve(
        self, value: Any, *, key: str, workflow_id: str, location: str
    ) -> tuple[Any, list[str]]:
        """``value`` with the run's references replaced, and the forms of the values used.

        Raises:
            ApplicationError: ``UnknownSecret`` for a name the workflow's owner has no secret
                by; ``SecretError`` when this worker has no secrets or the run is too old to
                have a key. Both are non-retryable.
        """
        names = keyed_secret_names(value, key)
        if not names:
            # A run started before keys existed: its references cannot be told from forged
            # text, so its steps refuse them instead of guessing.
            if not key and contains_unkeyed_markers(value):
                raise _error(
                    "this run started before secret references were keyed; start it again",
                    "SecretError",
                )
            return value, []
        if self._lookup is None:
            raise _error("secrets are not available on this worker", "SecretError")
        values = await self._lookup(workflow_id, names)
        try:
            resolved = resolve_secret_markers(value, key, values.__getitem__, location=location)
        except UnknownSecretError as exc:
            raise _error(str(exc), "UnknownSecret") from None
        return resolved, secret_forms(values.values())


def secret_forms(values: Collection[str]) -> list[str]:
    """The values as a response may echo them: raw, URL-encoded and JSON-escaped."""
    forms = set(values)
    for value in values:
        forms.update({quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]})
    return [form for form in forms if form]


def redacted_error(error: ApplicationError, hidden: list[str]) -> ApplicationError:
    """The same failure with secret values hidden from its message and details."""
    if not hidden:
        return error
    return ApplicationError(
        redact_secrets(error.message, hidden),
        *redact_secrets(list(error.details), hidden),
        type=error.type,
        non_retryable=error.non_retryable,
        next_retry_delay=error.next_retry_delay,
    )


def _error(message: str, error_type: str) -> ApplicationError:
    return ApplicationError(message, type=error_type, non_retryable=True)
