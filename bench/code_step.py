"""What a ``code`` step costs next to a ``transform`` step doing the same arithmetic.

    .venv/bin/python bench/code_step.py [--quick]

Starts a Temporal dev server (WAL SQLite, eager start) and one Headrace worker, then times
runs of a one-step and a ten-step chain both ways, and the sandbox alone (a fresh QuickJS
context, the prelude, the script, the result read back) without Temporal. A ``transform`` is
evaluated inside the workflow; a ``code`` step is an activity, so most of the gap is the
activity round trip, not JavaScript.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from activities.code import CodeLimits, run_script
from bench.interpreter import QUEUE, bench_stack, pct, timed
from temporal_workflows.expressions import evaluate
from worker.main import build_worker


def chain(kind: str, length: int) -> dict[str, Any]:
    """``length`` steps, each adding one to the previous step's ``v``."""
    steps: list[dict[str, Any]] = []
    for i in range(length):
        previous = f"{{{{ steps.s{i - 1}.output.v }}}}" if i else 0
        step: dict[str, Any] = {"id": f"s{i}", "depends_on": [f"s{i - 1}"] if i else []}
        if kind == "code":
            step |= {"type": "code", "with": {"code": "return {v: input + 1}", "input": previous}}
        else:
            expression = f"{{{{ steps.s{i - 1}.output.v + 1 }}}}" if i else 1
            step |= {"type": "transform", "with": {"v": expression}}
        steps.append(step)
    return {"steps": steps}


def sandbox_alone(repeat: int) -> tuple[float, float]:
    """Median seconds of one trivial script in the sandbox, and of the same template."""
    limits = CodeLimits()
    scripts, templates = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        run_script("return {v: input + 1}", 1, limits, 5.0)
        scripts.append(time.perf_counter() - started)
        started = time.perf_counter()
        evaluate({"v": "{{ steps.a.output.v + 1 }}"}, {"steps": {"a": {"output": {"v": 1}}}})
        templates.append(time.perf_counter() - started)
    return statistics.median(templates), statistics.median(scripts)


async def main(quick: bool) -> None:
    repeat = 20 if quick else 100
    rows: list[tuple[str, float, float]] = []
    transform_alone, script_alone = sandbox_alone(repeat * 10)
    rows.append(("evaluation alone, no Temporal (median)", transform_alone, script_alone))
    with tempfile.TemporaryDirectory() as data_dir:
        async with bench_stack(data_dir) as stack:
            bench = stack.bench
            for kind in ("transform", "code"):
                for length in (1, 10):
                    await bench.register(
                        stack.resources.sessions,
                        stack.owner,
                        f"{kind}{length}",
                        chain(kind, length),
                    )
            async with build_worker(stack.env.client, QUEUE, stack.resources):
                for length in (1, 10):
                    figures = {}
                    for kind in ("transform", "code"):
                        name = f"{kind}{length}"
                        await bench.headrace(name)  # warm up
                        figures[kind] = pct(
                            await timed(lambda n=name: bench.headrace(n), repeat), 0.5
                        )
                    rows.append(
                        (f"run of {length} step(s), p50", figures["transform"], figures["code"])
                    )
    print_table(rows)


def print_table(rows: list[tuple[str, float, float]]) -> None:
    table = Table(title="code step vs transform step (seconds)")
    for column in ("scenario", "transform", "code", "code / transform"):
        table.add_column(column, justify="right" if column != "scenario" else "left")
    for label, transform, code in rows:
        table.add_row(label, f"{transform:.5f}", f"{code:.5f}", f"{code / transform:.1f}x")
    Console().print(table)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    asyncio.run(main(parser.parse_args().quick))
