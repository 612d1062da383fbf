"""``llm`` and ``agent`` steps, end to end: API, real worker, Temporal dev server, and a
loopback OpenAI-compatible server answering from scripts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from temporal_workflows.validation import definition_problems
from tests.support.fake_openai import API_KEY, FakeOpenAI, running_fake_openai
from tests.support.runner import Runner, steps_by_id
from tests.support.target_server import TargetServer

FAST_RETRY = {"max_attempts": 3, "initial_interval": "100ms"}


@pytest.fixture(scope="module")
def openai() -> Iterator[FakeOpenAI]:
    with running_fake_openai() as server:
        yield server


async def connect(runner: Runner, openai: FakeOpenAI, name: str = "ai", **config: Any) -> None:
    created = await runner.post(
        "/api/v1/integrations",
        {
            "type": "llm",
            "name": name,
            "config": {"base_url": openai.base_url, **config},
            "credentials": {"api_key": API_KEY},
        },
    )
    assert created.status_code == 201, created.text


def model_name() -> str:
    return f"m-{uuid.uuid4().hex[:8]}"


async def logs(runner: Runner, execution_id: str) -> list[dict[str, Any]]:
    response = await runner.client.get(
        f"/api/v1/executions/{execution_id}/logs?limit=500", headers=runner.headers
    )
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def ask(model: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": "ask",
        "type": "llm",
        "retry": FAST_RETRY,
        "with": {
            "connection": "ai",
            "model": model,
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "Summarise {{ input.topic }}"},
            ],
            **fields,
        },
    }


class TestLlmStep:
    @pytest.mark.parametrize("mode", ["durable", "express"])
    async def test_text_answer_with_usage_recorded_on_the_step(
        self, runner: Runner, openai: FakeOpenAI, mode: str
    ) -> None:
        await connect(runner, openai)
        model = openai.script(
            model_name(),
            [{"text": "Rivers flow.", "usage": {"prompt_tokens": 12, "completion_tokens": 3}}],
        )
        execution = await runner.run(
            {"execution_mode": mode, "steps": [ask(model)]}, {"topic": "rivers"}
        )
        assert execution["status"] == "completed", execution
        assert execution["execution_mode"] == mode
        output = steps_by_id(execution)["ask"]["output"]
        assert output == {
            "text": "Rivers flow.",
            "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
            "finish_reason": "stop",
            "model": model,
        }
        assert openai.requests[model][0]["messages"][1]["content"] == "Summarise rivers"
        usage = [e for e in await logs(runner, execution["id"]) if e["type"] == "llm.usage"]
        assert [(e["step_id"], e["data"]["total_tokens"]) for e in usage] == [("ask", 15)]

    async def test_runs_without_model_steps_have_no_tokens(self, runner: Runner) -> None:
        execution = await runner.run({"steps": [{"id": "t", "type": "transform", "with": {}}]})
        assert execution["tokens"] is None

    async def test_the_connection_default_model(self, runner: Runner, openai: FakeOpenAI) -> None:
        model = openai.script(model_name(), [{"text": "default"}])
        await connect(runner, openai, model=model)
        step = ask(model)
        del step["with"]["model"]
        execution = await runner.run({"steps": [step]}, {"topic": "x"})
        assert steps_by_id(execution)["ask"]["output"]["model"] == model

    async def test_response_schema_gives_the_parsed_answer(
        self, runner: Runner, openai: FakeOpenAI
    ) -> None:
        await connect(runner, openai)
        model = openai.script(model_name(), [{"text": '{"score": 4}'}])
        schema = {
            "type": "object",
            "required": ["score"],
            "properties": {"score": {"type": "integer"}},
        }
        execution = await runner.run(
            {
                "steps": [ask(model, response_schema=schema)],
                "output": "{{ steps.ask.output.score + 1 }}",
            },
            {"topic": "x"},
        )
        assert execution["status"] == "completed", execution
        assert execution["output_data"] == 5

    async def test_a_schema_violation_is_retried_then_fails_the_step_clearly(
        self, runner: Runner, openai: FakeOpenAI
    ) -> None:
        await connect(runner, openai)
        model = openai.script(model_name(), [{"text": '{"score": "high"}'}])
        schema = {"type": "object", "properties": {"score": {"type": "integer"}}}
        execution = await runner.run(
            {"steps": [ask(model, response_schema=schema)]}, {"topic": "x"}
        )
        assert execution["status"] == "failed"
        step = steps_by_id(execution)["ask"]
        assert "does not match response_schema at /score" in step["error"]
        assert openai.calls(model) == 3  # the retry policy's three attempts
        failed = [e for e in await logs(runner, execution["id"]) if e["type"] == "step.failed"]
        assert failed[-1]["data"]["error_type"] == "LlmResponseSchemaViolation"

    async def test_a_violation_then_a_valid_answer_completes(
        self, runner: Runner, openai: FakeOpenAI
    ) -> None:
        await connect(runner, openai)
        model = openai.script(model_name(), [{"text": "sure!"}, {"text": '{"score": 2}'}])
        schema = {"type": "object", "required": ["score"]}
        execution = await runner.run(
            {"steps": [ask(model, response_schema=schema)]}, {"topic": "x"}
        )
        assert steps_by_id(execution)["ask"]["output"] == {"score": 2}
        assert steps_by_id(execution)["ask"]["attempts"] == 2

    async def test_429_and_5xx_are_retried(self, runner: Runner, openai: FakeOpenAI) -> None:
        await connect(runner, openai)
        model = openai.script(
            model_name(),
            [{"status": 429, "retry_after": "0"}, {"status": 502}, {"text": "finally"}],
        )
        execution = await runner.run({"steps": [ask(model)]}, {"topic": "x"})
        assert steps_by_id(execution)["ask"]["output"]["text"] == "finally"
        assert openai.calls(model) == 3
        retrying = [e for e in await logs(runner, execution["id"]) if e["type"] == "step.retrying"]
        assert [e["data"]["error_type"] for e in retrying] == ["LlmRateLimited", "LlmUnavailable"]

    async def test_streamed_tokens_reach_the_event_stream(
        self, runner: Runner, openai: FakeOpenAI
    ) -> None:
        await connect(runner, openai)
        text = "a durable answer streamed word by word"
        model = openai.script(model_name(), [{"text": text, "chunk_delay": 0.05}])
        execution = await runner.run({"steps": [ask(model, stream=True)]}, {"topic": "x"})
        assert steps_by_id(execution)["ask"]["output"]["text"] == text
        progress = [
            e
            for e in await logs(runner, execution["id"])
            if e["type"] == "step.progress" and (e["data"] or {}).get("kind") == "tokens"
        ]
        assert len(progress) >= 2
        assert "".join(e["data"]["text"] for e in progress) == text

    async def test_secrets_reach_the_model_but_never_the_output(
        self, runner: Runner, openai: FakeOpenAI
    ) -> None:
        await connect(runner, openai)
        value = f"s3cret-{uuid.uuid4().hex[:8]}"
        name = f"k{uuid.uuid4().hex[:6]}"
        created = await runner.post("/api/v1/secrets", {"name": name, "value": value})
        assert created.status_code == 201, created.text
        model = openai.script(model_name(), [{"text": f"you said {value}"}])
        step = ask(model)
        step["with"]["messages"].append({"role": "user", "content": f"{{{{ secrets.{name} }}}}"})
        execution = await runner.run({"steps": [step]}, {"topic": "x"})
        assert openai.requests[model][0]["messages"][2]["content"] == value
        assert steps_by_id(execution)["ask"]["output"]["text"] == "you said ***"
        assert value not in str(await logs(runner, execution["id"]))

    async def test_an_unknown_connection_fails_at_once(
        self, runner: Runner, openai: FakeOpenAI
    ) -> None:
        model = openai.script(model_name(), [{"text": "never"}])
        execution = await runner.run({"steps": [ask(model)]}, {"topic": "x"})
        assert execution["status"] == "failed"
        assert "no llm connection named 'ai'" in steps_by_id(execution)["ask"]["error"]
        assert steps_by_id(execution)["ask"]["attempts"] == 1


def agent(model: str, tools: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {
        "id": "helper",
        "type": "agent",
        "retry": FAST_RETRY,
        "with": {
            "connection": "ai",
            "model": model,
            "messages": [{"role": "user", "content": "{{ input.question }}"}],
            "tools": tools,
            **fields,
        },
    }


class TestAgentStep:
    # Express runs (no history) run the same agent loop on the in-process runtime.
    @pytest.mark.parametrize("mode", ["durable", "express"])
    async def test_http_and_workflow_tools_then_a_final_answer(
        self, runner: Runner, openai: FakeOpenAI, target: TargetServer, mode: str
    ) -> None:
        await connect(runner, openai)
        doubler = await runner.create(
            {
                "input_schema": {
                    "type": "object",
                    "required": ["n"],
                    "properties": {"n": {"type": "integer"}},
                },
                "steps": [{"id": "twice", "type": "transform", "with": {"v": "{{ input.n * 2 }}"}}],
                "output": "{{ steps.twice.output.v }}",
            },
            name="doubler",
        )
        model = openai.script(
            model_name(),
            [
                {
                    "tool_calls": [
                        {"name": "user", "arguments": {"uid": "v42"}},
                        {"name": "double", "arguments": {"n": 21}},
                    ]
                },
                {"text": "User v42 is vip; twice 21 is 42."},
            ],
        )
        tools = [
            {
                "name": "user",
                "description": "Look a user up",
                "parameters": {"type": "object", "properties": {"uid": {"type": "string"}}},
                "http": {"url": target.base_url + "/users/{{ args.uid }}"},
            },
            {"name": "double", "workflow_id": doubler},
        ]
        execution = await runner.run(
            {"execution_mode": mode, "steps": [agent(model, tools)]}, {"question": "Who is v42?"}
        )
        assert execution["status"] == "completed", execution
        assert execution["execution_mode"] == mode
        output = steps_by_id(execution)["helper"]["output"]
        assert output["text"] == "User v42 is vip; twice 21 is 42."
        assert output["turns"] == 2
        first, last = output["transcript"]
        assert [c["name"] for c in first["tool_calls"]] == ["user", "double"]
        assert first["tool_calls"][0]["result"]["body"]["tier"] == "vip"
        assert first["tool_calls"][1]["result"] == 42
        assert last["tool_calls"] == [] and last["text"] == output["text"]
        # The model saw the tools' schemas (the workflow's input_schema) and their results.
        sent_tools = openai.requests[model][0]["tools"]
        assert sent_tools[1]["function"]["parameters"]["required"] == ["n"]
        second = openai.requests[model][1]["messages"]
        assert [m["role"] for m in second] == ["user", "assistant", "tool", "tool"]
        assert second[3]["content"] == "42"
        turns = [e for e in await logs(runner, execution["id"]) if e["type"] == "agent.turn"]
        assert [e["data"]["turn"] for e in turns] == [1, 2]

    async def test_a_failing_tool_is_reported_to_the_model_not_the_run(
        self, runner: Runner, openai: FakeOpenAI, target: TargetServer
    ) -> None:
        await connect(runner, openai)
        model = openai.script(
            model_name(),
            [
                {"tool_calls": [{"name": "status", "arguments": {"code": 404}}]},
                {"tool_calls": [{"name": "status", "arguments": {"code": "x"}}]},
                {"tool_calls": [{"name": "nope", "arguments": {}}]},
                {"text": "gave up politely"},
            ],
        )
        tools = [
            {
                "name": "status",
                "parameters": {
                    "type": "object",
                    "properties": {"code": {"type": "integer"}},
                },
                "http": {"url": target.base_url + "/status/{{ args.code }}"},
            }
        ]
        execution = await runner.run({"steps": [agent(model, tools)]}, {"question": "?"})
        assert execution["status"] == "completed", execution
        errors = [
            turn["tool_calls"][0]["error"]
            for turn in steps_by_id(execution)["helper"]["output"]["transcript"][:3]
        ]
        assert "404" in errors[0]
        assert "do not match the tool's schema at /code" in errors[1]
        assert "no tool named 'nope'" in errors[2]

    async def test_max_turns_fails_the_step(self, runner: Runner, openai: FakeOpenAI) -> None:
        await connect(runner, openai)
        model = openai.script(model_name(), [{"tool_calls": [{"name": "nope", "arguments": {}}]}])
        execution = await runner.run(
            {"steps": [agent(model, [], max_turns=3)]}, {"question": "loop"}
        )
        assert execution["status"] == "failed"
        assert "max_turns (3 model calls)" in steps_by_id(execution)["helper"]["error"]
        assert openai.calls(model) == 3

    async def test_the_token_budget_stops_the_loop_before_the_next_call(
        self, runner: Runner, openai: FakeOpenAI
    ) -> None:
        await connect(runner, openai)
        model = openai.script(
            model_name(),
            [
                {
                    "tool_calls": [{"name": "nope", "arguments": {}}],
                    "usage": {"prompt_tokens": 80, "completion_tokens": 30},
                }
            ],
        )
        execution = await runner.run(
            {"steps": [agent(model, [], max_total_tokens=200)]}, {"question": "spend"}
        )
        assert execution["status"] == "failed"
        assert "token budget (220 of 200)" in steps_by_id(execution)["helper"]["error"]
        assert openai.calls(model) == 2

    async def test_the_time_limit_stops_the_loop_before_the_next_call(
        self, runner: Runner, openai: FakeOpenAI
    ) -> None:
        await connect(runner, openai)
        slow = await runner.create(
            {"steps": [{"id": "nap", "type": "sleep", "with": {"duration": "2s"}}]}
        )
        model = openai.script(
            model_name(),
            [{"tool_calls": [{"name": "slow", "arguments": {}}]}, {"text": "too late"}],
        )
        tools = [{"name": "slow", "workflow_id": slow}]
        execution = await runner.run(
            {"steps": [agent(model, tools, time_limit="1s")]}, {"question": "?"}
        )
        assert execution["status"] == "failed"
        assert "time limit (1s)" in steps_by_id(execution)["helper"]["error"]
        assert openai.calls(model) == 1


class TestDefinitions:
    async def test_bad_settings_are_422_with_pointers(self, runner: Runner) -> None:
        definition = {
            "steps": [
                {
                    "id": "ask",
                    "type": "llm",
                    "with": {
                        "connection": "ai",
                        "messages": [{"role": "robot", "content": "hi"}],
                        "response_schema": {"type": "objekt"},
                    },
                },
                {
                    "id": "helper",
                    "type": "agent",
                    "with": {
                        "connection": "ai",
                        "messages": [{"role": "user", "content": "hi"}],
                        "max_turns": 0,
                        "tools": [{"name": "t", "workflow_id": "w", "http": {"url": "http://x"}}],
                    },
                },
            ]
        }
        response = await runner.post("/api/v1/workflows", {"name": "bad", "definition": definition})
        assert response.status_code == 422, response.text
        pointers = {e["pointer"] for e in response.json()["errors"]}
        assert {
            "/definition/steps/0/with/messages/0/role",
            "/definition/steps/0/with/response_schema",
            "/definition/steps/1/with/max_turns",
            "/definition/steps/1/with/tools/0/http",
        } <= pointers, pointers

    async def test_an_llm_connection_keeps_its_key_secret(
        self, runner: Runner, openai: FakeOpenAI
    ) -> None:
        await connect(runner, openai, name="secretive")
        listed = await runner.client.get("/api/v1/integrations", headers=runner.headers)
        [mine] = [i for i in listed.json() if i["name"] == "secretive"]
        assert mine["credential_fields"] == ["api_key"]
        assert API_KEY not in listed.text
        missing = await runner.post(
            "/api/v1/integrations", {"type": "llm", "name": "broken", "config": {}}
        )
        assert missing.status_code == 422
        assert missing.json()["errors"][0]["pointer"] == "/config/base_url"

    def test_secrets_in_messages_and_checked_tool_templates(self) -> None:
        def problems(step: dict[str, Any]) -> list[tuple[str, str]]:
            return [(p.pointer, p.code) for p in definition_problems({"steps": [step]})]

        step = ask("m")
        step["with"]["messages"].append({"role": "user", "content": "key {{ secrets.k }}"})
        assert problems(step) == []
        bad = [
            {"name": "a", "http": {"url": "https://x.test/{{ nope.id }}"}},
            {"name": "b", "http": {"url": "https://x.test/{{ item }}"}},
            {"name": "c", "http": {"url": "https://x.test/{{ args.id", "headers": {}}},
            {"name": "d", "http": {"url": "https://x.test/", "headers": {"K": "{{ secrets.k }}"}}},
        ]
        assert problems(agent("m", bad)) == [
            ("/steps/0/with/tools/0/http/url", "unknown_name"),
            ("/steps/0/with/tools/1/http/url", "item_outside_foreach"),
            ("/steps/0/with/tools/2/http/url", "template_syntax"),
        ]

    def test_tool_names_are_unique_and_tool_templates_may_read_args(self) -> None:
        def problems(tools: list[dict[str, Any]]) -> list[tuple[str, str]]:
            step = agent("m", tools)
            return [(p.pointer, p.message) for p in definition_problems({"steps": [step]})]

        assert problems([{"name": "t", "http": {"url": "https://x.test/{{ args.id }}"}}]) == []
        [(pointer, message)] = problems(
            [{"name": "t", "workflow_id": "a"}, {"name": "t", "workflow_id": "b"}]
        )
        assert pointer == "/steps/0/with/tools" and "two tools are named 't'" in message


class TestTokenAccounting:
    async def test_tokens_by_workflow_and_model_in_analytics_and_metrics(
        self, runner: Runner, openai: FakeOpenAI
    ) -> None:
        await connect(runner, openai)
        model = openai.script(
            model_name(),
            [
                {"text": "first", "usage": {"prompt_tokens": 10, "completion_tokens": 1}},
                {
                    "tool_calls": [{"name": "nope", "arguments": {}}],
                    "usage": {"prompt_tokens": 20, "completion_tokens": 2},
                },
                {"text": "done", "usage": {"prompt_tokens": 30, "completion_tokens": 3}},
            ],
        )
        workflow_id = await runner.create(
            {
                "steps": [
                    ask(model),
                    {**agent(model, []), "depends_on": ["ask"]},
                ]
            }
        )
        response = await runner.execute(workflow_id, {"topic": "x", "question": "?"})
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "completed", response.text
        execution = await runner.execution(response.json()["execution_id"])
        assert execution["tokens"]["total_tokens"] == 66
        assert execution["tokens"]["by_step"]["ask"]["total_tokens"] == 11
        assert execution["tokens"]["by_step"]["helper"] == {
            "calls": 2,
            "prompt_tokens": 50,
            "completion_tokens": 5,
            "total_tokens": 55,
        }
        assert execution["tokens"]["by_model"][model]["calls"] == 3
        helper = steps_by_id(execution)["helper"]
        assert helper["output"]["usage"] == {
            "prompt_tokens": 50,
            "completion_tokens": 5,
            "total_tokens": 55,
        }

        analytics = await runner.client.get(
            f"/api/v1/analytics/workflows/{workflow_id}", headers=runner.headers
        )
        assert analytics.status_code == 200, analytics.text
        assert [
            {k: row[k] for k in ("model", "calls", "prompt_tokens", "total_tokens")}
            for row in analytics.json()["tokens"]
        ] == [{"model": model, "calls": 3, "prompt_tokens": 60, "total_tokens": 66}]

        def counted(kind: str) -> float | None:
            return REGISTRY.get_sample_value(
                "headrace_llm_tokens_total", {"model": model, "kind": kind}
            )

        assert counted("prompt") == 60
        assert counted("completion") == 6
