"""The dashboard, driven in Chromium against the real backend: the specification of what a
user can do in it, from logging in to approving a waiting step."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.dashboard.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Backend, login

Page = Any
Screenshot = Callable[..., None]

THREE_STEPS = {
    "input_schema": {
        "type": "object",
        "properties": {"name": {"type": "string"}, "times": {"type": "integer", "default": 2}},
        "required": ["name"],
    },
    "steps": [
        {"id": "greet", "type": "transform", "with": {"text": "hello {{ input.name }}"}},
        {"id": "nap", "type": "sleep", "depends_on": ["greet"], "with": {"duration": "2s"}},
        {
            "id": "note",
            "type": "log",
            "depends_on": ["greet"],
            "with": {"message": "{{ steps.greet.output.text }}"},
        },
        {
            "id": "done",
            "type": "transform",
            "depends_on": ["nap", "note"],
            "with": {"text": "{{ steps.greet.output.text }}", "times": "{{ input.times }}"},
        },
    ],
    "output": {"text": "{{ steps.done.output.text }}"},
}


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:6]}"


def import_json(page: Page, document: dict[str, Any], name: str = "workflow.json") -> None:
    page.get_by_test_id("import-json").set_input_files(
        files=[
            {
                "name": name,
                "mimeType": "application/json",
                "buffer": json.dumps(document, indent=2).encode(),
            }
        ]
    )


def step_node(page: Page, step_id: str) -> Any:
    return page.get_by_test_id(f"step-node-{step_id}")


class TestLogin:
    def test_a_wrong_password_is_refused_with_a_message(self, page: Page) -> None:
        login(page, ADMIN_EMAIL, "not-the-password")
        expect(page.get_by_role("alert")).to_contain_text("Wrong email or password")
        expect(page).to_have_url(re.compile(r"/login"))

    def test_logging_in_opens_the_dashboard_and_logging_out_ends_the_session(
        self, page: Page, screenshot: Screenshot
    ) -> None:
        page.goto("/workflows")
        expect(page).to_have_url(re.compile(r"/login\?next=%2Fworkflows"))
        screenshot(page, "login")
        page.get_by_label("Email").fill(ADMIN_EMAIL)
        page.get_by_label("Password").fill(ADMIN_PASSWORD)
        page.get_by_label("Password").press("Enter")  # keyboard-friendly: Enter submits
        expect(page).to_have_url(re.compile(r"/workflows$"))
        expect(page.get_by_test_id("current-user")).to_be_visible()
        # A reload keeps the session (refresh token in sessionStorage, access token renewed).
        page.reload()
        expect(page.get_by_role("heading", name="Workflows", exact=True)).to_be_visible()
        page.get_by_role("button", name="Log out").click()
        expect(page).to_have_url(re.compile(r"/login"))
        page.goto("/dashboard")
        expect(page).to_have_url(re.compile(r"/login"))


class TestWorkflowEditor:
    def test_a_workflow_created_from_json_shows_its_graph(
        self, logged_in: Page, screenshot: Screenshot
    ) -> None:
        page = logged_in
        name = unique("greeter")
        page.get_by_role("link", name="Workflows", exact=True).click()
        page.get_by_role("link", name="New workflow").click()
        page.get_by_label("Name").fill(name)
        import_json(page, THREE_STEPS)
        # The graph follows the JSON: one node per step, one edge per dependency.
        for step in ("greet", "nap", "note", "done"):
            expect(step_node(page, step)).to_be_visible()
        expect(page.locator(".react-flow__edge")).to_have_count(4)
        screenshot(page, "workflow-editor")
        page.get_by_role("button", name="Create workflow").click()
        expect(page).to_have_url(re.compile(r"/workflows/[0-9a-f-]{36}$"))
        expect(page.get_by_role("heading", name=name)).to_be_visible()
        expect(step_node(page, "done")).to_be_visible()
        # It is listed, and found by search.
        page.get_by_role("link", name="Workflows", exact=True).click()
        page.get_by_label("Search workflows").fill(name)
        expect(page.get_by_role("link", name=name)).to_be_visible()
        screenshot(page, "workflows")

    def test_definition_errors_from_the_api_are_shown_at_their_line(
        self, logged_in: Page, screenshot: Screenshot
    ) -> None:
        page = logged_in
        page.goto("/workflows/new")
        page.get_by_label("Name").fill(unique("broken"))
        broken = {
            "steps": [
                {"id": "a", "type": "transform", "with": {}},
                {"id": "b", "type": "transform", "depends_on": ["a", "ghost"], "with": {}},
            ]
        }
        import_json(page, broken)
        page.get_by_role("button", name="Create workflow").click()
        problems = page.get_by_test_id("problem-list")
        expect(problems).to_contain_text("/steps/1/depends_on/1")
        # json.dumps(indent=2) puts "ghost" on line 18 of the imported text.
        text = json.dumps(broken, indent=2)
        line = next(i for i, row in enumerate(text.splitlines(), 1) if '"ghost"' in row)
        expect(problems.get_by_test_id("problem-line").first).to_have_text(f"line {line}")
        # CodeMirror marks the very token.
        expect(page.locator(".cm-lintRange-error").first).to_have_text('"ghost"')
        screenshot(page, "workflow-errors")
        expect(page).to_have_url(re.compile(r"/workflows/new$"))

    def test_syntax_errors_are_marked_while_typing(self, logged_in: Page) -> None:
        page = logged_in
        page.goto("/workflows/new")
        editor = page.locator(".cm-content")
        editor.click()
        page.keyboard.press("Control+a")
        page.keyboard.insert_text(
            '{\n  "steps": [\n    {"id": "only", "type": "log" "with": {}}\n  ]\n}'
        )
        expect(page.get_by_test_id("problem-list")).to_contain_text("line 3")


class TestRuns:
    def test_a_run_started_from_the_form_turns_its_steps_green_live(
        self,
        logged_in: Page,
        create_workflow: Callable[..., dict[str, Any]],
        screenshot: Screenshot,
    ) -> None:
        page = logged_in
        workflow = create_workflow(unique("watch-me"), THREE_STEPS)
        page.goto(f"/workflows/{workflow['id']}/execute")
        # The form comes from input_schema: a required text field and an integer with its default.
        expect(page.get_by_label("times")).to_have_value("2")
        screenshot(page, "execute")
        page.get_by_role("button", name="Run").click()
        expect(page.get_by_text("Required", exact=True)).to_be_visible()
        page.get_by_label("name").fill("Ada")
        page.get_by_role("button", name="Run").click()
        expect(page).to_have_url(re.compile(r"/executions/[0-9a-f-]{36}$"))
        # While the 2 s sleep runs, its node says so; then every step completes.
        expect(step_node(page, "nap")).to_have_attribute(
            "data-status", re.compile("running|completed")
        )
        for step in ("greet", "nap", "note", "done"):
            expect(step_node(page, step)).to_have_attribute(
                "data-status", "completed", timeout=30_000
            )
        expect(page.locator("main [data-status=completed]").first).to_be_visible()
        expect(page.get_by_text('"hello Ada"').first).to_be_visible()
        expect(page.get_by_test_id("gantt")).to_be_visible()
        expect(page.get_by_role("link", name="Temporal UI")).to_have_attribute(
            "href", re.compile("/namespaces/")
        )
        screenshot(page, "execution", full_page=True)

    def test_an_approval_step_waits_until_approved_in_the_page(
        self,
        logged_in: Page,
        create_workflow: Callable[..., dict[str, Any]],
        screenshot: Screenshot,
    ) -> None:
        page = logged_in
        workflow = create_workflow(
            unique("needs-approval"),
            {
                "steps": [
                    {"id": "prepare", "type": "transform", "with": {"amount": 42}},
                    {
                        "id": "sign_off",
                        "type": "approval",
                        "depends_on": ["prepare"],
                        "with": {
                            "timeout": "1h",
                            "message": "Pay {{ steps.prepare.output.amount }} EUR?",
                        },
                    },
                    {
                        "id": "pay",
                        "type": "log",
                        "depends_on": ["sign_off"],
                        "with": {"message": "paid"},
                    },
                ]
            },
        )
        page.goto(f"/workflows/{workflow['id']}/execute")
        page.get_by_role("button", name="Run").click()
        expect(page).to_have_url(re.compile(r"/executions/"))
        card = page.get_by_test_id("approval-sign_off")
        expect(card).to_be_visible(timeout=30_000)
        expect(step_node(page, "sign_off")).to_have_attribute("data-status", "waiting")
        expect(step_node(page, "pay")).to_have_attribute("data-status", "pending")
        expect(page.get_by_test_id("approval-message-sign_off")).to_have_text("Pay 42 EUR?")
        expect(page.get_by_test_id("approval-deadline-sign_off")).to_contain_text("Decide before")
        screenshot(page, "execution-approval")
        card.get_by_label("Comment").fill("looks right")
        card.get_by_role("button", name="Approve").click()
        expect(step_node(page, "pay")).to_have_attribute("data-status", "completed", timeout=30_000)
        expect(card).to_be_hidden()
        page.get_by_test_id("step-row-sign_off").get_by_role("button").click()
        expect(page.get_by_test_id("step-row-sign_off")).to_contain_text("looks right")

    def test_a_failed_run_shows_its_error(
        self,
        logged_in: Page,
        create_workflow: Callable[..., dict[str, Any]],
        screenshot: Screenshot,
    ) -> None:
        page = logged_in
        workflow = create_workflow(
            unique("doomed"),
            {
                "steps": [
                    {"id": "start", "type": "transform", "with": {"ok": True}},
                    {
                        "id": "explode",
                        "type": "fail",
                        "depends_on": ["start"],
                        "with": {"message": "the reactor melted"},
                    },
                    {
                        "id": "never",
                        "type": "log",
                        "depends_on": ["explode"],
                        "with": {"message": "unreachable"},
                    },
                ]
            },
        )
        page.goto(f"/workflows/{workflow['id']}/execute")
        page.get_by_role("button", name="Run").click()
        expect(page.get_by_test_id("execution-error")).to_contain_text(
            "the reactor melted", timeout=30_000
        )
        expect(step_node(page, "explode")).to_have_attribute("data-status", "failed")
        expect(step_node(page, "start")).to_have_attribute("data-status", "completed")
        row = page.get_by_test_id("step-row-explode")
        row.get_by_role("button").click()
        expect(row.get_by_test_id("step-error")).to_contain_text("the reactor melted")
        screenshot(page, "execution-failed")
        # The dashboard counts it among the failures of the last 24 hours.
        page.get_by_role("link", name="Dashboard", exact=True).click()
        expect(page.get_by_test_id("stat-failed")).not_to_have_text("0")
        screenshot(page, "dashboard")


class TestApiKeys:
    def test_a_key_is_shown_once_works_and_stops_working_when_revoked(
        self, logged_in: Page, backend: Backend, screenshot: Screenshot
    ) -> None:
        page = logged_in
        name = unique("ci")
        page.get_by_role("link", name="API keys", exact=True).click()
        page.get_by_label("Name").fill(name)
        page.get_by_role("button", name="Create key").click()
        key = page.get_by_test_id("api-key-value").inner_text().strip()
        assert len(key) > 20
        expect(page.get_by_test_id(f"api-key-row-{name}")).to_be_visible()
        screenshot(page, "api-keys")
        me = httpx.get(f"{backend.url}/api/v1/auth/me", headers={"X-API-Key": key})
        assert me.status_code == 200, me.text
        page.get_by_role("button", name="I have saved it").click()
        expect(page.get_by_test_id("api-key-value")).to_be_hidden()
        page.get_by_test_id(f"api-key-row-{name}").get_by_role("button", name="Revoke").click()
        page.get_by_role("dialog").get_by_role("button", name="Revoke").click()
        expect(page.get_by_test_id(f"api-key-row-{name}")).to_be_hidden()
        gone = httpx.get(f"{backend.url}/api/v1/auth/me", headers={"X-API-Key": key})
        assert gone.status_code == 401


class TestPages:
    def test_every_page_renders_with_its_heading(
        self, logged_in: Page, screenshot: Screenshot
    ) -> None:
        page = logged_in
        for path, heading, shot in [
            ("/logs", "Logs", "logs"),
            ("/analytics", "Analytics", "analytics"),
            ("/integrations", "Integrations", None),
            ("/settings", "Settings", "settings"),
            ("/workflows", "Workflows", None),
            ("/nowhere", "Page not found", None),
        ]:
            page.goto(path)
            expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
            if shot:
                screenshot(page, shot)

    def test_dark_mode_is_remembered(self, logged_in: Page, screenshot: Screenshot) -> None:
        page = logged_in
        page.get_by_role("button", name="Switch to dark mode").click()
        expect(page.locator("html")).to_have_class(re.compile("dark"))
        page.reload()
        expect(page.locator("html")).to_have_class(re.compile("dark"))
        page.goto("/workflows")
        screenshot(page, "workflows-dark")

    def test_an_admin_adds_and_disables_a_user(self, logged_in: Page) -> None:
        page = logged_in
        email = f"{unique('dev')}@example.com"
        page.goto("/settings")
        form = page.get_by_role("form", name="Create a user")
        form.get_by_label("Email").fill(email)
        form.get_by_label("Password").fill("a-long-password")
        form.get_by_label("Role").select_option("developer")
        form.get_by_role("button", name="Add user").click()
        row = page.get_by_test_id(f"user-row-{email}")
        expect(row).to_be_visible()
        row.get_by_role("button", name="Disable").click()
        expect(row).to_contain_text("disabled")
