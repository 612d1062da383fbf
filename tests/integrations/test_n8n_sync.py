"""``POST /api/v1/integrations/n8n/sync`` against a local server speaking n8n's public API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import UserFactory
from tests.integrations.fake_n8n import API_KEY, FakeN8n

SYNC = "/api/v1/integrations/n8n/sync"
ALL_FIXTURES = (
    "order_intake",
    "nightly_report",
    "score_code",
    "approval_wait",
    "greeting_merge",
    "totals_parent",
    "totals_child",
    "resilient_calls",
    "scheduled_digest",
    "legacy_nodes",
    "profile_combine",
    "order_intake_real_export",
)


class Api:
    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str], n8n: FakeN8n) -> None:
        self.client, self.headers, self.n8n = client, headers, n8n

    async def sync(self, expect: int = 200, **body: Any) -> dict[str, Any]:
        payload = {"n8n_url": self.n8n.base_url, "api_key": API_KEY, **body}
        response = await self.client.post(SYNC, json=payload, headers=self.headers)
        assert response.status_code == expect, response.text
        return dict(response.json())

    async def workflows(self) -> list[dict[str, Any]]:
        """The caller's workflows synced from this n8n (others' shared ones are visible too)."""
        response = await self.client.get("/api/v1/workflows?limit=500", headers=self.headers)
        return [
            w
            for w in response.json()["data"]
            if (w.get("source") or {}).get("n8n_url") == self.n8n.base_url
        ]

    async def workflow(self, workflow_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/api/v1/workflows/{workflow_id}", headers=self.headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def integrations(self) -> list[dict[str, Any]]:
        return list((await self.client.get("/api/v1/integrations", headers=self.headers)).json())


@pytest.fixture
async def api(client: httpx.AsyncClient, make_user: UserFactory, fake_n8n: FakeN8n) -> Api:
    return Api(client, await make_user("developer"), fake_n8n)


def by_n8n_id(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {w["n8n_id"]: w for w in result["workflows"]}


class TestFirstSync:
    async def test_every_workflow_becomes_one_headrace_workflow(self, api: Api) -> None:
        for name in ALL_FIXTURES:
            api.n8n.add(name)
        result = await api.sync()
        assert result["synced_count"] == len(ALL_FIXTURES) and result["errors"] == []
        modes = {k: w["mode"] for k, w in by_n8n_id(result).items()}
        assert modes == {
            "wfOrderIntake01": "translated",
            "wfNightlyReport02": "translated",  # its Code node is a code step
            "wfScoreCode03": "delegate",
            "wfApprovalWait04": "translated",
            "wfGreetingMerge05": "translated",
            "wfTotalsParent06": "translated",
            "wfTotalsChild07": "translated",
            "wfResilient08": "translated",
            "wfScheduledDigest10": "translated",
            "wfLegacyNodes11": "translated",
            "wfProfileCombine12": "translated",
            "O9SLYg6Xvr4RVYUu": "translated",  # exported from n8n 1.123.81
        }
        assert {w["name"] for w in await api.workflows()} == {
            w["name"] for w in result["workflows"]
        }

    async def test_the_workflow_record_says_where_it_came_from_and_why(self, api: Api) -> None:
        api.n8n.add("score_code")
        synced = (await api.sync())["workflows"][0]
        workflow = await api.workflow(synced["workflow_id"])
        source = workflow["source"]
        assert source["kind"] == "n8n" and source["n8n_id"] == "wfScoreCode03"
        assert source["n8n_url"] == api.n8n.base_url
        assert source["mode"] == "delegate"
        assert source["reasons"] == [
            "Code 'Double points' reads $execution, which has no equal here"
        ]
        assert workflow["definition"]["steps"][0]["with"]["integration"] == source["integration"]

    async def test_the_n8n_instance_becomes_an_integration_without_exposing_the_key(
        self, api: Api
    ) -> None:
        api.n8n.add("score_code")
        result = await api.sync()
        (integration,) = await api.integrations()
        assert integration["id"] == result["integration_id"]
        assert integration["type"] == "n8n"
        assert integration["config"]["base_url"] == api.n8n.base_url
        assert integration["credential_fields"] == ["api_key"]
        await api.sync()
        assert len(await api.integrations()) == 1

    async def test_pages_are_followed_with_the_cursor(self, api: Api) -> None:
        for name in ALL_FIXTURES:
            api.n8n.add(name)
        api.n8n.page_cap = 3
        result = await api.sync()
        assert result["synced_count"] == len(ALL_FIXTURES)
        assert api.n8n.calls["list"] == 4  # 3 + 3 + 3 + 3

    async def test_execute_workflow_points_at_the_synced_child(self, api: Api) -> None:
        api.n8n.add("totals_parent")
        api.n8n.add("totals_child")
        synced = by_n8n_id(await api.sync())
        parent = await api.workflow(synced["wfTotalsParent06"]["workflow_id"])
        call = parent["definition"]["steps"][0]
        assert call["type"] == "workflow"
        assert call["with"]["workflow_id"] == synced["wfTotalsChild07"]["workflow_id"]

    async def test_only_the_named_workflows(self, api: Api) -> None:
        api.n8n.add("order_intake")
        api.n8n.add("score_code")
        result = await api.sync(workflow_ids=["wfScoreCode03", "missing1"])
        assert [w["n8n_id"] for w in result["workflows"]] == ["wfScoreCode03"]
        assert result["errors"] == [
            {"workflow_id": "missing1", "error": "n8n has no workflow missing1"}
        ]
        assert api.n8n.calls["list"] == 0


class TestRealExportShape:
    """n8n 1.1xx exports keep the editor's draft in `nodes` and what runs in `activeVersion`."""

    REAL = "order_intake_real_export"

    @staticmethod
    def edit_draft(raw: dict[str, Any], discount: int) -> None:
        """An edit saved in n8n's editor but not published: only `nodes` changes."""
        vip = next(n for n in raw["nodes"] if n["name"] == "VIP Discount")
        vip["parameters"]["assignments"]["assignments"][1]["value"] = discount

    async def test_an_active_workflow_is_translated_from_its_published_version(
        self, api: Api
    ) -> None:
        raw = api.n8n.add(self.REAL)
        assert raw["activeVersionId"] == raw["activeVersion"]["versionId"]
        self.edit_draft(raw, 99)
        synced = by_n8n_id(await api.sync())[raw["id"]]
        workflow = await api.workflow(synced["workflow_id"])
        steps = {s["id"]: s for s in workflow["definition"]["steps"]}
        assert steps["VIP_Discount"]["with"]["discount"] == 10

    async def test_an_inactive_workflow_is_translated_from_its_draft(self, api: Api) -> None:
        raw = api.n8n.add(self.REAL, active=False)
        self.edit_draft(raw, 99)
        synced = by_n8n_id(await api.sync())[raw["id"]]
        workflow = await api.workflow(synced["workflow_id"])
        steps = {s["id"]: s for s in workflow["definition"]["steps"]}
        assert steps["VIP_Discount"]["with"]["discount"] == 99


