"""The model-call activity (``run_llm_call``) against a loopback OpenAI-compatible server."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.llm import LlmActivities, LlmConnection
from core.network_guard import build_http_client
from temporal_workflows.run_types import EventRecord, LlmCallInput
from tests.support.fake_openai import API_KEY, FakeOpenAI, running_fake_openai


class Events:
    """Collects what the activity records (the workflow tests use the real recorder)."""

    def __init__(self) -> None:
        self.recorded: list[EventRecord] = []

    async def record(self, execution_id: str, events: list[EventRecord]) -> None:
        self.recorded.extend(events)

    def of_type(self, kind: str) -> list[EventRecord]:
        return [e for e in self.recorded if e.type == kind]


@pytest.fixture(scope="module")
def openai() -> Iterator[FakeOpenAI]:
    with running_fake_openai() as server:
        yield server


@pytest.fixture
def env() -> ActivityEnvironment:
    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(
        environment.info, start_to_close_timeout=timedelta(seconds=10)
    )
    return environment


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    client = build_http_client(allow_private_networks=True)
    yield client
    await client.aclose()


@pytest.fixture
def events() -> Events:
    return Events()


def activities(
    openai: FakeOpenAI, http: httpx.AsyncClient, events: Events, **connection: Any
) -> LlmActivities:
    settings = {"base_url": openai.base_url, "api_key": API_KEY, **connection}

    async def lookup(workflow_id: str, name: str) -> LlmConnection | None:
        return LlmConnection(**settings) if name == "ai" else None

    return LlmActivities(http, lookup, events)


def call(model: str, **fields: Any) -> LlmCallInput:
    return LlmCallInput(
        step_id="ask",
        execution_id="e",
        workflow_id=str(uuid.uuid4()),
        connection=fields.pop("connection", "ai"),
        messages=fields.pop("messages", [{"role": "user", "content": "hello"}]),
        model=model,
        **fields,
    )


def model_name() -> str:
    return f"m-{uuid.uuid4().hex[:8]}"


async def failure(env: ActivityEnvironment, acts: LlmActivities, request: LlmCallInput) -> Any:
    with pytest.raises(ApplicationError) as caught:
        await env.run(acts.run_llm_call, request)
    return caught.value


class TestAnswers:
    async def test_a_text_answer_with_its_usage(
        self, env: ActivityEnvironment, openai: FakeOpenAI, http: httpx.AsyncClient, events: Events
    ) -> None:
        model = openai.script(
            model_name(),
            [{"text": "Hi there", "usage": {"prompt_tokens": 7, "completion_tokens": 2}}],
        )
        outcome = await env.run(
            activities(openai, http, events).run_llm_call, call(model, temperature=0.2)
        )
        assert outcome.output["text"] == "Hi there"
        assert outcome.output["usage"] == {
            "prompt_tokens": 7,
            "completion_tokens": 2,
            "total_tokens": 9,
        }
        assert outcome.output["finish_reason"] == "stop"
        sent = openai.requests[model][0]
        assert sent["temperature"] == 0.2
        assert sent["messages"] == [{"role": "user", "content": "hello"}]
        [usage] = events.of_type("llm.usage")
        assert usage.step_id == "ask"
        assert usage.data["model"] == model and usage.data["total_tokens"] == 9

    async def test_the_connection_default_model_is_used_when_the_step_names_none(
        self, env: ActivityEnvironment, openai: FakeOpenAI, http: httpx.AsyncClient, events: Events
    ) -> None:
        model = openai.script(model_name(), [{"text": "ok"}])
        acts = activities(openai, http, events, model=model)
        outcome = await env.run(acts.run_llm_call, call(None))  # type: ignore[arg-type]
        assert outcome.output["model"] == model

    async def test_tool_calls_are_parsed(
        self, env: ActivityEnvironment, openai: FakeOpenAI, http: httpx.AsyncClient, events: Events
    ) -> None:
        model = openai.script(
            model_name(), [{"tool_calls": [{"name": "weather", "arguments": {"city": "Oslo"}}]}]
        )
        tools = [{"type": "function", "function": {"name": "weather", "parameters": {}}}]
        outcome = await env.run(
            activities(openai, http, events).run_llm_call, call(model, tools=tools)
        )
        [tool_call] = outcome.output["tool_calls"]
        assert tool_call["name"] == "weather" and tool_call["arguments"] == {"city": "Oslo"}
        assert outcome.output["finish_reason"] == "tool_calls"
        assert outcome.output["message"]["tool_calls"][0]["function"]["name"] == "weather"
        assert openai.requests[model][0]["tools"] == tools

    async def test_a_streamed_answer_is_the_same_answer_and_its_tokens_are_events(
        self, env: ActivityEnvironment, openai: FakeOpenAI, http: httpx.AsyncClient, events: Events
    ) -> None:
        text = "one two three four five six"
        model = openai.script(model_name(), [{"text": text, "chunk_delay": 0.1}])
        outcome = await env.run(
            activities(openai, http, events).run_llm_call, call(model, stream=True)
        )
        assert outcome.output["text"] == text
        assert outcome.output["usage"]["completion_tokens"] == 6
        assert openai.requests[model][0]["stream"] is True
        tokens = events.of_type("step.progress")
        assert len(tokens) >= 2  # several batches over ~0.6 s, not one event per word
        assert "".join(e.data["text"] for e in tokens) == text
        assert all(e.data["kind"] == "tokens" for e in tokens)

    async def test_streamed_tool_calls_are_reassembled(
        self, env: ActivityEnvironment, openai: FakeOpenAI, http: httpx.AsyncClient, events: Events
    ) -> None:
        model = openai.script(
            model_name(),
            [{"tool_calls": [{"name": "lookup", "arguments": {"q": "durable agents"}}]}],
        )
        outcome = await env.run(
            activities(openai, http, events).run_llm_call, call(model, stream=True)
        )
        [tool_call] = outcome.output["tool_calls"]
        assert tool_call["name"] == "lookup"
        assert tool_call["arguments"] == {"q": "durable agents"}

    async def test_the_call_heartbeats_while_the_model_thinks(
        self, env: ActivityEnvironment, openai: FakeOpenAI, http: httpx.AsyncClient, events: Events
    ) -> None:
        beats: list[tuple[Any, ...]] = []
        env.on_heartbeat = lambda *details: beats.append(details)
        model = openai.script(model_name(), [{"text": "slow", "delay": 0.3}])
        await env.run(activities(openai, http, events).run_llm_call, call(model))
        assert beats  # so Temporal learns of a dead worker long before the call's timeout


class TestResponseSchema:
    SCHEMA = {
        "type": "object",
        "required": ["sentiment"],
        "properties": {"sentiment": {"enum": ["positive", "negative"]}},
    }

    async def test_a_valid_json_answer_is_parsed(
        self, env: ActivityEnvironment, openai: FakeOpenAI, http: httpx.AsyncClient, events: Events
    ) -> None:
        model = openai.script(model_name(), [{"text": '```json\n{"sentiment": "positive"}\n```'}])
        outcome = await env.run(
            activities(openai, http, events).run_llm_call,
            call(model, response_schema=self.SCHEMA),
        )
        assert outcome.output["parsed"] == {"sentiment": "positive"}
        assert openai.requests[model][0]["response_format"]["json_schema"]["schema"] == (
            self.SCHEMA
        )

    @pytest.mark.parametrize(
        ("answer", "says"),
        [('{"sentiment": "meh"}', "at /sentiment"), ("I think it is positive", "not JSON")],
    )
    async def test_a_violation_is_a_retryable_schema_error_and_its_tokens_count(
        self,
        env: ActivityEnvironment,
        openai: FakeOpenAI,
        http: httpx.AsyncClient,
        events: Events,
        answer: str,
        says: str,
    ) -> None:
        model = openai.script(model_name(), [{"text": answer}])
        error = await failure(
            env, activities(openai, http, events), call(model, response_schema=self.SCHEMA)
        )
        assert error.type == "LlmResponseSchemaViolation"
        assert not error.non_retryable
        assert says in error.message
        assert len(events.of_type("llm.usage")) == 1


class TestErrors:
    async def test_429_is_retryable_and_honours_retry_after(
        self, env: ActivityEnvironment, openai: FakeOpenAI, http: httpx.AsyncClient, events: Events
    ) -> None:
        model = openai.script(model_name(), [{"status": 429, "retry_after": "7"}])
        error = await failure(env, activities(openai, http, events), call(model))
        assert error.type == "LlmRateLimited" and not error.non_retryable
        assert error.next_retry_delay == timedelta(seconds=7)

    async def test_5xx_is_retryable(
        self, env: ActivityEnvironment, openai: FakeOpenAI, http: httpx.AsyncClient, events: Events
    ) -> None:
        model = openai.script(model_name(), [{"status": 503}])
        error = await failure(env, activities(openai, http, events), call(model))
        assert error.type == "LlmUnavailable" and not error.non_retryable

    async def test_an_unknown_model_is_rejected_at_once(
        self, env: ActivityEnvironment, openai: FakeOpenAI, http: httpx.AsyncClient, events: Events
    ) -> None:
        error = await failure(env, activities(openai, http, events), call("no-such-model"))
        assert error.type == "LlmRequestRejected" and error.non_retryable
        assert "404" in error.message

    async def test_a_wrong_key_is_unauthorized_and_never_shown(
        self, env: ActivityEnvironment, openai: FakeOpenAI, http: httpx.AsyncClient, events: Events
    ) -> None:
        model = openai.script(model_name(), [{"text": "never"}])
        acts = activities(openai, http, events, api_key="sk-wrong-and-secret")
        error = await failure(env, acts, call(model))
        assert error.type == "LlmUnauthorized" and error.non_retryable
        assert "sk-wrong-and-secret" not in str(error.message)

    async def test_an_unknown_connection(
        self, env: ActivityEnvironment, openai: FakeOpenAI, http: httpx.AsyncClient, events: Events
    ) -> None:
        error = await failure(
            env, activities(openai, http, events), call("m", connection="elsewhere")
        )
        assert error.type == "LlmConnectionError" and error.non_retryable
        assert "elsewhere" in error.message

    async def test_a_rendered_field_of_the_wrong_type(
        self, env: ActivityEnvironment, openai: FakeOpenAI, http: httpx.AsyncClient, events: Events
    ) -> None:
        model = openai.script(model_name(), [{"text": "never"}])
        error = await failure(
            env, activities(openai, http, events), call(model, temperature="warm")
        )
        assert error.type == "LlmInvalidRequest" and error.non_retryable
        assert openai.calls(model) == 0

    async def test_the_ssrf_guard_refuses_a_loopback_provider_in_production(
        self, env: ActivityEnvironment, openai: FakeOpenAI, events: Events
    ) -> None:
        model = openai.script(model_name(), [{"text": "never"}])
        strict = build_http_client(allow_private_networks=False)
        try:
            error = await failure(env, activities(openai, strict, events), call(model))
        finally:
            await strict.aclose()
        assert error.type == "LlmConnectionError" and error.non_retryable
        assert "not allowed" in error.message
        assert openai.calls(model) == 0
