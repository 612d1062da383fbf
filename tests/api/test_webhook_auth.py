"""Webhook authentication: every scheme, and every way a call can fail it (401, no run)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest
from starlette.datastructures import Headers

from api.errors import AuthenticationFailed
from api.services.webhook_auth import (
    AuthScheme,
    github_signature,
    headrace_signature,
    stripe_signature,
    verify,
    visible_headers,
)
from tests.api.test_webhooks import Hooks
from tests.conftest import UserFactory

SECRET = "whsec_" + "k" * 30
OTHER = "whsec_" + "z" * 30
BODY = json.dumps({"event": "ping"}).encode()


@pytest.fixture
async def hooks(client: httpx.AsyncClient, make_user: UserFactory) -> Hooks:
    return Hooks(client, await make_user("developer"))


def check(scheme: AuthScheme, headers: dict[str, str], body: bytes = BODY, now: float = 0) -> Any:
    return verify(scheme, [SECRET], Headers(headers), body, now or time.time())


class TestSchemes:
    def test_none_accepts_anything(self) -> None:
        assert check(AuthScheme("none"), {}).replay_key is None

    def test_header_compares_the_secret(self) -> None:
        scheme = AuthScheme("header", header="X-Token")
        check(scheme, {"x-token": SECRET})
        with pytest.raises(AuthenticationFailed, match="Missing X-Token"):
            check(scheme, {})
        with pytest.raises(AuthenticationFailed, match="Wrong X-Token"):
            check(scheme, {"x-token": OTHER})

    def test_hmac_over_the_raw_body(self) -> None:
        scheme = AuthScheme("hmac")
        check(scheme, {"x-headrace-signature": headrace_signature(SECRET, BODY)})
        with pytest.raises(AuthenticationFailed, match="Missing"):
            check(scheme, {})
        with pytest.raises(AuthenticationFailed, match="Wrong"):
            check(scheme, {"x-headrace-signature": headrace_signature(OTHER, BODY)})
        with pytest.raises(AuthenticationFailed, match="Wrong"):
            check(scheme, {"x-headrace-signature": headrace_signature(SECRET, BODY + b" ")})
        with pytest.raises(AuthenticationFailed, match="sha256="):
            check(scheme, {"x-headrace-signature": "md5=abc"})

    def test_hmac_with_a_timestamp_is_bounded_and_names_a_replay_key(self) -> None:
        scheme = AuthScheme("hmac", tolerance=60)
        now = int(time.time())
        fresh = {
            "x-headrace-timestamp": str(now),
            "x-headrace-signature": headrace_signature(SECRET, BODY, now),
        }
        assert check(scheme, fresh).replay_key
        stale = {
            "x-headrace-timestamp": str(now - 61),
            "x-headrace-signature": headrace_signature(SECRET, BODY, now - 61),
        }
        with pytest.raises(AuthenticationFailed, match="away from now"):
            check(scheme, stale)
        # The timestamp is signed: moving it forward breaks the signature.
        moved = {**stale, "x-headrace-timestamp": str(now)}
        with pytest.raises(AuthenticationFailed, match="Wrong"):
            check(scheme, moved)

    def test_a_required_timestamp_must_be_there(self) -> None:
        scheme = AuthScheme("hmac", require_timestamp=True)
        with pytest.raises(AuthenticationFailed, match="Missing X-Headrace-Timestamp"):
            check(scheme, {"x-headrace-signature": headrace_signature(SECRET, BODY)})

    def test_github_preset(self) -> None:
        scheme = AuthScheme("hmac", preset="github")
        verified = check(
            scheme,
            {"x-hub-signature-256": github_signature(SECRET, BODY), "x-github-delivery": "d-1"},
        )
        assert verified.delivery_id == "d-1"
        with pytest.raises(AuthenticationFailed, match="Missing X-Hub-Signature-256"):
            check(scheme, {"x-headrace-signature": headrace_signature(SECRET, BODY)})

    def test_stripe_preset(self) -> None:
        scheme = AuthScheme("hmac", preset="stripe", tolerance=300)
        now = int(time.time())
        assert check(scheme, {"stripe-signature": stripe_signature(SECRET, BODY, now)}).replay_key
        with pytest.raises(AuthenticationFailed, match="away from now"):
            check(scheme, {"stripe-signature": stripe_signature(SECRET, BODY, now - 301)})
        with pytest.raises(AuthenticationFailed, match="Wrong"):
            check(scheme, {"stripe-signature": stripe_signature(OTHER, BODY, now)})
        with pytest.raises(AuthenticationFailed, match="t=<timestamp>"):
            check(scheme, {"stripe-signature": "v1=abc"})

    def test_any_accepted_secret_passes(self) -> None:
        scheme = AuthScheme("hmac")
        headers = Headers({"x-headrace-signature": headrace_signature(OTHER, BODY)})
        verify(scheme, [SECRET, OTHER], headers, BODY, time.time())

    def test_visible_headers_drop_credentials(self) -> None:
        scheme = AuthScheme("header", header="X-Mine")
        headers = Headers(
            {"x-mine": "s", "stripe-signature": "t", "authorization": "a", "x-other": "kept"}
        )
        assert visible_headers(headers, scheme) == {"x-other": "kept"}


class TestOverHttp:
    """Each failure is a 401 problem and starts nothing."""

    async def nothing_started(self, hooks: Hooks, created: dict[str, Any]) -> None:
        assert await hooks.executions(created["workflow_id"]) == []

    async def test_header_auth(self, hooks: Hooks) -> None:
        created = await hooks.webhook(
            authentication={"type": "header", "header": "X-Shared", "secret": SECRET}
        )
        url = f"/hooks/{created['url_path']}"
        missing = await hooks.client.post(url, json={})
        wrong = await hooks.client.post(url, json={}, headers={"X-Shared": OTHER})
        assert (missing.status_code, wrong.status_code) == (401, 401)
        assert missing.headers["content-type"] == "application/problem+json"
        await self.nothing_started(hooks, created)
        right = await hooks.client.post(url, json={}, headers={"X-Shared": SECRET})
        assert right.status_code == 202

    async def test_hmac_auth_and_replay(self, hooks: Hooks) -> None:
        created = await hooks.webhook(authentication={"type": "hmac"})
        secret, url = created["secret"], f"/hooks/{created['url_path']}"
        missing = await hooks.client.post(url, content=BODY)
        wrong = await hooks.client.post(
            url, content=BODY, headers={"X-Headrace-Signature": headrace_signature(OTHER, BODY)}
        )
        old = int(time.time()) - 3600
        stale = await hooks.client.post(
            url,
            content=BODY,
            headers={
                "X-Headrace-Timestamp": str(old),
                "X-Headrace-Signature": headrace_signature(secret, BODY, old),
            },
        )
        assert [r.status_code for r in (missing, wrong, stale)] == [401, 401, 401]
        await self.nothing_started(hooks, created)
        now = int(time.time())
        signed = {
            "X-Headrace-Timestamp": str(now),
            "X-Headrace-Signature": headrace_signature(secret, BODY, now),
            "content-type": "application/json",
        }
        first = await hooks.client.post(url, content=BODY, headers=signed)
        replayed = await hooks.client.post(url, content=BODY, headers=signed)
        assert (first.status_code, replayed.status_code) == (202, 401)
        assert "already used" in replayed.json()["detail"]
        execution = await hooks.finished(first.json()["execution_id"])
        assert "x-headrace-signature" not in execution["output_data"]["headers"]
        assert len(await hooks.executions(created["workflow_id"])) == 1

    async def test_github_preset_dedupes_redeliveries(self, hooks: Hooks) -> None:
        created = await hooks.webhook(authentication={"type": "hmac", "preset": "github"})
        url = f"/hooks/{created['url_path']}"
        delivery = str(uuid.uuid4())
        headers = {
            "X-Hub-Signature-256": github_signature(created["secret"], BODY),
            "X-GitHub-Delivery": delivery,
            "content-type": "application/json",
        }
        first = await hooks.client.post(url, content=BODY, headers=headers)
        again = await hooks.client.post(url, content=BODY, headers=headers)
        assert (first.status_code, again.status_code) == (202, 202)
        assert again.json()["duplicate"] is True
        assert again.json()["execution_id"] == first.json()["execution_id"]
        forged = {**headers, "X-Hub-Signature-256": github_signature(OTHER, BODY)}
        assert (await hooks.client.post(url, content=BODY, headers=forged)).status_code == 401

    async def test_stripe_preset(self, hooks: Hooks) -> None:
        created = await hooks.webhook(
            authentication={"type": "hmac", "preset": "stripe", "tolerance": 60}
        )
        secret, url = created["secret"], f"/hooks/{created['url_path']}"
        now = int(time.time())
        stale = stripe_signature(secret, BODY, now - 120)
        wrong = stripe_signature(OTHER, BODY, now)
        for signature in (stale, wrong):
            response = await hooks.client.post(
                url, content=BODY, headers={"Stripe-Signature": signature}
            )
            assert response.status_code == 401
        await self.nothing_started(hooks, created)
        good = {"Stripe-Signature": stripe_signature(secret, BODY, now)}
        first = await hooks.client.post(url, content=BODY, headers=good)
        replayed = await hooks.client.post(url, content=BODY, headers=good)
        assert (first.status_code, replayed.status_code) == (202, 401)

    async def test_rotation_keeps_the_old_secret_for_the_grace_period(self, hooks: Hooks) -> None:
        created = await hooks.webhook(authentication={"type": "header"})
        url, old = f"/hooks/{created['url_path']}", created["secret"]
        rotated = await hooks.client.post(
            f"/api/v1/webhooks/{created['id']}/rotate-secret",
            json={"grace_period": "1h"},
            headers=hooks.headers,
        )
        assert rotated.status_code == 200, rotated.text
        new = rotated.json()["secret"]
        assert new and new != old
        assert rotated.json()["authentication"]["previous_secret_expires_at"]
        for secret in (old, new):
            response = await hooks.client.post(url, json={}, headers={"X-Headrace-Token": secret})
            assert response.status_code == 202
        await hooks.client.post(
            f"/api/v1/webhooks/{created['id']}/rotate-secret",
            json={"grace_period": "0s"},
            headers=hooks.headers,
        )
        response = await hooks.client.post(url, json={}, headers={"X-Headrace-Token": new})
        assert response.status_code == 401

    async def test_rotating_without_a_secret_is_409(self, hooks: Hooks) -> None:
        created = await hooks.webhook()
        response = await hooks.client.post(
            f"/api/v1/webhooks/{created['id']}/rotate-secret", json={}, headers=hooks.headers
        )
        assert response.status_code == 409
