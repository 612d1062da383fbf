"""The ``llm`` step and each model call of an ``agent``: one chat completion per activity.

The call goes to an OpenAI-compatible chat completions API (OpenAI, Ollama, vLLM, LiteLLM,
...) named by an integration of type ``llm`` (``config: {base_url, model}``, ``credentials:
{api_key}``), through the worker's HTTP client, whose every connection passes the SSRF guard
(:mod:`core.network_guard`). The activity makes exactly one attempt; retries are Temporal's,
from the step's ``retry``. What it raises tells Temporal whether a retry can help:

    ApplicationError type           cause                                          retryable
    LlmRateLimited                  429 (honours Retry-After)                      yes
    LlmUnavailable                  5xx, 408, DNS, connect, timeout, cut stream    yes
    LlmBadResponse                  the answer is not a chat completion            yes
    LlmResponseSchemaViolation      the answer is not JSON valid against           yes
                                    ``response_schema``
    LlmUnauthorized                 401/403: a wrong or revoked API key            no
    LlmRequestRejected              any other 4xx (unknown model, too long, ...)   no
    LlmConnectionError              no such llm connection, or its address is      no
                                    refused by the SSRF guard
    LlmInvalidRequest               a rendered field of the wrong type             no

Every answer's token usage is recorded as an ``llm.usage`` event of the step (also of an
attempt whose answer then failed its schema: those tokens were paid for), which feeds the
``headrace_llm_tokens_total`` metric and the analytics' tokens by workflow and model. With
``stream`` the tokens also go to the run's event stream as ``step.progress`` events
(``data.kind == "tokens"``), a few per second, as the provider sends them.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

import httpx
from httpx_sse import aconnect_sse
from jsonschema.exceptions import ValidationError as SchemaViolation
from jsonschema.validators import validator_for
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.events import retrying_event
from activities.secrets import SecretResolver, redacted_error
from core.heartbeat import heartbeat
from core.integrations import WorkflowIntegrations
from core.network_guard import BlockedAddressError
from temporal_workflows.expressions import redact_secrets
from temporal_workflows.run_types import EventRecord, LlmCallInput, StepOutcome

logger = logging.getLogger(__name__)

# Enough of an error body to debug with, small enough for Temporal history.
_ERROR_BODY_CHARS: Final = 1000
# Streamed tokens reach the event stream at most this often (one event per chunk would be
# one database row per token).
STREAM_FLUSH_SECONDS: Final = 0.25
DEFAULT_READ_SECONDS: Final = 300.0
HEARTBEAT_SECONDS: Final = 5.0
CONNECT_SECONDS: Final = 10.0
_FENCE: Final = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


@dataclass(frozen=True)
class LlmConnection:
    """An ``llm`` integration's settings and API key (held only in memory)."""

    base_url: str
    model: str | None = None
    api_key: str | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_stored(
        cls, config: Mapping[str, Any], credentials: Mapping[str, Any]
    ) -> LlmConnection:
        return cls(
            base_url=str(config["base_url"]).rstrip("/"),
            model=config.get("model") or None,
            api_key=credentials.get("api_key") or None,
            headers=dict(config.get("headers") or {}),
        )


# (workflow id, connection name) -> the connection, or None when the owner has none so named.
LlmConnectionLookup = Callable[[str, str], Awaitable[LlmConnection | None]]


class Recorder(Protocol):
    """Where the activity's events go (:class:`activities.events.EventRecorder`)."""

    async def record(self, execution_id: str, events: list[EventRecord]) -> Any: ...


class DbLlmConnections:
    """The ``llm`` integrations of a workflow's owner, as :data:`LlmConnectionLookup`."""

    def __init__(self, integrations: WorkflowIntegrations) -> None:
        self._integrations = integrations

    async def __call__(self, workflow_id: str, name: str) -> LlmConnection | None:
        found = await self._integrations.find(workflow_id, name, "llm")
        if found is None:
            return None
        return LlmConnection.from_stored(found.config, found.credentials)


def _error(message: str, error_type: str, *, retryable: bool, **extra: Any) -> ApplicationError:
    details = {"attempt": activity.info().attempt}
    return ApplicationError(message, details, type=error_type, non_retryable=not retryable, **extra)


