"""n8n's AI nodes (Basic LLM Chain, AI Agent with HTTP Request tools, OpenAI Chat Model)
translated onto ``llm`` and ``agent`` steps, and what still delegates."""

from __future__ import annotations

from typing import Any

import pytest

from api.services.n8n.translate import translate_workflow
from temporal_workflows.validation import validate_definition

LC = "@n8n/n8n-nodes-langchain."


def node(name: str, node_type: str, version: float = 1, **parameters: Any) -> dict[str, Any]:
    return {"name": name, "type": node_type, "typeVersion": version, "parameters": parameters}


def openai_model(**parameters: Any) -> dict[str, Any]:
    model = node(
        "OpenAI Chat Model",
        LC + "lmChatOpenAi",
        1.2,
        **{"model": {"__rl": True, "value": "gpt-4o-mini", "mode": "list"}, **parameters},
    )
    model["credentials"] = {"openAiApi": {"id": "k1", "name": "OpenAi account"}}
    return model


def workflow(root: dict[str, Any], *subs: tuple[dict[str, Any], str]) -> dict[str, Any]:
    start = node("Start", "n8n-nodes-base.manualTrigger")
    connections: dict[str, Any] = {
        "Start": {"main": [[{"node": root["name"], "type": "main", "index": 0}]]}
    }
    for sub, kind in subs:
        connections[sub["name"]] = {kind: [[{"node": root["name"], "type": kind, "index": 0}]]}
    return {"id": "w1", "name": "ai", "nodes": [start, root, *(s for s, _ in subs)],
            "connections": connections}  # fmt: skip


def translate(raw: dict[str, Any]) -> Any:
    result = translate_workflow(raw, n8n_id="w1", integration="n8n-main")
    if result.mode == "translated":
        validate_definition(result.definition)
    return result


def chain(**parameters: Any) -> dict[str, Any]:
    return node(
        "Basic LLM Chain",
        LC + "chainLlm",
        1.5,
        **{"promptType": "define", "text": "=Summarise {{ $json.topic }}", **parameters},
    )


class TestBasicLlmChain:
    def test_becomes_an_llm_step_with_its_messages_model_and_connection(self) -> None:
        result = translate(
            workflow(
                chain(
                    messages={
                        "messageValues": [
                            {"type": "SystemMessagePromptTemplate", "message": "Be terse."}
                        ]
                    }
                ),
                (openai_model(options={"temperature": 0.2, "maxTokens": 300}), "ai_languageModel"),
            )
        )
        assert result.mode == "translated", result.reasons
        [step] = result.definition["steps"]
        assert step["type"] == "llm"
        assert step["with"] == {
            "connection": "openai-account",
            "model": "gpt-4o-mini",
            "temperature": 0.2,
            "max_tokens": 300,
            "messages": [
                {"role": "system", "content": "Be terse."},
                {"role": "user", "content": "Summarise {{ input.topic }}"},
            ],
        }
        assert result.requirements == [
            {
                "connection": "openai-account",
                "type": "llm",
                "base_url": "https://api.openai.com/v1",
                "n8n_credential": {"type": "openAiApi", "name": "OpenAi account"},
            }
        ]
        assert not any("not reached" in note for note in result.notes)

    def test_its_text_item_is_the_steps_text(self) -> None:
        after = node(
            "Reply", "n8n-nodes-base.set", 3.4,
            assignments={"assignments": [
                {"id": "a", "name": "reply", "value": "={{ $json.text }}", "type": "string"}
            ]},
            options={},
        )  # fmt: skip
        raw = workflow(chain(), (openai_model(), "ai_languageModel"))
        raw["nodes"].append(after)
        raw["connections"]["Basic LLM Chain"] = {
            "main": [[{"node": "Reply", "type": "main", "index": 0}]]
        }
        result = translate(raw)
        assert result.mode == "translated", result.reasons
        reply = result.definition["steps"][1]
        assert "steps.Basic_LLM_Chain.output.text" in str(reply["with"])

    def test_an_ollama_base_url_becomes_the_connections(self) -> None:
        result = translate(
            workflow(
                chain(),
                (openai_model(options={"baseURL": "http://ollama:11434/v1"}), "ai_languageModel"),
            )
        )
        assert result.requirements[0]["base_url"] == "http://ollama:11434/v1"

    @pytest.mark.parametrize(
        ("change", "reason"),
        [
            ({"promptType": "auto"}, "chat trigger"),
            ({"hasOutputParser": True}, "output parser"),
        ],
    )
    def test_what_is_not_exact_delegates(self, change: dict[str, Any], reason: str) -> None:
        result = translate(workflow(chain(**change), (openai_model(), "ai_languageModel")))
        assert result.mode == "delegate"
        assert any(reason in r for r in result.reasons), result.reasons

    def test_another_provider_or_an_option_headrace_does_not_send_delegates(self) -> None:
        anthropic = node("Claude", LC + "lmChatAnthropic", 1.2, model="claude-3")
        result = translate(workflow(chain(), (anthropic, "ai_languageModel")))
        assert result.mode == "delegate"
        assert any("lmChatAnthropic" in r for r in result.reasons)
        result = translate(
            workflow(chain(), (openai_model(options={"topP": 0.5}), "ai_languageModel"))
        )
        assert any("sets topP" in r for r in result.reasons)

    def test_the_default_model_of_an_export_delegates(self) -> None:
        model = openai_model()
        del model["parameters"]["model"]
        result = translate(workflow(chain(), (model, "ai_languageModel")))
        assert any("default model" in r for r in result.reasons)


