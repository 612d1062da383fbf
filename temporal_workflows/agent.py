"""The ``llm`` and ``agent`` steps, as the workflow runs them (deterministic: no I/O here).

An ``llm`` step is one model call: one ``run_llm_call`` activity (:mod:`activities.llm`).

An ``agent`` step is a loop the workflow drives: the model is called (an activity); if it
asks for tools, each tool call runs (an ``http`` activity, or another Headrace workflow as a
child workflow), its result is added to the conversation, and the model is called again;
until it answers without asking for a tool. Every model call and every tool call is a
recorded Temporal event, so a worker that dies mid-loop is replaced by one that replays the
history and carries on at the first call that had not completed: no completed model call is
made (or paid for) twice. The loop stops with a step error at ``max_turns`` model calls
(``AgentMaxTurns``), when the token budget is spent before the next call
(``AgentTokenBudgetExceeded``), or when ``time_limit`` has passed before the next call
(``AgentTimeLimit``).

A tool that fails (an http error, a child run that fails, arguments that do not match the
tool's schema) does not fail the step: the model gets the error as the tool's result, as
people write agents by hand. The step's output is the transcript, turn by turn; each turn is
also an ``agent.turn`` event of the run's event stream.

What the loop needs from the run that hosts it (run an activity, start a child run, render
a template, emit an event) comes in :class:`AiCalls`, so this module knows nothing of the
interpreter's insides.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jsonschema.validators import validator_for

from temporal_workflows.durations import parse_duration
from temporal_workflows.run_types import LlmCallInput

__all__ = ["AiCalls", "run_agent", "run_llm"]

# A workflow tool without an input_schema takes any object.
ANY_OBJECT: dict[str, Any] = {"type": "object"}
# What a tool result may put into the conversation: a model's context is not unbounded.
MAX_TOOL_RESULT_CHARS = 20_000
_USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")


@dataclass(frozen=True)
class AiCalls:
    """What the AI steps need from the run that hosts them.

    Attributes:
        step_id, execution_id, workflow_id, secret_key: Whose step this is.
        model: Runs ``run_llm_call`` as an activity (never a local one); the text names the
            call in the Temporal Web UI. Returns the activity's output.
        http: Runs an ``http`` request (the rendered fields of an http step's ``with``).
        workflow: Runs another Headrace workflow as a child run (``{"workflow_id",
            "input"}``); returns ``{"execution_id", "output"}``.
        input_schema: The ``input_schema`` of a Headrace workflow (``None`` without one).
        render: Evaluates templates in a value, with extra names (``args``) visible.
        emit: Adds an event of the step to the run's event stream.
        now: The workflow's clock.
        fail: The exception that fails the step, from a message and an error type.
        tool_errors: The exceptions a failed tool call raises (the model gets them back).
    """

    step_id: str
    execution_id: str
    workflow_id: str
    secret_key: str
    model: Callable[[LlmCallInput, str], Awaitable[Any]]
    http: Callable[[dict[str, Any], str], Awaitable[Any]]
    workflow: Callable[[dict[str, Any], str], Awaitable[Any]]
    input_schema: Callable[[str], Awaitable[dict[str, Any] | None]]
    render: Callable[[Any, dict[str, Any]], Any]
    emit: Callable[[str, dict[str, Any]], None]
    now: Callable[[], datetime]
    fail: Callable[[str, str], Exception]
    tool_errors: tuple[type[BaseException], ...]

    def request(
        self, params: Mapping[str, Any], messages: Any, *, turn: int | None = None, **extra: Any
    ) -> LlmCallInput:
        """The model call of a step's evaluated ``with`` and a conversation."""
        return LlmCallInput(
            step_id=self.step_id,
            execution_id=self.execution_id,
            workflow_id=self.workflow_id,
            connection=str(params["connection"]),
            messages=messages,
            model=params.get("model"),
            temperature=params.get("temperature"),
            max_tokens=params.get("max_tokens"),
            stream=bool(params.get("stream", False)),
            turn=turn,
            secret_key=self.secret_key,
            **extra,
        )


async def run_llm(calls: AiCalls, params: Mapping[str, Any], response_schema: Any) -> Any:
    """An ``llm`` step: one model call.

    Returns:
        With ``response_schema``, the answer parsed as JSON (valid against the schema);
        else ``{text, usage, finish_reason, model}``.
    """
    request = calls.request(params, params.get("messages"), response_schema=response_schema)
    reply = await calls.model(request, "model call")
    if response_schema is not None:
        return reply["parsed"]
    return {key: reply[key] for key in ("text", "usage", "finish_reason", "model")}


@dataclass(frozen=True)
class _Tool:
    name: str
    spec: dict[str, Any]  # the OpenAI "function" tool the model sees
    schema: dict[str, Any]
    workflow_id: str | None = None
    http: Mapping[str, Any] | None = None


async def run_agent(
    calls: AiCalls, params: Mapping[str, Any], written_tools: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """An ``agent`` step: the loop of model calls and tool calls (see the module docstring).

    Args:
        calls: What the loop needs from its run.
        params: The step's evaluated ``with`` (without ``tools``).
        written_tools: The step's ``tools`` as written (their templates are rendered per
            call, with the model's arguments as ``args``).

    Returns:
        ``{text, turns, usage, transcript}``: the final answer, how many model calls it
        took, the tokens they used, and each turn's answer and tool results.
    """
    messages = params.get("messages")
    if not isinstance(messages, list):
        raise calls.fail("messages must be a list of {role, content} objects", "LlmInvalidRequest")
    conversation: list[Any] = list(messages)
    tools = await _tools(calls, written_tools)
    by_name = {tool.name: tool for tool in tools}
    max_turns = int(params.get("max_turns") or 10)
    budget = params.get("max_total_tokens")
    time_limit = params.get("time_limit")
    deadline = calls.now() + parse_duration(time_limit) if time_limit else None
    usage = dict.fromkeys(_USAGE_KEYS, 0)
    transcript: list[dict[str, Any]] = []

    def check_limits() -> None:
        if deadline is not None and calls.now() >= deadline:
            raise calls.fail(
                f"the agent ran out of its time limit ({time_limit})", "AgentTimeLimit"
            )
        if budget is not None and usage["total_tokens"] >= budget:
            raise calls.fail(
                f"the agent spent its token budget ({usage['total_tokens']} of {budget})",
                "AgentTokenBudgetExceeded",
            )

    for turn in range(1, max_turns + 1):
        check_limits()
        request = calls.request(
            params, conversation, turn=turn, tools=[tool.spec for tool in tools]
        )
        reply = await calls.model(request, f"turn {turn} · model")
        for key in _USAGE_KEYS:
            usage[key] += int(reply["usage"].get(key, 0))
        conversation.append(reply["message"])
        record: dict[str, Any] = {
            "turn": turn,
            "text": reply["text"],
            "finish_reason": reply["finish_reason"],
            "usage": reply["usage"],
            "tool_calls": [],
        }
        transcript.append(record)
        for call in reply["tool_calls"]:
            check_limits()
            result, error = await _run_tool(calls, by_name, call, turn)
            record["tool_calls"].append(
                {
                    "id": call["id"],
                    "name": call["name"],
                    "arguments": call["arguments"],
                    **({"error": error} if error is not None else {"result": result}),
                }
            )
            content = {"error": error} if error is not None else result
            conversation.append(
                {"role": "tool", "tool_call_id": call["id"], "content": _as_text(content)}
            )
        calls.emit("agent.turn", record)
        if not reply["tool_calls"]:
            return {"text": reply["text"], "turns": turn, "usage": usage, "transcript": transcript}
    raise calls.fail(
        f"the agent gave no final answer within max_turns ({max_turns} model calls)",
        "AgentMaxTurns",
    )


async def _tools(calls: AiCalls, written: Sequence[Mapping[str, Any]]) -> list[_Tool]:
    tools = []
    for tool in written:
        name = str(tool["name"])
        workflow_id = tool.get("workflow_id")
        if workflow_id is not None:
            schema = await calls.input_schema(str(workflow_id)) or ANY_OBJECT
        else:
            schema = tool.get("parameters") or ANY_OBJECT
        function: dict[str, Any] = {"name": name, "parameters": schema}
        if tool.get("description"):
            function["description"] = str(tool["description"])
        tools.append(
            _Tool(
                name=name,
                spec={"type": "function", "function": function},
                schema=schema,
                workflow_id=str(workflow_id) if workflow_id is not None else None,
                http=tool.get("http"),
            )
        )
    return tools


async def _run_tool(
    calls: AiCalls, tools: Mapping[str, _Tool], call: Mapping[str, Any], turn: int
) -> tuple[Any, str | None]:
    """One tool call: ``(result, None)``, or ``(None, the error the model is told)``."""
    tool = tools.get(call["name"])
    if tool is None:
        return None, f"there is no tool named {call['name']!r}"
    args = call["arguments"]
    if args is None:
        return None, "the arguments are not JSON"
    problem = next(iter(validator_for(tool.schema)(tool.schema).iter_errors(args)), None)
    if problem is not None:
        where = "/" + "/".join(str(part) for part in problem.absolute_path)
        return None, f"the arguments do not match the tool's schema at {where}: {problem.message}"
    label = f"turn {turn} · tool {tool.name}"
    try:
        if tool.workflow_id is not None:
            ran = await calls.workflow({"workflow_id": tool.workflow_id, "input": args}, label)
            return ran["output"], None
        assert tool.http is not None
        request = calls.render(dict(tool.http), {"args": args})
        response = await calls.http(request, label)
        return {"status": response["status"], "body": response["body"]}, None
    except calls.tool_errors as exc:
        return None, str(exc)


def _as_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if len(text) > MAX_TOOL_RESULT_CHARS:
        return text[:MAX_TOOL_RESULT_CHARS] + " …(cut)"
    return text
