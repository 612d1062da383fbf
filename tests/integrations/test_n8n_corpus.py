"""Public n8n exports nobody here wrote: each translates, delegates or is refused cleanly.

The files and their source and licence are listed in fixtures/corpus/README.md;
``bench/n8n_coverage.py`` prints the shares and the top delegation reasons over them (or
over any directory of exports).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from api.services.n8n.translate import MalformedWorkflow, translate_workflow
from temporal_workflows.validation import validate_definition

CORPUS = Path(__file__).parent / "fixtures" / "corpus"
EXPORTS = sorted(CORPUS.glob("*.json"))
# The 2,055 exports of Zie619/n8n-workflows at c4885eee (no licence: not committed; how to
# get them: fixtures/corpus/README.md), when HEADRACE_N8N_CORPUS names their directory.
OUTSIDE = os.environ.get("HEADRACE_N8N_CORPUS", "")
# Measured there with bench/n8n_coverage.py (docs/integrations.md): 32 of 2,055 translate.
OUTSIDE_MIN_TRANSLATED = 0.015


def test_the_corpus_is_there() -> None:
    assert len(EXPORTS) >= 70


@pytest.mark.parametrize("path", EXPORTS, ids=lambda p: p.stem)
def test_an_export_translates_delegates_or_is_refused(path: Path) -> None:
    raw: Any = json.loads(path.read_text(encoding="utf-8"))
    try:
        result = translate_workflow(raw, n8n_id="corpus", integration="n8n", workflow_ids={})
    except MalformedWorkflow as exc:
        assert str(exc)  # a clear per-workflow error for the sync's `errors`
        return
    validate_definition(result.definition)
    if result.mode == "delegate":
        assert result.reasons, "a delegated workflow says why"


@pytest.mark.skipif(not OUTSIDE, reason="set HEADRACE_N8N_CORPUS to a directory of exports")
def test_an_outside_corpus_translates_its_share_without_a_crash() -> None:
    outcomes: Counter[str] = Counter()
    for path in sorted(Path(OUTSIDE).rglob("*.json")):
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
        try:
            outcomes[translate_workflow(raw, n8n_id="c", integration="n8n").mode] += 1
        except MalformedWorkflow:
            outcomes["malformed"] += 1
    total = sum(outcomes.values())
    assert total > 0
    assert outcomes["translated"] / total >= OUTSIDE_MIN_TRANSLATED, outcomes
