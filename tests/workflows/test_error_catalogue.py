"""Every step error type the code raises is in the catalogue, and the docs show all of them."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from temporal_workflows.errors import CATALOGUE, is_known

ROOT = Path(__file__).resolve().parents[2]
TYPE_NAME = re.compile(r"^[A-Z][A-Za-z0-9]+$")
# Failures of a whole run, not of a step: they never reach `non_retryable_errors`.
RUN_LEVEL = {"RunFailed", "InvalidInput", "ScheduledWorkflowUnavailable"}
RAISERS = {"StepError", "_error", "_fail", "_invalid", "_run_child"}


def raised_types() -> dict[str, str]:
    """Error type names passed as ``type=``/``error_type=`` or to a raising helper."""
    found: dict[str, str] = {}
    for folder in ("activities", "temporal_workflows", "core"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.Call):
                    continue
                candidates = [k.value for k in node.keywords if k.arg in ("type", "error_type")]
                func = node.func
                name = getattr(func, "id", None) or getattr(func, "attr", "")
                if name in RAISERS:
                    candidates += node.args[1:3]
                for value in candidates:
                    text = value.value if isinstance(value, ast.Constant) else None
                    if isinstance(text, str) and TYPE_NAME.match(text):
                        found[text] = str(path.relative_to(ROOT))
    return found


def test_every_raised_type_is_catalogued() -> None:
    raised = raised_types()
    assert {"HttpClientError", "WaitTimedOut", "ChildWorkflowForbidden"} <= set(raised)
    missing = {t: where for t, where in raised.items() if not is_known(t) and t not in RUN_LEVEL}
    assert not missing, f"add these to temporal_workflows/errors.py: {missing}"


def test_the_docs_table_lists_the_catalogue() -> None:
    docs = (ROOT / "docs" / "definitions.md").read_text()
    listed = set(re.findall(r"^\| `([A-Za-z0-9]+)` \|", docs, re.M))
    assert {error.name for error in CATALOGUE} <= listed
