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

    async def test_readyz_is_ready_when_database_and_temporal_answer(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/readyz")
        assert response.status_code == 200, response.text
        assert response.json()["checks"] == {"database": "ok", "temporal": "ok", "event_bus": "ok"}

    async def test_readyz_names_the_service_that_is_down(self, db_url: str, tmp_path: Path) -> None:
        app: FastAPI = create_app(make_settings(db_url, tmp_path, temporal_address="127.0.0.1:1"))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                response = await client.get("/readyz")
        assert response.status_code == 503
        checks = response.json()["checks"]
        assert checks["database"] == "ok"
        assert checks["temporal"].startswith("error")

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
