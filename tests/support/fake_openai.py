"""An OpenAI-compatible chat completions server on loopback, answering from scripts.

Real HTTP (uvicorn in a thread), as OpenAI, Ollama or vLLM would be. Each test scripts a
model of its own name: ``server.script("m-1234", [answer, answer, ...])``; the n-th request
for that model gets the n-th answer (the last one again once they run out). An answer is:

- ``{"text": "..."}``: a final answer;
- ``{"tool_calls": [{"name": "...", "arguments": {...}}]}``: the model asks for tools;
- ``{"status": 429, "retry_after": "0"}`` or ``{"status": 500}``: an error answer;
- any of them with ``"delay": seconds`` (answered that much later) and ``"usage": {...}``.

Requests with ``"stream": true`` get the answer as server-sent events, a chunk per word, and
the usage in a last chunk. ``server.requests[model]`` keeps every request body in order.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.polling import eventually_sync

API_KEY = "sk-test-fake-openai-key"


@dataclass
class FakeOpenAI:
    base_url: str = ""  # ends in /v1, as a connection's base_url does
    api_key: str = API_KEY
    scripts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: defaultdict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(list)
    )

    def script(self, model: str, answers: list[dict[str, Any]]) -> str:
        self.scripts[model] = answers
        return model

    def calls(self, model: str) -> int:
        return len(self.requests[model])


def _usage(answer: dict[str, Any], body: dict[str, Any]) -> dict[str, int]:
    if "usage" in answer:
        return dict(answer["usage"])
    prompt = 10 * len(body.get("messages") or [])
    completion = max(len(str(answer.get("text", "")).split()), 1)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _tool_calls(answer: dict[str, Any], index: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"call_{index}_{n}",
            "type": "function",
            "function": {
                "name": call["name"],
                "arguments": call["arguments"]
                if isinstance(call["arguments"], str)
                else json.dumps(call["arguments"]),
            },
        }
        for n, call in enumerate(answer.get("tool_calls") or [])
    ]


def _app(server: FakeOpenAI) -> Starlette:
    async def completions(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {server.api_key}":
            return JSONResponse({"error": {"message": "bad key"}}, status_code=401)
        body = await request.json()
        model = str(body.get("model"))
        if model not in server.scripts:
            return JSONResponse(
                {"error": {"message": f"model {model} does not exist"}}, status_code=404
            )
        seen = server.requests[model]
        seen.append(body)
        script = server.scripts[model]
        answer = script[min(len(seen), len(script)) - 1]
        if answer.get("delay"):
            await asyncio.sleep(float(answer["delay"]))
        if answer.get("status"):
            headers = {"Retry-After": str(answer["retry_after"])} if "retry_after" in answer else {}
            return JSONResponse(
                {"error": {"message": f"scripted {answer['status']}"}},
                status_code=int(answer["status"]),
                headers=headers,
            )
        calls = _tool_calls(answer, len(seen))
        finish = "tool_calls" if calls else "stop"
        if body.get("stream"):
            return StreamingResponse(
                _chunks(model, answer, calls, finish, _usage(answer, body)),
                media_type="text/event-stream",
            )
        message: dict[str, Any] = {"role": "assistant", "content": answer.get("text")}
        if calls:
            message["tool_calls"] = calls
        return JSONResponse(
            {
                "id": f"chatcmpl-{len(seen)}",
                "object": "chat.completion",
                "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": _usage(answer, body),
            }
        )

    async def models(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {server.api_key}":
            return JSONResponse({"error": {"message": "bad key"}}, status_code=401)
        return JSONResponse(
            {"object": "list", "data": [{"id": m, "object": "model"} for m in server.scripts]}
        )

    return Starlette(
        routes=[
            Route("/v1/chat/completions", completions, methods=["POST"]),
            Route("/v1/models", models),
        ]
    )


async def _chunks(
    model: str,
    answer: dict[str, Any],
    calls: list[dict[str, Any]],
    finish: str,
    usage: dict[str, int],
) -> AsyncIterator[str]:
    def event(choices: list[dict[str, Any]], **extra: Any) -> str:
        chunk = {"object": "chat.completion.chunk", "model": model, "choices": choices, **extra}
        return f"data: {json.dumps(chunk)}\n\n"

    words = str(answer.get("text") or "").split(" ")
    for n, word in enumerate(words if answer.get("text") else []):
        text = word if n == 0 else " " + word
        yield event([{"index": 0, "delta": {"content": text}, "finish_reason": None}])
        await asyncio.sleep(float(answer.get("chunk_delay", 0)))
    for n, call in enumerate(calls):
        arguments = call["function"]["arguments"]
        half = len(arguments) // 2
        for part, first in ((arguments[:half], True), (arguments[half:], False)):
            delta: dict[str, Any] = {"index": n, "function": {"arguments": part}}
            if first:
                delta.update(id=call["id"], type="function")
                delta["function"]["name"] = call["function"]["name"]
            yield event([{"index": 0, "delta": {"tool_calls": [delta]}, "finish_reason": None}])
    yield event([{"index": 0, "delta": {}, "finish_reason": finish}])
    yield event([], usage=usage)
    yield "data: [DONE]\n\n"


@contextmanager
def running_fake_openai() -> Iterator[FakeOpenAI]:
    config = uvicorn.Config(
        Starlette(), host="127.0.0.1", port=0, lifespan="off", log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    fake = FakeOpenAI()
    config.app = _app(fake)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    eventually_sync(lambda: server.started, timeout=10, interval=0.01, what="the fake OpenAI")
    port = server.servers[0].sockets[0].getsockname()[1]
    fake.base_url = f"http://127.0.0.1:{port}/v1"
    try:
        yield fake
    finally:
        server.should_exit = True
        thread.join(timeout=5)
