"""How much of a corpus of real n8n exports the translator translates, delegates or refuses.

    .venv/bin/python bench/n8n_coverage.py [DIRECTORY ...] [--top 15]

Reads every ``*.json`` under the directories (default: the committed sample in
tests/integrations/fixtures/corpus, see its MANIFEST.md), translates each export as a sync
would, and prints translated / delegated / malformed / crashed counts and the most common
first reasons for delegation. A crash is any exception other than ``MalformedWorkflow``: the
translator must have none.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

from api.services.n8n.translate import MalformedWorkflow, translate_workflow

CORPUS = Path(__file__).resolve().parent.parent / "tests/integrations/fixtures/corpus"
# A reason names its node ('Sum counts') and values; the shape is what recurs.
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def classify(raw: Any) -> tuple[str, str | None]:
    """The outcome for one export ("translated", "delegate", "malformed" or "crashed")."""
    try:
        result = translate_workflow(raw, n8n_id="corpus", integration="n8n", workflow_ids={})
    except MalformedWorkflow as exc:
        return "malformed", str(exc)
    except Exception as exc:  # what the benchmark is for: count it, with where it happened
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        where = f"{Path(frame.filename).name}:{frame.lineno}"
        return "crashed", f"{type(exc).__name__} at {where}: {exc}"
    return result.mode, result.reasons[0] if result.reasons else None


def shape(reason: str) -> str:
    return _QUOTED.sub("…", reason)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directories", nargs="*", type=Path, default=[CORPUS])
    parser.add_argument("--top", type=int, default=15, help="how many reasons to list")
    args = parser.parse_args()
    files = sorted(p for d in args.directories for p in d.rglob("*.json"))
    outcomes: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    crashes: list[str] = []
    for path in files:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            outcomes["not JSON"] += 1
            continue
        outcome, reason = classify(raw)
        outcomes[outcome] += 1
        if outcome == "delegate" and reason:
            reasons[shape(reason)] += 1
        if outcome == "crashed":
            crashes.append(f"{path}: {reason}")
    total = sum(outcomes.values()) or 1
    print(f"{len(files)} exports")
    for outcome in ("translated", "delegate", "malformed", "crashed", "not JSON"):
        count = outcomes[outcome]
        print(f"  {outcome:<11} {count:>5}  {100 * count / total:5.1f} %")
    print(f"\ntop {args.top} first reasons for delegation:")
    for reason, count in reasons.most_common(args.top):
        print(f"  {count:>5}  {reason}")
    for crash in crashes[:20]:
        print(f"crash: {crash}", file=sys.stderr)
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
