"""An agent survives its worker: ``headrace dev`` as real processes, the worker SIGKILLed
mid-loop, and no model call that had completed is made (or paid for) again."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.dev_stack import DevStack, dev_stack_in
from tests.support.fake_openai import API_KEY, FakeOpenAI, running_fake_openai
from tests.support.polling import eventually_sync


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[DevStack]:
    with dev_stack_in(tmp_path) as running:
        running.start()
        yield running


@pytest.fixture
def openai() -> Iterator[FakeOpenAI]:
    with running_fake_openai() as server:
        yield server


def test_a_worker_killed_mid_agent_resumes_without_repeating_a_model_call(
    stack: DevStack, openai: FakeOpenAI
) -> None:
    headers = stack.login()
    created = stack.api(
        "POST",
        "/integrations",
        headers,
        json={
            "type": "llm",
            "name": "ai",
            "config": {"base_url": openai.base_url},
            "credentials": {"api_key": API_KEY},
        },
    )
    assert created.status_code == 201, created.text
    # The tool is a workflow that takes a while: the worker dies while it runs.
    slow_tool = stack.api(
        "POST",
        "/workflows",
        headers,
        json={
            "name": "slow tool",
            "definition": {
                "steps": [
                    {"id": "think", "type": "sleep", "with": {"duration": "4s"}},
                    {
                        "id": "answer",
                        "type": "transform",
                        "depends_on": ["think"],
                        "with": {"v": 7},
                    },
                ],
                "output": "{{ steps.answer.output.v }}",
            },
        },
    ).json()["id"]
    model = openai.script(
        f"m-{uuid.uuid4().hex[:8]}",
        [
            {"tool_calls": [{"name": "slow", "arguments": {}}]},
            {"text": "the answer is 7"},
        ],
    )
    execution_id = stack.start_run(
        headers,
        "agent",
        {
            "steps": [
                {
                    "id": "helper",
                    "type": "agent",
                    "with": {
                        "connection": "ai",
                        "model": model,
                        "messages": [{"role": "user", "content": "what is the answer?"}],
                        "tools": [{"name": "slow", "workflow_id": slow_tool}],
                    },
                }
            ]
        },
    )

    def tool_running() -> bool:
        runs = stack.api("GET", f"/executions?workflow_id={slow_tool}", headers).json()["data"]
        return any(run["status"] == "running" for run in runs)

    eventually_sync(tool_running, timeout=60, interval=0.2, what="the tool's child run")
    assert openai.calls(model) == 1  # the first model call completed; the tool is running

    os.kill(stack.worker_pid(), signal.SIGKILL)  # headrace dev starts a new worker

    execution = stack.wait_for_status(execution_id, headers, "completed", timeout=90)
    output = {s["id"]: s for s in execution["steps"]}["helper"]["output"]
    assert output["text"] == "the answer is 7"
    assert output["transcript"][0]["tool_calls"][0]["result"] == 7
    assert openai.calls(model) == 2  # one call per turn: none repeated after the crash
    assert "the worker process exited (code -9)" in (stack.data_dir / "dev.log").read_text()


def test_a_model_call_in_flight_when_the_worker_dies_is_retried_the_ones_before_are_not(
    stack: DevStack, openai: FakeOpenAI
) -> None:
    headers = stack.login()
    created = stack.api(
        "POST",
        "/integrations",
        headers,
        json={
            "type": "llm",
            "name": "ai",
            "config": {"base_url": openai.base_url},
            "credentials": {"api_key": API_KEY},
        },
    )
    assert created.status_code == 201, created.text
    echo = stack.api(
        "POST",
        "/workflows",
        headers,
        json={
            "name": "echo tool",
            "definition": {"steps": [{"id": "e", "type": "transform", "with": {"ok": True}}]},
        },
    ).json()["id"]
    model = openai.script(
        f"m-{uuid.uuid4().hex[:8]}",
        [
            {"tool_calls": [{"name": "echo", "arguments": {}}]},
            {"text": "lost with the worker", "delay": 3},  # the worker dies meanwhile
            {"text": "answered by the next worker"},
        ],
    )
    execution_id = stack.start_run(
        headers,
        "agent in flight",
        {
            "steps": [
                {
                    "id": "helper",
                    "type": "agent",
                    # The lost attempt is given up on when its heartbeats stop (15 s), long
                    # before its timeout, then retried.
                    "timeout": "5m",
                    "retry": {"max_attempts": 3, "initial_interval": "100ms"},
                    "with": {
                        "connection": "ai",
                        "model": model,
                        "messages": [{"role": "user", "content": "go"}],
                        "tools": [{"name": "echo", "workflow_id": echo}],
                    },
                }
            ]
        },
    )
    eventually_sync(
        lambda: openai.calls(model) == 2, timeout=60, interval=0.05, what="the second call"
    )
    os.kill(stack.worker_pid(), signal.SIGKILL)

    execution = stack.wait_for_status(execution_id, headers, "completed", timeout=120)
    output = {s["id"]: s for s in execution["steps"]}["helper"]["output"]
    assert output["text"] == "answered by the next worker"
    assert output["turns"] == 2
    # Call 1 completed before the crash and was not made again; call 2 was in flight and
    # was retried (call 3).
    assert openai.calls(model) == 3
    assert [len(r["messages"]) for r in openai.requests[model]] == [1, 3, 3]