def ai_agent(**options: Any) -> dict[str, Any]:
    return node(
        "AI Agent", LC + "agent", 1.7,
        promptType="define", text="={{ $json.question }}", options=options,
    )  # fmt: skip


class TestAiAgent:
    def test_becomes_an_agent_step_with_http_tools(self) -> None:
        weather = node(
            "Weather", LC + "toolHttpRequest", 1.1,
            toolDescription="Weather of a city",
            url="https://api.weather.test/v1/{city}/now",
            placeholderDefinitions={"values": [
                {"name": "city", "description": "the city", "type": "string"}
            ]},
        )  # fmt: skip
        result = translate(
            workflow(
                ai_agent(systemMessage="You forecast.", maxIterations=5),
                (openai_model(), "ai_languageModel"),
                (weather, "ai_tool"),
            )
        )
        assert result.mode == "translated", result.reasons
        [step] = result.definition["steps"]
        assert step["type"] == "agent"
        assert step["with"]["messages"] == [
            {"role": "system", "content": "You forecast."},
            {"role": "user", "content": "{{ input.question }}"},
        ]
        assert step["with"]["max_turns"] == 5
        assert step["with"]["tools"] == [
            {
                "name": "Weather",
                "description": "Weather of a city",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string", "description": "the city"}},
                    "required": ["city"],
                },
                "http": {"method": "GET", "url": "https://api.weather.test/v1/{{ args.city }}/now"},
            }
        ]

    def test_n8n_defaults_are_spelled_out(self) -> None:
        result = translate(workflow(ai_agent(), (openai_model(), "ai_languageModel")))
        with_ = result.definition["steps"][0]["with"]
        assert with_["messages"][0] == {"role": "system", "content": "You are a helpful assistant"}
        assert with_["max_turns"] == 10 and with_["tools"] == []

    def test_memory_other_tools_and_tool_auth_delegate(self) -> None:
        memory = node("Memory", LC + "memoryBufferWindow", 1.3)
        result = translate(
            workflow(ai_agent(), (openai_model(), "ai_languageModel"), (memory, "ai_memory"))
        )
        assert result.mode == "delegate"
        assert any("ai_memory" in r for r in result.reasons)
        code_tool = node("Calc", LC + "toolCode", 1.1, jsCode="return 1")
        result = translate(
            workflow(ai_agent(), (openai_model(), "ai_languageModel"), (code_tool, "ai_tool"))
        )
        assert any("only HTTP Request tools translate" in r for r in result.reasons)
        authed = node(
            "Api",
            LC + "toolHttpRequest",
            1.1,
            url="https://x.test/{q}",
            authentication="predefinedCredentialType",
        )
        result = translate(
            workflow(ai_agent(), (openai_model(), "ai_languageModel"), (authed, "ai_tool"))
        )
        assert any("authenticates" in r for r in result.reasons)
