"""n8n's AI nodes to ``llm`` and ``agent`` steps, where the mapping is exact.

Translated:

- **Basic LLM Chain** (``chainLlm``) with an **OpenAI Chat Model** sub-node
  (``lmChatOpenAi``): an ``llm`` step. Its prompt (``promptType: define``) is the last user
  message, after the chain's own messages; its item ``{text}`` is the step's ``text``.
- **AI Agent** (``agent``, the tools agent) with an OpenAI Chat Model and **HTTP Request
  tools** (``toolHttpRequest``: a fixed URL whose ``{placeholders}`` the model fills): an
  ``agent`` step. Its item ``{output}`` is the step's final ``text``.

The chat model's credential becomes an ``llm`` connection named after it (a requirement of
the sync, as http credentials are; its base URL is the model's ``baseURL`` option or
OpenAI's). Anything else (another model provider, memory, an output parser, options Headrace
does not send, a tool of another kind, an expression where a fixed value is needed) raises
:class:`Untranslatable` and the workflow is delegated to n8n.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from api.services.n8n.expressions import ItemRef, Untranslatable, is_expression, literal_text
from api.services.n8n.graph import Node
from api.services.n8n.nodes import NodeContext, StepSpec

LANGCHAIN = "@n8n/n8n-nodes-langchain."
CHAIN = LANGCHAIN + "chainLlm"
AGENT = LANGCHAIN + "agent"
OPENAI_CHAT = LANGCHAIN + "lmChatOpenAi"
HTTP_TOOL = LANGCHAIN + "toolHttpRequest"
OPENAI_URL = "https://api.openai.com/v1"
# n8n's defaults, which a translation must spell out to behave the same.
AGENT_SYSTEM_MESSAGE = "You are a helpful assistant"
AGENT_MAX_ITERATIONS = 10
# Chat model options Headrace sends as they are; any other set option delegates.
_MODEL_OPTIONS = frozenset({"temperature", "maxTokens", "baseURL", "timeout", "maxRetries"})
_ROLES = {
    "SystemMessagePromptTemplate": "system",
    "HumanMessagePromptTemplate": "user",
    "AIMessagePromptTemplate": "assistant",
}
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PLACEHOLDER_TYPES = {"string": "string", "number": "number", "boolean": "boolean"}


def chain_llm(ctx: NodeContext) -> StepSpec:
    """Basic LLM Chain → ``llm``."""
    node = ctx.node
    _no_output_parser(node)
    messages = [_chain_message(ctx, m) for m in _message_values(node)]
    messages.append({"role": "user", "content": _prompt(ctx)})
    with_ = {**_model(ctx), "messages": messages}
    item = ItemRef(
        f"steps.{ctx.step_id}.output",
        heads={"text": f"steps.{ctx.step_id}.output.text"},
        what=f"the item of Basic LLM Chain {node.name!r}",
    )
    return StepSpec("llm", with_, item=item)


def agent(ctx: NodeContext) -> StepSpec:
    """AI Agent (tools agent) → ``agent``."""
    node = ctx.node
    _no_output_parser(node)
    agent_type = node.param("agent", "toolsAgent")
    if agent_type != "toolsAgent":
        raise Untranslatable(f"AI Agent {node.name!r} is a {agent_type}, not a tools agent")
    options = dict(node.param("options") or {})
    for name in ("returnIntermediateSteps", "passthroughBinaryImages"):
        if options.pop(name, False):
            raise Untranslatable(f"AI Agent {node.name!r} sets {name}")
    system = options.pop("systemMessage", AGENT_SYSTEM_MESSAGE)
    turns = options.pop("maxIterations", AGENT_MAX_ITERATIONS)
    if options:
        raise Untranslatable(f"AI Agent {node.name!r} sets {', '.join(sorted(options))}")
    if not isinstance(turns, int) or isinstance(turns, bool) or not 1 <= turns <= 100:
        raise Untranslatable(f"AI Agent {node.name!r}: maxIterations is not a fixed 1-100")
    with_ = {
        **_model(ctx),
        "messages": [
            {"role": "system", "content": ctx.value(system)},
            {"role": "user", "content": _prompt(ctx)},
        ],
        "tools": [_http_tool(tool) for tool in _tools(ctx)],
        "max_turns": turns,
    }
    item = ItemRef(
        f"steps.{ctx.step_id}.output",
        heads={"output": f"steps.{ctx.step_id}.output.text"},
        what=f"the item of AI Agent {node.name!r}",
    )
    return StepSpec("agent", with_, item=item)


AI_HANDLERS: dict[str, Callable[[NodeContext], StepSpec]] = {CHAIN: chain_llm, AGENT: agent}


# --- the parts -------------------------------------------------------------------------


def _no_output_parser(node: Node) -> None:
    if node.param("hasOutputParser"):
        raise Untranslatable(f"{node.name!r} uses an output parser")


def _prompt(ctx: NodeContext) -> Any:
    node = ctx.node
    if node.param("promptType") != "define" or node.param("text") in (None, ""):
        # "auto" reads the chat trigger's chatInput, which Headrace has no trigger for.
        raise Untranslatable(f"{node.name!r} takes its prompt from a chat trigger")
    return ctx.value(node.param("text"))


def _message_values(node: Node) -> list[Mapping[str, Any]]:
    values = (node.param("messages") or {}).get("messageValues") or []
    if not isinstance(values, list):
        raise Untranslatable(f"{node.name!r}: its messages are not a list")
    return values


def _chain_message(ctx: NodeContext, message: Mapping[str, Any]) -> dict[str, Any]:
    role = _ROLES.get(str(message.get("type", "SystemMessagePromptTemplate")))
    if role is None or message.get("messageType", "text") != "text":
        raise Untranslatable(f"{ctx.node.name!r} has a message that is not text")
    return {"role": role, "content": ctx.value(message.get("message", ""))}


def _model(ctx: NodeContext) -> dict[str, Any]:
    """The OpenAI Chat Model sub-node: the connection, model and settings of the step."""
    node = ctx.node
    models = ctx.attached.get("ai_languageModel", [])
    if len(models) != 1:
        raise Untranslatable(f"{node.name!r} has {len(models)} chat models (one translates)")
    model_node = models[0]
    if model_node.type != OPENAI_CHAT:
        raise Untranslatable(
            f"{node.name!r} uses {model_node.type.removeprefix(LANGCHAIN)}; only the OpenAI "
            "Chat Model (and OpenAI-compatible servers through its base URL) translates"
        )
    if "model" not in model_node.parameters:
        # An export leaves defaults out, and n8n's default model changed between versions.
        raise Untranslatable(f"{model_node.name!r} keeps n8n's default model, not a named one")
    model = model_node.param("model")
    if isinstance(model, Mapping):  # a resource locator: {"__rl": true, "value": ...}
        model = model.get("value")
    model = literal_text(model)
    if not isinstance(model, str) or not model or is_expression(model):
        raise Untranslatable(f"{model_node.name!r}: the model is not a fixed name")
    options = dict(model_node.param("options") or {})
    unknown = sorted(set(options) - _MODEL_OPTIONS)
    if unknown:
        raise Untranslatable(f"{model_node.name!r} sets {', '.join(unknown)}")
    with_: dict[str, Any] = {"connection": _connection(ctx, model_node, options), "model": model}
    if "temperature" in options:
        with_["temperature"] = _number(model_node, "temperature", options["temperature"])
    tokens = options.get("maxTokens", -1)
    if tokens != -1:  # n8n's "no limit"
        with_["max_tokens"] = int(_number(model_node, "maxTokens", tokens))
    return with_


def _number(node: Node, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Untranslatable(f"{node.name!r}: {name} is not a fixed number")
    return value


def _connection(ctx: NodeContext, model_node: Node, options: Mapping[str, Any]) -> str:
    credentials = model_node.raw.get("credentials") or {}
    credential = credentials.get("openAiApi") if isinstance(credentials, Mapping) else None
    if isinstance(credential, Mapping):
        credential = credential.get("name")
    name = str(credential or "openai")
    base_url = literal_text(options.get("baseURL") or OPENAI_URL)
    if not isinstance(base_url, str) or is_expression(base_url):
        raise Untranslatable(f"{model_node.name!r}: the base URL is not fixed")
    connection = "-".join("".join(c.lower() if c.isalnum() else " " for c in name).split())
    connection = connection or "openai"
    ctx.requirements.append(
        {
            "connection": connection,
            "type": "llm",
            "base_url": base_url.rstrip("/"),
            "n8n_credential": {"type": "openAiApi", "name": name},
        }
    )
    ctx.notes.append(
        f"{ctx.node.name!r} needs an llm integration named {connection!r} (base URL "
        f"{base_url}) holding the API key n8n calls {name!r}"
    )
    return connection


def _tools(ctx: NodeContext) -> list[Node]:
    tools = ctx.attached.get("ai_tool", [])
    for tool in tools:
        if tool.type != HTTP_TOOL:
            raise Untranslatable(
                f"AI Agent {ctx.node.name!r} uses the tool {tool.name!r} "
                f"({tool.type.removeprefix(LANGCHAIN)}); only HTTP Request tools translate"
            )
    return tools


def _http_tool(tool: Node) -> dict[str, Any]:
    """An HTTP Request tool: a fixed URL (and method) whose ``{placeholders}`` the model
    fills; nothing else (query, headers, body, auth) set."""
    for name in ("sendQuery", "sendHeaders", "sendBody", "optimizeResponse"):
        if tool.param(name):
            raise Untranslatable(f"HTTP Request tool {tool.name!r} sets {name}")
    if tool.param("authentication", "none") != "none":
        raise Untranslatable(f"HTTP Request tool {tool.name!r} authenticates")
    url = literal_text(tool.param("url"))
    method = str(tool.param("method", "GET")).upper()
    if (
        not isinstance(url, str)
        or is_expression(url)
        or not url.startswith(("http://", "https://"))
    ):
        raise Untranslatable(f"HTTP Request tool {tool.name!r}: the URL is not fixed")
    defined = {
        str(d.get("name")): d
        for d in (tool.param("placeholderDefinitions") or {}).get("values") or []
        if isinstance(d, Mapping)
    }
    names = _PLACEHOLDER.findall(url)
    properties: dict[str, Any] = {}
    for name in names:
        definition = defined.get(name, {})
        schema: dict[str, Any] = {}
        kind = _PLACEHOLDER_TYPES.get(str(definition.get("type", "")))
        if kind is not None:
            schema["type"] = kind
        if definition.get("description"):
            schema["description"] = str(definition["description"])
        properties[name] = schema
    template = _PLACEHOLDER.sub(lambda m: "{{ args." + m.group(1) + " }}", url)
    return {
        "name": _tool_name(tool.name),
        "description": str(tool.param("toolDescription") or tool.name),
        "parameters": {"type": "object", "properties": properties, "required": names},
        "http": {"method": method, "url": template},
    }


def _tool_name(name: str) -> str:
    """n8n names a tool after its node, keeping what a function name may hold."""
    return (re.sub(r"[^A-Za-z0-9_-]", "_", name).strip("_") or "tool")[:64]
