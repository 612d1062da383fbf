"""How definition validation scales with the number of steps.

    .venv/bin/python bench/validation.py

Validates chains of 100, 250 and 500 steps (http and transform steps, templates reading the
step before), each with fresh template texts so no cache helps, and prints the best of five
per size and the ratio to the 100-step chain (about 5 for 500 steps means linear).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from temporal_workflows.validation import definition_problems


def chain(length: int, tag: str) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [{"id": "s0", "type": "log", "with": {"message": "start"}}]
    for i in range(1, length):
        previous = f"steps.s{i - 1}"
        steps.append(
            {
                "id": f"s{i}",
                "type": "http" if i % 2 else "transform",
                "depends_on": [f"s{i - 1}"],
                "when": f"{{{{ {previous}.status == 'completed{tag}' }}}}",
                "with": {"url": f"https://x.test/{{{{ {previous}.output.id{tag} }}}}"}
                if i % 2
                else {"v": f"{{{{ {previous}.output.n{tag} + {i} }}}}"},
            }
        )
    return {"steps": steps, "output": f"{{{{ steps.s{length - 1}.output }}}}"}


def best_of(length: int, runs: int = 5) -> float:
    timings = []
    for attempt in range(runs):
        definition = chain(length, f"{length}-{attempt}")
        started = time.perf_counter()
        problems = definition_problems(definition)
        timings.append(time.perf_counter() - started)
        assert problems == [], problems[:3]
    return min(timings)


def main() -> None:
    definition_problems(chain(10, "warm-up"))
    sizes = (100, 250, 500)
    results = {size: best_of(size) for size in sizes}
    table = Table(title="Definition validation (best of 5, fresh templates)")
    for column in ("steps", "ms", "ratio to 100 steps"):
        table.add_column(column, justify="right")
    for size, seconds in results.items():
        table.add_row(str(size), f"{seconds * 1000:.1f}", f"{seconds / results[100]:.2f}x")
    Console().print(table)


if __name__ == "__main__":
    main()
