"""The codec endpoint decodes any run's payloads: outside ``headrace dev`` it needs a token,
even from loopback (a reverse proxy or a step on the same host is loopback too)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.api.test_codec import DECODE, ENCODE, json_payload


class TestCodecOutsideDev:
    async def test_a_loopback_caller_without_a_token_is_refused(
        self, app: FastAPI, admin_headers: dict[str, str]
    ) -> None:
        body = {"payloads": [json_payload("x" * 10)]}
        loopback = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=loopback, base_url="http://127.0.0.1") as local:
            for path in (ENCODE, DECODE):
                assert (await local.post(path, json=body)).status_code == 401
            assert (await local.post(ENCODE, json=body, headers=admin_headers)).status_code == 200