class LlmActivities:
    """``run_llm_call``: the model calls of ``llm`` and ``agent`` steps."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        connections: LlmConnectionLookup,
        recorder: Recorder | None = None,
        secrets: SecretResolver | None = None,
    ) -> None:
        self._http = http
        self._connections = connections
        self._recorder = recorder
        self._secrets = secrets or SecretResolver(None)

    @activity.defn(name="run_llm_call")
    async def run_llm_call(self, call: LlmCallInput) -> StepOutcome:
        """One chat completion; output ``{text, tool_calls, message, usage, finish_reason,
        model}`` plus ``parsed`` (the JSON answer) when the call has a ``response_schema``."""
        hidden: list[str] = []
        try:
            connection = await self._connection(call)
            if connection.api_key:
                hidden.append(connection.api_key)
            messages, secret_forms = await self._secrets.resolve(
                call.messages,
                key=call.secret_key,
                workflow_id=call.workflow_id,
                location=f"steps.{call.step_id}.with.messages",
            )
            hidden.extend(secret_forms)
            request = _request_body(call, connection, messages)
            async with _heartbeating():
                if call.stream:
                    reply = await self._streamed(call, connection, request, hidden)
                else:
                    reply = await self._answer(connection, request)
            await self._record_usage(call, reply)
            if call.response_schema is not None:
                reply["parsed"] = _parsed(reply["text"], call.response_schema)
        except ApplicationError as error:
            error = redacted_error(error, hidden)
            await self._report_retry(call, error)
            raise error from None
        return StepOutcome(output=redact_secrets(reply, hidden), attempt=activity.info().attempt)

    async def _connection(self, call: LlmCallInput) -> LlmConnection:
        found = await self._connections(call.workflow_id, call.connection)
        if found is None:
            raise _error(
                f"no llm connection named {call.connection!r}: create an integration of type "
                "llm with that name",
                "LlmConnectionError",
                retryable=False,
            )
        return found

    async def _answer(self, connection: LlmConnection, request: dict[str, Any]) -> dict[str, Any]:
        url = f"{connection.base_url}/chat/completions"
        try:
            response = await self._http.post(
                url, json=request, headers=_headers(connection), timeout=_timeout()
            )
        except BlockedAddressError as exc:
            raise _error(
                f"{url} is not allowed: {exc}", "LlmConnectionError", retryable=False
            ) from None
        except httpx.HTTPError as exc:
            raise _error(
                f"POST {url} failed: {type(exc).__name__}", "LlmUnavailable", retryable=True
            ) from None
        _check_status(response, url)
        try:
            body = response.json()
        except ValueError:
            raise _error(f"{url} did not answer JSON", "LlmBadResponse", retryable=True) from None
        return _reply(body, url)

    async def _streamed(
        self,
        call: LlmCallInput,
        connection: LlmConnection,
        request: dict[str, Any],
        hidden: list[str],
    ) -> dict[str, Any]:
        url = f"{connection.base_url}/chat/completions"
        stream = _StreamedReply()
        tokens = _TokenEvents(self._recorder, call, hidden)
        body = {**request, "stream": True, "stream_options": {"include_usage": True}}
        try:
            async with aconnect_sse(
                self._http, "POST", url, json=body, headers=_headers(connection), timeout=_timeout()
            ) as source:
                if source.response.status_code != 200:
                    await source.response.aread()
                    _check_status(source.response, url)
                async for event in source.aiter_sse():
                    if event.data.strip() == "[DONE]":
                        break
                    try:
                        chunk = json.loads(event.data)
                    except ValueError:
                        raise _error(
                            f"{url} streamed a chunk that is not JSON",
                            "LlmBadResponse",
                            retryable=True,
                        ) from None
                    delta = stream.add(chunk)
                    if delta:
                        await tokens.add(delta)
        except BlockedAddressError as exc:
            raise _error(
                f"{url} is not allowed: {exc}", "LlmConnectionError", retryable=False
            ) from None
        except httpx.HTTPError as exc:
            raise _error(
                f"POST {url} failed while streaming: {type(exc).__name__}",
                "LlmUnavailable",
                retryable=True,
            ) from None
        await tokens.flush()
        return stream.reply(url)

    async def _report_retry(self, call: LlmCallInput, error: ApplicationError) -> None:
        """A ``step.retrying`` event when Temporal will try the call again."""
        step_type = "agent" if call.turn is not None else "llm"
        event = retrying_event(call.step_id, step_type, error, turn=call.turn)
        if event is None or self._recorder is None:
            return
        try:
            await self._recorder.record(call.execution_id, [event])
        except Exception:
            logger.warning("could not record a retry of %s", call.execution_id, exc_info=True)

    async def _record_usage(self, call: LlmCallInput, reply: dict[str, Any]) -> None:
        if self._recorder is None:
            return
        info = activity.info()
        usage = reply["usage"]
        event = EventRecord(
            type="llm.usage",
            # One per attempt: each attempt that got an answer spent its tokens.
            dedupe_key=f"act:{info.activity_id}:{info.attempt}:usage",
            step_id=call.step_id,
            attempt=info.attempt,
            data={**usage, "model": reply["model"], "turn": call.turn},
            ts=datetime.now(UTC),
        )
        try:
            await self._recorder.record(call.execution_id, [event])
        except Exception:  # usage is a report: it never fails a call that succeeded
            logger.warning("could not record llm usage of %s", call.execution_id, exc_info=True)


# --- the request ----------------------------------------------------------------------


def _request_body(call: LlmCallInput, connection: LlmConnection, messages: Any) -> dict[str, Any]:
    model = call.model or connection.model
    if not model or not isinstance(model, str):
        raise _error(
            "no model: give the step a model or its connection a default model",
            "LlmInvalidRequest",
            retryable=False,
        )
    if not isinstance(messages, list) or not all(
        isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages
    ):
        raise _error(
            "messages must be a list of {role, content} objects",
            "LlmInvalidRequest",
            retryable=False,
        )
    body: dict[str, Any] = {"model": model, "messages": [_message(m) for m in messages]}
    for name, kind in (("temperature", (int, float)), ("max_tokens", (int,))):
        value = getattr(call, name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, kind):
            raise _error(f"{name} must be a number", "LlmInvalidRequest", retryable=False)
        body[name] = value
    if call.tools:
        body["tools"] = call.tools
    if call.response_schema is not None:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "response", "schema": call.response_schema},
        }
    return body


def _message(message: dict[str, Any]) -> dict[str, Any]:
    """A message as the API takes it: content that is not text is sent as JSON text."""
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        content = json.dumps(content)
    return {**message, "content": content}


@contextlib.asynccontextmanager
async def _heartbeating() -> AsyncIterator[None]:
    """Heartbeat while the model thinks, so Temporal learns soon that a worker died (the
    workflow sets a heartbeat timeout on model calls); a cancellation arrives the same way."""

    async def beat() -> None:
        while True:
            heartbeat()
            await asyncio.sleep(HEARTBEAT_SECONDS)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _timeout() -> httpx.Timeout:
    """Models think for a while: wait for the answer as long as the attempt may last."""
    attempt = activity.info().start_to_close_timeout
    seconds = attempt.total_seconds() if attempt else DEFAULT_READ_SECONDS
    return httpx.Timeout(seconds, connect=min(seconds, CONNECT_SECONDS))


def _headers(connection: LlmConnection) -> dict[str, str]:
    headers = {**connection.headers, "Accept": "application/json"}
    if connection.api_key:
        headers["Authorization"] = f"Bearer {connection.api_key}"
    return headers


# --- the answer -----------------------------------------------------------------------


def _check_status(response: httpx.Response, url: str) -> None:
    status = response.status_code
    if status == 200:
        return
    text = f"POST {url} answered {status}: {response.text[:_ERROR_BODY_CHARS]}"
    if status == 429:
        raise _error(
            text, "LlmRateLimited", retryable=True, next_retry_delay=_retry_after(response)
        )
    if status >= 500 or status == 408:
        raise _error(text, "LlmUnavailable", retryable=True)
    if status in (401, 403):
        raise _error(
            f"POST {url} refused the API key ({status})", "LlmUnauthorized", retryable=False
        )
    raise _error(text, "LlmRequestRejected", retryable=False)


def _retry_after(response: httpx.Response) -> timedelta | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return timedelta(seconds=max(float(value), 0.0))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(moment - datetime.now(UTC), timedelta(0))


def _reply(body: Any, url: str) -> dict[str, Any]:
    try:
        choice = body["choices"][0]
        message = choice["message"]
    except (KeyError, IndexError, TypeError):
        raise _error(
            f"{url} did not answer a chat completion (no choices[0].message)",
            "LlmBadResponse",
            retryable=True,
        ) from None
    return _shaped(
        content=message.get("content"),
        tool_calls=message.get("tool_calls") or [],
        finish_reason=choice.get("finish_reason"),
        usage=body.get("usage"),
        model=body.get("model"),
    )


def _shaped(
    *, content: Any, tool_calls: list[Any], finish_reason: Any, usage: Any, model: Any
) -> dict[str, Any]:
    calls = [_tool_call(c) for c in tool_calls if isinstance(c, dict)]
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = [
            {
                "id": c["id"],
                "type": "function",
                "function": {"name": c["name"], "arguments": c["arguments_text"]},
            }
            for c in calls
        ]
    return {
        "text": content if isinstance(content, str) else "",
        "tool_calls": calls,
        "message": message,
        "usage": _usage(usage),
        "finish_reason": finish_reason,
        "model": str(model or ""),
    }


def _tool_call(raw: dict[str, Any]) -> dict[str, Any]:
    function = raw.get("function") or {}
    text = function.get("arguments") or ""
    try:
        arguments = json.loads(text) if text else {}
    except ValueError:
        arguments = None  # the agent answers the model that its arguments are not JSON
    return {
        "id": str(raw.get("id") or ""),
        "name": str(function.get("name") or ""),
        "arguments": arguments,
        "arguments_text": text,
    }


def _usage(raw: Any) -> dict[str, int]:
    usage = raw if isinstance(raw, dict) else {}

    def count(name: str) -> int:
        value = usage.get(name)
        return value if isinstance(value, int) and value >= 0 else 0

    prompt, completion = count("prompt_tokens"), count("completion_tokens")
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": count("total_tokens") or prompt + completion,
    }


def _parsed(text: str, schema: dict[str, Any]) -> Any:
    fenced = _FENCE.match(text)
    try:
        value = json.loads(fenced.group(1) if fenced else text)
    except ValueError:
        raise _error(
            "the model's answer is not JSON, as response_schema requires",
            "LlmResponseSchemaViolation",
            retryable=True,
        ) from None
    validator = validator_for(schema)(schema)
    error: SchemaViolation | None = next(iter(validator.iter_errors(value)), None)
    if error is not None:
        where = "/" + "/".join(str(part) for part in error.absolute_path)
        raise _error(
            f"the model's answer does not match response_schema at {where}: {error.message}",
            "LlmResponseSchemaViolation",
            retryable=True,
        )
    return value


class _StreamedReply:
    """Chunks of a streamed chat completion (``stream: true``) summed into one answer."""

    def __init__(self) -> None:
        self._text: list[str] = []
        self._calls: dict[int, dict[str, Any]] = {}
        self._finish: Any = None
        self._usage: Any = None
        self._model: Any = None
        self._chunks = 0

    def add(self, chunk: Any) -> str:
        """Take one chunk; return its new text."""
        if not isinstance(chunk, dict):
            return ""
        self._chunks += 1
        self._model = chunk.get("model") or self._model
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        choices = chunk.get("choices") or []
        if not choices or not isinstance(choices[0], dict):
            return ""
        choice = choices[0]
        self._finish = choice.get("finish_reason") or self._finish
        delta = choice.get("delta") or {}
        for part in delta.get("tool_calls") or []:
            call = self._calls.setdefault(
                int(part.get("index", 0)), {"id": "", "function": {"name": "", "arguments": ""}}
            )
            call["id"] = part.get("id") or call["id"]
            function = part.get("function") or {}
            call["function"]["name"] += function.get("name") or ""
            call["function"]["arguments"] += function.get("arguments") or ""
        text = delta.get("content") or ""
        if isinstance(text, str) and text:
            self._text.append(text)
            return text
        return ""

    def reply(self, url: str) -> dict[str, Any]:
        if self._chunks == 0:
            raise _error(f"{url} streamed no chunk", "LlmBadResponse", retryable=True)
        return _shaped(
            content="".join(self._text) if self._text or not self._calls else None,
            tool_calls=[self._calls[i] for i in sorted(self._calls)],
            finish_reason=self._finish,
            usage=self._usage,
            model=self._model,
        )


class _TokenEvents:
    """Streamed text as ``step.progress`` events, a batch every STREAM_FLUSH_SECONDS."""

    def __init__(self, recorder: Recorder | None, call: LlmCallInput, hidden: list[str]) -> None:
        self._recorder = recorder
        self._call = call
        self._hidden = hidden
        self._pending: list[str] = []
        self._last = time.monotonic()
        self._sent = 0

    async def add(self, text: str) -> None:
        self._pending.append(text)
        if time.monotonic() - self._last >= STREAM_FLUSH_SECONDS:
            await self.flush()

    async def flush(self) -> None:
        if not self._pending or self._recorder is None:
            return
        text, self._pending, self._last = "".join(self._pending), [], time.monotonic()
        info = activity.info()
        self._sent += 1
        event = EventRecord(
            type="step.progress",
            dedupe_key=f"act:{info.activity_id}:{info.attempt}:tokens:{self._sent}",
            step_id=self._call.step_id,
            attempt=info.attempt,
            data={
                "kind": "tokens",
                "text": redact_secrets(text, self._hidden),
                "turn": self._call.turn,
            },
            ts=datetime.now(UTC),
        )
        try:
            await asyncio.shield(self._recorder.record(self._call.execution_id, [event]))
        except Exception:
            logger.warning("could not record streamed tokens", exc_info=True)
