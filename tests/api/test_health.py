from pathlib import Path

import httpx
from fastapi import FastAPI

from api.app import create_app
from tests.conftest import make_settings


class TestProbes:
    async def test_healthz_answers_while_the_process_is_up(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}

    async def test_readyz_is_ready_when_the_database_answers(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/readyz")
        assert response.status_code == 200, response.text
        assert response.json()["checks"] == {"database": "ok"}

    async def test_temporal_down_leaves_the_replica_ready_and_shows_in_full_health(
        self, db_url: str, tmp_path: Path
    ) -> None:
        """Readiness means "this process can serve": Temporal (shared by every replica)
        being away must not take every replica out; /healthz?full=1 and the
        headrace_dependency_up gauge name it instead."""
        settings = make_settings(db_url, tmp_path, temporal_address="127.0.0.1:1")
        app: FastAPI = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                ready = await client.get("/readyz")
                full = await client.get("/healthz", params={"full": "1"})
                metrics = (await client.get("/metrics")).text
        assert ready.status_code == 200, ready.text
        assert full.status_code == 200
        assert full.json()["status"] == "degraded"
        checks = full.json()["checks"]
        assert checks["database"] == "ok"
        assert checks["temporal"].startswith("error")
        assert 'headrace_dependency_up{dependency="temporal"} 0.0' in metrics
        assert 'headrace_dependency_up{dependency="database"} 1.0' in metrics

    async def test_readyz_is_503_without_a_database(self, tmp_path: Path) -> None:
        missing = f"sqlite+aiosqlite:///{tmp_path}/no/such/dir/headrace.db"
        app: FastAPI = create_app(make_settings(missing, tmp_path, admin_email=None))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"]["database"].startswith("error")

    async def test_metrics_count_requests_by_route_template(
        self, client: httpx.AsyncClient
    ) -> None:
        await client.get("/healthz")
        body = (await client.get("/metrics")).text
        assert 'headrace_http_requests_total{method="GET",route="/healthz",status="200"}' in body
        assert "headrace_http_request_duration_seconds_bucket" in body


class TestRouteLabels:
    async def test_a_routed_request_is_counted_under_its_full_template(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        missing = "00000000-0000-0000-0000-000000000000"
        await client.get(f"/api/v1/workflows/{missing}", headers=admin_headers)
        body = (await client.get("/metrics")).text
        assert (
            'headrace_http_requests_total{method="GET",route="/api/v1/workflows/{workflow_id}",'
            'status="404"}'
        ) in body
        assert missing not in body  # ids never become label values
