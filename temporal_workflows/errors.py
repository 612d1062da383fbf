"""The catalogue of step error types, the names ``retry.non_retryable_errors`` matches.

A failed step carries the type of its failure. Users match on these names in
``non_retryable_errors`` (a retry policy stops at once on them) and in ``when`` expressions of
error handlers, so each is listed here with what causes it and whether Temporal retries it by
default (``retryable``: the step's retry policy applies; otherwise the first failure is the
last). docs/definitions.md shows the same table; ``tests/workflows/test_error_catalogue.py``
checks that every type the code raises is here and in the docs.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CATALOGUE", "StepErrorType", "is_known"]


@dataclass(frozen=True)
class StepErrorType:
    name: str
    step: str  # the step type (or "any") that fails with it
    retryable: bool
    cause: str


CATALOGUE: tuple[StepErrorType, ...] = (
    # http
    StepErrorType("HttpServerError", "http", True, "5xx or 408 answer"),
    StepErrorType("HttpTooManyRequests", "http", True, "429 answer (its Retry-After is honoured)"),
    StepErrorType("HttpNetworkError", "http", True, "DNS, connect, timeout, broken response"),
    StepErrorType("HttpClientError", "http", False, "any other 4xx, unless in expect_status"),
    StepErrorType("HttpBlockedAddress", "http", False, "the address is private or Headrace's own"),
    StepErrorType("HttpInvalidRequest", "http", False, "bad URL, scheme, method, body or auth"),
    StepErrorType("HttpResponseTooLarge", "http", False, "body over max_response_bytes"),
    StepErrorType("HttpTooManyRedirects", "http", False, "redirect loop"),
    StepErrorType(
        "HttpPaginationError",
        "http",
        False,
        "paginate: next page on another origin, items not a list",
    ),
    StepErrorType("HttpConnectionError", "http", False, "the named connection is wrong"),
    StepErrorType(
        "HttpConnectionUnavailable", "http", True, "the connection's token endpoint failed"
    ),
    # n8n
    StepErrorType("N8nNetworkError", "n8n", True, "DNS, connect, timeout"),
    StepErrorType("N8nServerError", "n8n", True, "n8n answered 5xx"),
    StepErrorType("N8nClientError", "n8n", False, "n8n answered 4xx (404: webhook not registered)"),
    StepErrorType("N8nNotRunnable", "n8n", False, "no Webhook trigger, inactive, no such id"),
    StepErrorType("N8nConfigError", "n8n", False, "unknown integration, missing API key"),
    StepErrorType("N8nExecutionFailed", "n8n", False, "the n8n execution ended in error"),
    StepErrorType("N8nPollTimeout", "n8n", True, "the n8n execution did not finish in time"),
    # storage
    StepErrorType("StorageInvalidKey", "storage", False, "empty, absolute, `..` or too long key"),
    StepErrorType("StorageNotFound", "storage", False, "`get` of a key that holds nothing"),
    StepErrorType("StorageSecretRefused", "storage", False, "`put` content holding a secret"),
    StepErrorType("StorageNotConfigured", "storage", False, "the worker has no object store"),
    StepErrorType("StorageError", "storage", True, "disk or S3 failure"),
    # code
    StepErrorType("CodeError", "code", False, "the script threw (message, line and column)"),
    StepErrorType("CodeTimeout", "code", False, "the script ran past the step's timeout"),
    StepErrorType("CodeMemoryLimit", "code", False, "the script allocated past the limit"),
    StepErrorType("CodeOutputTooLarge", "code", False, "the result is over the output limit"),
    StepErrorType("CodeNotSettled", "code", False, "it awaited a promise that never settles"),
    # llm and agent (activities/llm.py, temporal_workflows/agent.py)
    StepErrorType("LlmRateLimited", "llm, agent", True, "429 answer (its Retry-After is honoured)"),
    StepErrorType(
        "LlmUnavailable", "llm, agent", True, "5xx, 408, DNS, connect, timeout, cut stream"
    ),
    StepErrorType("LlmBadResponse", "llm, agent", True, "the answer is not a chat completion"),
    StepErrorType(
        "LlmResponseSchemaViolation",
        "llm",
        True,
        "the answer is not JSON valid against response_schema",
    ),
    StepErrorType("LlmUnauthorized", "llm, agent", False, "the provider refused the API key"),
    StepErrorType(
        "LlmRequestRejected", "llm, agent", False, "any other 4xx (unknown model, too long)"
    ),
    StepErrorType(
        "LlmConnectionError",
        "llm, agent",
        False,
        "no such llm connection, or its address is refused",
    ),
    StepErrorType(
        "LlmInvalidRequest", "llm, agent", False, "a rendered field of the wrong type, no model"
    ),
    StepErrorType("AgentMaxTurns", "agent", False, "no final answer within max_turns model calls"),
    StepErrorType(
        "AgentTokenBudgetExceeded", "agent", False, "max_total_tokens spent before a call"
    ),
    StepErrorType("AgentTimeLimit", "agent", False, "time_limit passed before a call"),
    # secrets
    StepErrorType(
        "UnknownSecret", "http, n8n, llm", False, "no secret by that name for this owner"
    ),
    StepErrorType(
        "SecretError", "http, n8n, llm", False, "no secrets on the worker, or a run too old"
    ),
    # child workflows and loops
    StepErrorType("ChildWorkflowNotFound", "workflow", False, "no workflow by that id"),
    StepErrorType("ChildWorkflowForbidden", "workflow", False, "the owner may not run the child"),
    StepErrorType("InvalidChildDefinition", "workflow", False, "the child's definition is invalid"),
    StepErrorType("ChildWorkflowDepthExceeded", "workflow", False, "nested deeper than allowed"),
    StepErrorType("ChildWorkflowFailed", "workflow", False, "the child run failed"),
    StepErrorType("ForeachTooManyItems", "any (foreach)", False, "more items than allowed"),
    StepErrorType("ForeachChunkFailed", "any (foreach)", False, "a chunk of a long foreach failed"),
    StepErrorType("UntilExhausted", "any (until)", False, "max_iterations ran out"),
    StepErrorType("UntilSegmentFailed", "any (until)", False, "a segment of a long until failed"),
    # the workflow's own steps
    StepErrorType("WaitTimedOut", "wait_for_event, approval", False, "no answer before timeout"),
    StepErrorType("ApprovalRejected", "approval", False, "rejected (with on_reject: fail)"),
    StepErrorType("FailStep", "fail", False, "a fail step (its with.error_type replaces it)"),
    StepErrorType("ExpressionError", "any", False, "a template failed (missing name, bad type)"),
    StepErrorType("ExpressionLimitExceeded", "any", False, "a template did too much work"),
    StepErrorType("UnsupportedStepType", "any", False, "the worker does not know the step type"),
    StepErrorType("TimeoutError", "any activity step", True, "an attempt ran past `timeout`"),
    StepErrorType("Aborted", "any (park)", False, "an operator aborted a parked step"),
    StepErrorType("StepFailed", "any", False, "a failure with no type of its own"),
    StepErrorType("ActivityError", "any activity step", False, "an activity failed untyped"),
)

_NAMES = frozenset(error.name for error in CATALOGUE)


def is_known(name: str) -> bool:
    """Whether ``name`` is a step error type Headrace raises (``fail`` steps may add more)."""
    return name in _NAMES