class TestSecondSync:
    async def test_nothing_changed_means_no_new_version_and_no_duplicate(self, api: Api) -> None:
        api.n8n.add("order_intake")
        first = (await api.sync())["workflows"][0]
        second = (await api.sync())["workflows"][0]
        assert second["action"] == "unchanged"
        assert second["workflow_id"] == first["workflow_id"]
        assert len(await api.workflows()) == 1
        assert (await api.workflow(first["workflow_id"]))["version"] == 1

    async def test_a_moved_node_is_no_new_version(self, api: Api) -> None:
        raw = api.n8n.add("order_intake")
        first = (await api.sync())["workflows"][0]
        raw["nodes"][0]["position"] = [500, 500]
        assert (await api.sync())["workflows"][0]["action"] == "unchanged"
        assert (await api.workflow(first["workflow_id"]))["version"] == 1

    async def test_a_change_in_n8n_adds_a_version(self, api: Api) -> None:
        raw = api.n8n.add("order_intake")
        first = (await api.sync())["workflows"][0]
        vip = next(n for n in raw["nodes"] if n["name"] == "VIP Discount")
        vip["parameters"]["assignments"]["assignments"][1]["value"] = 15
        second = (await api.sync())["workflows"][0]
        assert second["action"] == "updated"
        workflow = await api.workflow(first["workflow_id"])
        assert workflow["version"] == 2
        assert workflow["definition"]["steps"][2]["with"]["discount"] == 15
        versions = await api.client.get(
            f"/api/v1/workflows/{first['workflow_id']}/versions", headers=api.headers
        )
        assert [v["version"] for v in versions.json()] == [2, 1]

    async def test_a_workflow_deleted_in_n8n_is_archived_not_deleted(self, api: Api) -> None:
        api.n8n.add("order_intake")
        raw = api.n8n.add("score_code")
        synced = by_n8n_id(await api.sync())
        del api.n8n.workflows["wfScoreCode03"]
        result = await api.sync()
        assert by_n8n_id(result)["wfScoreCode03"]["action"] == "archived"
        assert result["synced_count"] == 1
        gone = await api.workflow(synced["wfScoreCode03"]["workflow_id"])
        assert gone["status"] == "archived" and gone["source"]["deleted_upstream"]
        api.n8n.workflows[raw["id"]] = raw
        back = by_n8n_id(await api.sync())["wfScoreCode03"]
        assert (
            back["action"] == "updated"
            and back["workflow_id"] == synced["wfScoreCode03"]["workflow_id"]
        )
        assert (await api.workflow(back["workflow_id"]))["status"] == "active"

    async def test_another_user_gets_their_own_copies(
        self, api: Api, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        api.n8n.add("score_code")
        mine = (await api.sync())["workflows"][0]
        other = Api(client, await make_user("developer"), api.n8n)
        theirs = (await other.sync())["workflows"][0]
        assert theirs["action"] == "created" and theirs["workflow_id"] != mine["workflow_id"]


class TestFailures:
    async def test_a_malformed_workflow_is_reported_and_the_others_sync(self, api: Api) -> None:
        api.n8n.add("score_code")
        api.n8n.workflows["broken1"] = {
            "id": "broken1",
            "name": "Broken",
            "nodes": [{"name": "A", "type": "x"}],
            "connections": {"A": {"main": [[{"node": "B", "type": "main", "index": 0}]]}},
        }
        result = await api.sync()
        assert result["synced_count"] == 1
        (error,) = result["errors"]
        assert error["workflow_id"] == "broken1"
        assert "no node is named 'B'" in error["error"]

    async def test_a_wrong_api_key_is_a_422_and_leaves_nothing(self, api: Api) -> None:
        api.n8n.add("order_intake")
        problem = await api.sync(expect=422, api_key="wrong")
        assert problem["errors"][0]["pointer"] == "/api_key"
        assert "refused the API key (401)" in problem["detail"]
        assert await api.workflows() == [] and await api.integrations() == []

    async def test_an_unreachable_n8n_is_a_502(self, api: Api, unused_port: int) -> None:
        problem = await api.sync(expect=502, n8n_url=f"http://127.0.0.1:{unused_port}")
        assert problem["type"].endswith("/upstream-unreachable")
        assert await api.integrations() == []

    async def test_a_url_that_is_not_n8n_is_a_502(self, api: Api) -> None:
        problem = await api.sync(expect=502, n8n_url=api.n8n.target)
        assert problem["type"].endswith("/upstream-not-n8n")
        assert "n8n" in problem["detail"]

    async def test_n8n_failing_half_way_leaves_nothing_half_synced(self, api: Api) -> None:
        for name in ALL_FIXTURES:
            api.n8n.add(name)
        api.n8n.failing_ids.add("wfResilient08")  # the last one fetched
        await api.sync(expect=502)
        assert await api.workflows() == [] and await api.integrations() == []

    async def test_bad_request_bodies_point_at_the_field(self, api: Api) -> None:
        response = await api.client.post(
            SYNC, json={"n8n_url": "not a url", "api_key": ""}, headers=api.headers
        )
        assert response.status_code == 422
        assert {e["pointer"] for e in response.json()["errors"]} == {"/n8n_url", "/api_key"}

    async def test_users_may_not_sync(
        self, client: httpx.AsyncClient, make_user: UserFactory, fake_n8n: FakeN8n
    ) -> None:
        api = Api(client, await make_user("user"), fake_n8n)
        await api.sync(expect=403)
