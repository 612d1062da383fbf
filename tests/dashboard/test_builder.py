"""The visual builder, driven in Chromium against a real ``headrace dev``: a workflow is built,
connected, fixed, tested step by step, saved and run without typing its JSON."""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import expect

Page = Any
Screenshot = Callable[..., None]


class _Items(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"items": [1, 2, 3]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:  # keep the test output quiet
        pass


@pytest.fixture
def items_url() -> Iterator[str]:
    """A real HTTP server on loopback for the workflow's http step (dev allows loopback)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Items)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/items"
    server.shutdown()
    server.server_close()


def node(page: Page, step_id: str) -> Any:
    return page.get_by_test_id(f"builder-node-{step_id}")


def add_step(page: Page, step_type: str) -> None:
    page.get_by_role("button", name="Add step").click()
    page.get_by_role("menuitem", name=step_type, exact=True).click()


def drag_edge(page: Page, source: str, target: str) -> None:
    """Drag from ``source``'s output handle to ``target``'s input handle, as a user would."""
    start = page.get_by_test_id(f"out-{source}").bounding_box()
    end = page.get_by_test_id(f"in-{target}").bounding_box()
    assert start and end
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + end["height"] / 2, steps=12)
    page.mouse.up()


class TestBuilder:
    def test_a_three_step_workflow_is_built_connected_fixed_tested_saved_and_run(
        self, logged_in: Page, items_url: str, screenshot: Screenshot
    ) -> None:
        page = logged_in
        name = f"built-{uuid.uuid4().hex[:6]}"
        page.goto("/workflows/new")
        page.get_by_label("Name").fill(name)
        page.get_by_role("tab", name="Builder").click()

        # Start from nothing: remove one of the template's steps, then clear the rest.
        expect(node(page, "pause")).to_be_visible()
        node(page, "pause").click()
        page.get_by_role("button", name="Remove step").click()
        expect(node(page, "pause")).to_have_count(0)
        page.get_by_role("button", name="Clear steps").click()
        expect(page.get_by_test_id(re.compile(r"^builder-node-"))).to_have_count(0)

        # The palette has one item per step type of the served schema.
        page.get_by_role("button", name="Add step").click()
        menu = page.get_by_role("menu")
        for step_type in ("http", "transform", "log", "fail", "storage", "workflow"):
            expect(menu.get_by_role("menuitem", name=step_type, exact=True)).to_be_visible()
        page.keyboard.press("Escape")

        # 1. An http step, its form generated from the schema (labels are the field names).
        add_step(page, "http")
        expect(node(page, "http")).to_be_visible()
        page.get_by_label("url", exact=True).fill(items_url)
        expect(page.get_by_label("method", exact=True)).to_be_visible()

        # 2. A transform added from the http node's "+" handle depends on it.
        page.get_by_role("button", name="Add a step after http").click()
        page.get_by_role("menuitem", name="transform", exact=True).click()
        expect(page.get_by_label("Depends on")).to_have_values(["http"])
        page.get_by_label("New with key").fill("count")
        page.get_by_role("button", name="Add with key").click()
        count = page.get_by_label("count", exact=True)
        count.fill("{{ steps.http.output.body['items'] | length }}")
        # Template completion offers the upstream step's output.
        expect(
            page.locator("datalist#completions-transform option[value='{{ steps.http.output }}']")
        ).to_have_count(1)

        # Test this step with a sample upstream output, without saving.
        page.get_by_text("Test this step").click()
        page.get_by_label("Upstream outputs").fill('{"http": {"body": {"items": [1, 2, 3, 4]}}}')
        page.get_by_role("button", name="Run step").click()
        expect(page.get_by_test_id("step-test-result")).to_contain_text('"count": 4')

        # 3. A log step, connected by dragging an edge from the transform.
        add_step(page, "log")
        expect(node(page, "log")).to_be_visible()
        drag_edge(page, "transform", "log")
        expect(page.locator(".react-flow__edge")).to_have_count(2)
        node(page, "log").click()
        expect(page.get_by_label("Depends on")).to_have_values(["transform"])

        # The API's validation error (log needs a message) is on the node and on the field.
        message = page.get_by_label("message", exact=True)
        expect(node(page, "log")).to_have_attribute("data-problems", "1", timeout=10_000)
        expect(message).to_have_attribute("aria-invalid", "true")
        expect(page.get_by_test_id("field-error")).to_contain_text("required")
        message.fill("{{ steps.transform.output.count }} items")
        expect(node(page, "log")).to_have_attribute("data-problems", "0", timeout=10_000)
        expect(message).to_have_attribute("aria-invalid", "false")
        page.get_by_role("region", name="Step").evaluate("e => e.scrollTo(0, 0)")
        screenshot(page, "builder")

        # Undo with the keyboard (outside a text field, which keeps its own undo), then redo.
        page.get_by_role("button", name="Auto-layout").focus()
        page.keyboard.press("Control+z")
        node(page, "log").click()
        expect(page.get_by_label("message", exact=True)).not_to_have_value(
            "{{ steps.transform.output.count }} items"
        )
        page.get_by_role("button", name="Redo").click()
        expect(page.get_by_label("message", exact=True)).to_have_value(
            "{{ steps.transform.output.count }} items"
        )

        # The JSON tab shows the same definition.
        page.get_by_role("tab", name="Definition").click()
        editor = page.locator(".cm-content")
        expect(editor).to_contain_text('"depends_on": [')
        expect(editor).to_contain_text(items_url)
        editor.click()
        page.keyboard.press("Control+End")  # CodeMirror draws only the lines in view
        expect(editor).to_contain_text("{{ steps.transform.output.count }} items")

        # Save, then run it: every step completes, and the log reads the http step's data.
        page.get_by_role("button", name="Create workflow").click()
        expect(page).to_have_url(re.compile(r"/workflows/[0-9a-f-]{36}$"))
        workflow_url = page.url
        page.goto(workflow_url + "/execute")
        page.get_by_label("name").fill("Ada")
        page.get_by_role("button", name="Run").click()
        expect(page).to_have_url(re.compile(r"/executions/[0-9a-f-]{36}$"))
        for step in ("http", "transform", "log"):
            expect(page.get_by_test_id(f"step-node-{step}")).to_have_attribute(
                "data-status", "completed", timeout=30_000
            )
        expect(page.get_by_text("3 items").first).to_be_visible()

        # Back in the saved workflow's builder: test the transform on the last run's outputs,
        # and the http step itself, which runs once on the worker.
        page.goto(workflow_url)
        page.get_by_role("tab", name="Builder").click()
        node(page, "transform").click()
        page.get_by_text("Test this step").click()
        page.get_by_role("button", name="Use the last run").click()
        expect(page.get_by_label("Upstream outputs")).to_have_value(re.compile('"items"'))
        page.get_by_role("button", name="Run step").click()
        expect(page.get_by_test_id("step-test-result")).to_contain_text('"count": 3')
        node(page, "http").click()
        page.get_by_text("Test this step").click()
        page.get_by_role("button", name="Run step").click()
        expect(page.get_by_test_id("step-test-result")).to_contain_text('"status": 200')

    def test_broken_json_does_not_destroy_the_builder(self, logged_in: Page) -> None:
        page = logged_in
        page.goto("/workflows/new")
        page.get_by_role("tab", name="Builder").click()
        expect(node(page, "greet")).to_be_visible()
        page.get_by_role("tab", name="Definition").click()
        page.locator(".cm-content").click()
        page.keyboard.press("Control+End")
        page.keyboard.insert_text("{ oops")
        page.get_by_role("tab", name="Builder").click()
        expect(page.get_by_role("status")).to_contain_text("last valid definition")
        expect(node(page, "greet")).to_be_visible()
        expect(page.get_by_role("button", name="Add step")).to_be_disabled()

    def test_the_builder_follows_dark_mode(self, logged_in: Page, screenshot: Screenshot) -> None:
        page = logged_in
        page.get_by_role("button", name="Switch to dark mode").click()
        page.goto("/workflows/new")
        page.get_by_role("tab", name="Builder").click()
        expect(node(page, "greet")).to_be_visible()
        expect(page.locator("html")).to_have_class(re.compile("dark"))
        # The node is drawn on the dark palette, not on white.
        background = node(page, "greet").evaluate("e => getComputedStyle(e).backgroundColor")
        assert background != "rgb(255, 255, 255)"
        node(page, "greet").click()
        screenshot(page, "builder-dark")
