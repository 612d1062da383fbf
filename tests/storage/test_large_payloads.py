"""Step outputs far over HEADRACE_INLINE_LIMIT flow through a run on both storage backends.

A 3 MB and a 50 MB JSON body are fetched by an ``http`` step and read by a ``transform``;
the run completes with the right values while its Temporal history stays small, because
the codec stores the payloads and leaves references in history.
"""

from __future__ import annotations

from typing import Any

import pytest

from core.storage.codec import payload_prefix
from tests.storage.conftest import Stack

HISTORY_BUDGET = 100 * 1024
MB = 1_000_000

DEFINITION: dict[str, Any] = {
    "steps": [
        {"id": "fetch", "type": "http", "with": {"url": "{{ input.url }}"}, "timeout": "60s"},
        {
            "id": "pick",
            "type": "transform",
            "depends_on": ["fetch"],
            "with": {
                "name": "{{ steps.fetch.output.body.name }}",
                "count": "{{ steps.fetch.output.body.count }}",
                "chunks": "{{ steps.fetch.output.body.chunks | length }}",
                "tail": "{{ steps.fetch.output.body.tail }}",
            },
        },
    ],
    "output": {"pick": "{{ steps.pick.output }}"},
}


async def run(stack: Stack, url: str) -> dict[str, Any]:
    created = await stack.http.post(
        "/api/v1/workflows",
        json={"name": "large payload", "definition": DEFINITION},
        headers=stack.headers,
    )
    assert created.status_code == 201, created.text
    response = await stack.http.post(
        f"/api/v1/workflows/{created.json()['id']}/execute",
        json={"input_data": {"url": url}},
        headers=stack.headers,
    )
    assert response.status_code == 200, response.text[:2000]
    return dict(response.json())


async def history_bytes(stack: Stack, execution_id: str) -> int:
    history = await stack.temporal.get_workflow_handle(execution_id).fetch_history()
    return sum(event.ByteSize() for event in history.events)


# The database is not what is under test: SQLite alone keeps the 50 MB runs affordable.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
class TestLargeStepOutputs:
    @pytest.mark.parametrize("size", [3 * MB, 50 * MB], ids=["3MB", "50MB"])
    async def test_a_large_output_flows_through_a_run_and_history_stays_small(
        self, stack: Stack, big_json_server: str, size: int
    ) -> None:
        result = await run(stack, f"{big_json_server}/json/{size}")

        assert result["status"] == "completed", result
        count = (size - 100) // 1003
        assert result["result"] == {
            "pick": {"name": "big", "count": count, "chunks": count, "tail": "the end"}
        }
        execution_id = result["execution_id"]
        assert await history_bytes(stack, execution_id) < HISTORY_BUDGET
        # The output itself went to this backend's store, under the run's own prefix.
        stored = await stack.store.list(payload_prefix(execution_id))
        assert stored and max(info.size for info in stored) > 0.9 * size
        # ...and the database keeps a preview of it, not the whole output.
        detail = await stack.http.get(f"/api/v1/executions/{execution_id}", headers=stack.headers)
        fetched = next(s for s in detail.json()["steps"] if s["id"] == "fetch")
        assert fetched["output"]["_headrace_truncated"] is True
        assert fetched["output"]["size_bytes"] > 0.9 * size
        assert len(detail.content) < 64 * 1024
