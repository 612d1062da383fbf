"""Large values are replaced by a preview before they are stored in the database."""

from __future__ import annotations

import json

from core.storage.compact import TRUNCATED_MARKER, compact_event_data, compact_for_storage


class TestCompactForStorage:
    def test_values_within_the_limit_are_kept_as_they_are(self) -> None:
        value = {"rows": [1, 2, 3], "name": "small"}
        assert compact_for_storage(value, 1024) is value
        assert compact_for_storage(None, 0) is None
        assert compact_for_storage(12, 0) == 12

    def test_a_value_over_the_limit_becomes_a_preview_with_its_size(self) -> None:
        value = {"blob": "x" * 10_000}
        compact = compact_for_storage(value, 1024)
        assert compact[TRUNCATED_MARKER] is True
        assert compact["size_bytes"] == len(json.dumps(value, separators=(",", ":")))
        assert compact["preview"].startswith('{"blob":"xxx')
        assert len(json.dumps(compact)) < 3000

    def test_event_data_keeps_its_small_fields_and_compacts_the_output(self) -> None:
        data = {"output": "y" * 5000, "step_type": "http"}
        compact = compact_event_data(data, 1024)
        assert compact["step_type"] == "http"
        assert compact["output"][TRUNCATED_MARKER] is True
