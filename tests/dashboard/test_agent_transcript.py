"""AI steps in the dashboard, in Chromium against a real ``headrace dev`` and a loopback
OpenAI-compatible server: an llm connection added on the integrations page, and an
``agent`` step's transcript on the run page, turn by turn, tool calls with their results."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.support.fake_openai import API_KEY, FakeOpenAI, running_fake_openai

Page = Any


@pytest.fixture(scope="module")
def openai() -> Iterator[FakeOpenAI]:
    with running_fake_openai() as server:
        yield server


def test_an_agent_run_shows_its_transcript_turn_by_turn(
    logged_in: Page,
    api: httpx.Client,
    create_workflow: Callable[..., dict[str, Any]],
    screenshot: Callable[..., None],
    openai: FakeOpenAI,
) -> None:
    page = logged_in
    name = f"ai-{uuid.uuid4().hex[:6]}"
    # The connection, added on the integrations page as a user would.
    page.goto("/integrations")
    form = page.get_by_role("form", name="Add an AI model connection")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Base URL").fill(openai.base_url)
    form.get_by_label("API key").fill(API_KEY)
    form.get_by_role("button", name="Add connection").click()
    expect(page.get_by_text(f"Connection “{name}” added")).to_be_visible()
    listed = [i for i in api.get("/api/v1/integrations").json() if i["name"] == name]
    assert [(i["type"], i["credential_fields"]) for i in listed] == [("llm", ["api_key"])]
    tool = create_workflow(
        f"stock-{name}",
        {
            "input_schema": {"type": "object", "properties": {"sku": {"type": "string"}}},
            "steps": [{"id": "s", "type": "transform", "with": {"in_stock": 12}}],
            "output": "{{ steps.s.output }}",
        },
    )
    model = openai.script(
        f"m-{name}",
        [
            {"tool_calls": [{"name": "stock", "arguments": {"sku": "A-1"}}]},
            {"text": "There are 12 of A-1 in stock."},
        ],
    )
    workflow = create_workflow(
        f"agent-{name}",
        {
            "steps": [
                {
                    "id": "helper",
                    "type": "agent",
                    "with": {
                        "connection": name,
                        "model": model,
                        "messages": [{"role": "user", "content": "How many A-1?"}],
                        "tools": [{"name": "stock", "workflow_id": tool["id"]}],
                    },
                }
            ]
        },
    )
    response = api.post(f"/api/v1/workflows/{workflow['id']}/execute", json={"async_mode": True})
    assert response.status_code in (200, 202), response.text
    page.goto(f"/executions/{response.json()['execution_id']}")
    row = page.get_by_test_id("step-row-helper")
    expect(row).to_have_attribute("data-status", "completed", timeout=30_000)
    row.get_by_role("button").first.click()
    transcript = page.get_by_role("list", name="Transcript of helper")
    expect(transcript.get_by_test_id("agent-turn-1")).to_contain_text('stock({"sku":"A-1"})')
    expect(transcript.get_by_test_id("agent-turn-1")).to_contain_text('"in_stock": 12')
    expect(transcript.get_by_test_id("agent-turn-2")).to_contain_text(
        "There are 12 of A-1 in stock."
    )
    screenshot(page, "execution-agent-transcript")
