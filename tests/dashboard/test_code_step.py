"""The ``code`` step in the dashboard, in Chromium against a real ``headrace dev``: its script is
edited as highlighted JavaScript (builder and JSON tab), and a real run's ``console.log`` lines
show on the run page under that step."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from playwright.sync_api import expect

Page = Any
Screenshot = Callable[..., None]

SCRIPT = (
    "// double the number and say so\n"
    "const doubled = input.n * 2;\n"
    'console.log("doubling", input.n);\n'
    'if (doubled > 40) console.warn("big result: " + doubled);\n'
    "return { doubled };"
)
DEFINITION = {
    "input_schema": {
        "type": "object",
        "properties": {"n": {"type": "integer"}},
        "required": ["n"],
    },
    "steps": [
        {
            "id": "double",
            "type": "code",
            "with": {"language": "javascript", "code": SCRIPT, "input": {"n": "{{ input.n }}"}},
        },
        {
            "id": "report",
            "type": "transform",
            "depends_on": ["double"],
            "with": {"result": "{{ steps.double.output.doubled }}"},
        },
    ],
    "output": "{{ steps.report.output }}",
}

# In a real browser the highlighter's classes give tokens their own colours: read them back.
TOKEN_COLOURS = """(root) => {
  const spans = [...root.querySelectorAll('.cm-content span')];
  const colour = (text) => {
    const s = spans.find((e) => e.textContent === text);
    return s ? getComputedStyle(s).color : null;
  };
  const line = root.querySelector('.cm-line');
  return {
    keyword: colour('const'),
    string: colour('"doubling"'),
    comment: colour('// double the number and say so'),
    plain: line ? getComputedStyle(line).color : null,
  };
}"""


def assert_highlighted(editor: Any) -> None:
    expect(editor.locator(".cm-content")).to_contain_text("const doubled = input.n * 2;")
    colours = editor.evaluate(TOKEN_COLOURS)
    assert None not in colours.values(), colours
    assert (
        len({colours["keyword"], colours["string"], colours["comment"], colours["plain"]}) == 4
    ), colours


class TestCodeStep:
    def test_the_script_is_highlighted_javascript_and_a_run_shows_its_console_lines(
        self,
        logged_in: Page,
        api: httpx.Client,
        create_workflow: Callable[..., dict[str, Any]],
        screenshot: Screenshot,
    ) -> None:
        page = logged_in
        workflow = create_workflow(f"code-step-{uuid.uuid4().hex[:6]}", DEFINITION)
        page.goto(f"/workflows/{workflow['id']}")

        # The JSON tab: the script panel under the editor shows the script decoded.
        panel = page.get_by_test_id("script-panel")
        expect(panel).to_contain_text("/steps/0/with/code")
        assert_highlighted(panel.get_by_test_id("code-editor"))

        # The builder: the code field is a JavaScript editor; an edit lands in the definition.
        page.get_by_role("tab", name="Builder").click()
        page.get_by_role("button", name="Edit double").click()
        field = page.get_by_test_id("code-field-code")
        assert_highlighted(field.get_by_test_id("code-editor"))
        screenshot(page, "builder-code")
        content = field.locator(".cm-content")
        content.click()
        page.keyboard.press("Control+End")
        page.keyboard.type("\n// edited in the builder")
        page.get_by_role("tab", name="Definition").click()
        expect(page.get_by_test_id("json-editor")).to_contain_text("// edited in the builder")

        # A real run on the worker: the step's console lines are on the run page.
        response = api.post(
            f"/api/v1/workflows/{workflow['id']}/execute",
            json={"input_data": {"n": 21}, "async_mode": True},
        )
        assert response.status_code in (200, 202), response.text
        page.goto(f"/executions/{response.json()['execution_id']}")
        row = page.get_by_test_id("step-row-double")
        expect(row).to_have_attribute("data-status", "completed", timeout=30_000)
        row.get_by_role("button").first.click()
        logs = page.get_by_role("list", name="Logs of double")
        expect(logs).to_contain_text("doubling 21")
        expect(logs).to_contain_text(re.compile(r"warn(ing)?\s*big result: 42", re.IGNORECASE))
        expect(page.get_by_text('"doubled": 42').first).to_be_visible()
        screenshot(page, "execution-code-logs")
