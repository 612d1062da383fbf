"""The integrations page, in Chromium against a real ``headrace dev`` and a fake n8n on
loopback: a sync shows per workflow its mode and every reason, and the workflows it refused."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.integrations.fake_n8n import API_KEY, FakeN8n, running_fake_n8n

Page = Any
Screenshot = Callable[..., None]


@pytest.fixture
def n8n() -> Iterator[FakeN8n]:
    with running_fake_n8n() as server:
        server.add("order_intake")  # translated
        server.add("score_code")  # delegated (its Code node reads $execution)
        server.workflows["broken1"] = {
            "id": "broken1",
            "name": "Broken",
            "nodes": [{"name": "A", "type": "x"}],
            "connections": {"A": {"main": [[{"node": "B", "type": "main", "index": 0}]]}},
        }
        yield server


class TestN8nSync:
    def test_the_result_lists_each_workflows_mode_and_every_reason(
        self, logged_in: Page, n8n: FakeN8n, screenshot: Screenshot
    ) -> None:
        page = logged_in
        page.goto("/integrations")
        page.get_by_label("n8n URL").fill(n8n.base_url)
        page.get_by_label("n8n API key").fill(API_KEY)
        with page.expect_response("**/api/v1/integrations/n8n/sync") as answer:
            page.get_by_role("button", name="Sync workflows").click()
        result = answer.value.json()
        synced = {w["n8n_id"]: w for w in result["workflows"]}
        assert synced["wfOrderIntake01"]["mode"] == "translated"
        delegated = synced["wfScoreCode03"]
        assert delegated["mode"] == "delegate" and delegated["reasons"]

        expect(page.get_by_role("status").filter(has_text="synced")).to_have_text(
            "2 workflows synced: 1 translated, 1 delegated to n8n; 1 failed."
        )
        row = page.get_by_test_id("synced-wfScoreCode03")
        expect(row.get_by_test_id("sync-mode")).to_have_text("delegated to n8n")
        expect(row.get_by_test_id("sync-reasons").get_by_role("listitem")).to_have_text(
            delegated["reasons"]
        )
        translated = page.get_by_test_id("synced-wfOrderIntake01")
        expect(translated.get_by_test_id("sync-mode")).to_have_text("translated")
        expect(translated.get_by_test_id("sync-reasons")).to_have_count(0)
        expect(page.get_by_test_id("sync-errors")).to_contain_text("broken1")
        expect(page.get_by_test_id("sync-errors")).to_contain_text("no node is named 'B'")
        screenshot(page, "integrations-sync", full_page=True)

        # The synced workflow's own page keeps the answer.
        row.get_by_role("link", name=delegated["name"]).click()
        source = page.get_by_test_id("sync-source")
        expect(source).to_contain_text("delegated to n8n")
        expect(source.get_by_test_id("source-reasons").get_by_role("listitem")).to_have_text(
            delegated["reasons"]
        )
