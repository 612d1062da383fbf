"""Login hardening: throttling, hashing off the event loop, token revocation, refresh rotation.

Each class is one exploit of issue 13 turned into the behaviour that closes it, driven
through the public API.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from api import security
from api.app import create_app
from api.rate_limit import MemoryLimiter, build_limiter
from core.settings import Settings
from tests.conftest import PASSWORD
from tests.services import redis_or_skip
from tests.support.ports import free_port

ACCOUNT_LIMIT = 3
ADDRESS_LIMIT = 5
WINDOW = 900.0
HASH_CONCURRENCY = 2
SMALL_LIMITS = {
    "password_hash_concurrency": HASH_CONCURRENCY,
    "login_max_failures": ACCOUNT_LIMIT,
    "login_address_max_failures": ADDRESS_LIMIT,
    "login_window_seconds": WINDOW,
}
ADMIN_ADDRESS = "192.0.2.1"


class Clock:
    """Wall-clock seconds the tests move forward instead of sleeping through a window."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
async def login_app(
    settings: Settings, temporal_env: WorkflowEnvironment, clock: Clock
) -> AsyncIterator[FastAPI]:
    """An app of its own with small login limits and a clock the tests control."""
    app = create_app(settings.model_copy(update=SMALL_LIMITS), temporal_client=temporal_env.client)
    async with app.router.lifespan_context(app):
        app.state.ctx.limiter = MemoryLimiter(clock=clock)
        yield app


def client_at(app: FastAPI, address: str) -> httpx.AsyncClient:
    """A client whose requests come from ``address`` (the throttle's per-address key)."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def new_address() -> str:
    return "10." + ".".join(str(secrets.randbelow(256)) for _ in range(3))


def new_email(tag: str = "user") -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.com"


async def attempt(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/token", data={"username": email, "password": password})


async def tokens_for(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> Any:
    response = await attempt(client, email, password)
    assert response.status_code == 200, response.text
    return response.json()


def bearer(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def create_user(app: FastAPI, role: str = "user") -> dict[str, str]:
    """A fresh user created by the admin (from the admin's own address); its ``id``/``email``."""
    async with client_at(app, ADMIN_ADDRESS) as admin:
        headers = bearer(await tokens_for(admin, "admin@example.com"))
        email = new_email(role)
        response = await admin.post(
            "/api/v1/users",
            json={"email": email, "password": PASSWORD, "role": role},
            headers=headers,
        )
        assert response.status_code == 201, response.text
        return {"id": response.json()["id"], "email": email}


def assert_throttled(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 429
    assert 1 <= int(response.headers["retry-after"]) <= WINDOW


class TestLoginThrottle:
    """Repeated failures answer 429 with Retry-After, per account and per address."""

    async def test_repeated_bad_passwords_for_one_account_are_throttled(
        self, login_app: FastAPI
    ) -> None:
        """After N failures even the right password waits: guessing gets no answer."""
        user = await create_user(login_app)
        # Each guess from another address: the account's own counter is what stops them.
        for _ in range(ACCOUNT_LIMIT):
            async with client_at(login_app, new_address()) as client:
                assert (await attempt(client, user["email"], "wrong-guess")).status_code == 401
        async with client_at(login_app, new_address()) as client:
            assert_throttled(await attempt(client, user["email"], "wrong-guess"))
            assert_throttled(await attempt(client, user["email"], PASSWORD))

    async def test_one_address_is_throttled_across_accounts(self, login_app: FastAPI) -> None:
        """Spraying one password over many accounts from one address is stopped too."""
        async with client_at(login_app, new_address()) as client:
            for _ in range(ADDRESS_LIMIT):
                assert (await attempt(client, new_email(), "Winter2026!")).status_code == 401
            assert_throttled(await attempt(client, new_email(), "Winter2026!"))

    async def test_unknown_accounts_are_answered_like_known_ones(self, login_app: FastAPI) -> None:
        """The same 401 and the same 429 whether or not the email has an account."""
        user = await create_user(login_app)
        answers = []
        for email in (user["email"], new_email("nobody")):
            async with client_at(login_app, new_address()) as client:
                first = await attempt(client, email, "wrong-guess")
                for _ in range(ACCOUNT_LIMIT - 1):
                    await attempt(client, email, "wrong-guess")
                answers.append((first.status_code, first.json(), await attempt(client, email, "x")))
        (known_status, known_body, known_last), (unknown_status, unknown_body, unknown_last) = (
            answers
        )
        assert known_status == unknown_status == 401
        assert known_body == unknown_body
        assert known_last.status_code == unknown_last.status_code == 429
        assert known_last.json()["detail"] == unknown_last.json()["detail"]

    async def test_a_successful_login_resets_the_account_counter(self, login_app: FastAPI) -> None:
        user = await create_user(login_app)
        for _ in range(2):
            for _ in range(ACCOUNT_LIMIT - 1):
                async with client_at(login_app, new_address()) as client:
                    assert (await attempt(client, user["email"], "typo")).status_code == 401
            async with client_at(login_app, new_address()) as client:
                await tokens_for(client, user["email"])

    async def test_login_works_again_after_the_window(
        self, login_app: FastAPI, clock: Clock
    ) -> None:
        user = await create_user(login_app)
        async with client_at(login_app, new_address()) as client:
            for _ in range(ACCOUNT_LIMIT):
                await attempt(client, user["email"], "wrong-guess")
            throttled = await attempt(client, user["email"], PASSWORD)
            assert_throttled(throttled)
            clock.now += int(throttled.headers["retry-after"])
            await tokens_for(client, user["email"])

    async def test_replicas_share_the_throttle_through_redis(
        self, settings: Settings, temporal_env: WorkflowEnvironment
    ) -> None:
        """With HEADRACE_REDIS_URL, failures counted by one API replica block at another."""
        replica_settings = settings.model_copy(
            update={**SMALL_LIMITS, "redis_url": redis_or_skip()}
        )
        one = create_app(replica_settings, temporal_client=temporal_env.client)
        two = create_app(replica_settings, temporal_client=temporal_env.client)
        async with one.router.lifespan_context(one), two.router.lifespan_context(two):
            user = await create_user(one)
            async with client_at(one, new_address()) as client:
                for _ in range(ACCOUNT_LIMIT):
                    assert (await attempt(client, user["email"], "wrong")).status_code == 401
            async with client_at(two, new_address()) as client:
                assert_throttled(await attempt(client, user["email"], PASSWORD))


class HashGate:
    """Holds every password verification at a gate until the test opens it.

    The real argon2 verification still runs once the gate opens. A safety valve opens it after
    a while, so code that verifies on the event loop (which the gate then blocks) ends the test
    with a failed assertion instead of a hang.
    """

    def __init__(self, verify: Any) -> None:
        self._verify = verify
        self._lock = threading.Lock()
        self.opened = threading.Event()
        self.waiting = 0
        self.most_waiting = 0
        self._valve = threading.Timer(20, self.opened.set)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self.waiting += 1
            self.most_waiting = max(self.most_waiting, self.waiting)
        self.opened.wait()
        with self._lock:
            self.waiting -= 1
        return self._verify(*args, **kwargs)

    def __enter__(self) -> HashGate:
        self._valve.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.opened.set()
        self._valve.cancel()


class TestHashingOffTheEventLoop:
    """Argon2 runs in worker threads, a few at a time; the event loop keeps answering."""

    async def test_healthz_answers_while_a_login_flood_is_hashed(
        self, login_app: FastAPI, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        flood = 24
        gate = HashGate(security._passwords.verify)
        monkeypatch.setattr(security._passwords, "verify", gate)
        async with AsyncExitStack() as clients:
            # Each from its own address and account: no throttle stops the flood early.
            flooders = [
                await clients.enter_async_context(client_at(login_app, new_address()))
                for _ in range(flood)
            ]
            with gate:
                logins = [
                    asyncio.create_task(attempt(c, new_email("flood"), "wrong-guess"))
                    for c in flooders
                ]
                while gate.waiting < HASH_CONCURRENCY:  # the flood has reached the hasher
                    await asyncio.sleep(0.01)
                async with client_at(login_app, new_address()) as client:
                    health = await client.get("/healthz")
                answered_while_hashing = not gate.opened.is_set()
                gate.opened.set()
                answers = await asyncio.gather(*logins)
        assert health.status_code == 200
        assert answered_while_hashing, "healthz waited for the password hashing"
        assert gate.most_waiting == HASH_CONCURRENCY
        assert {a.status_code for a in answers} == {401}


class TestTokenRevocation:
    """Access and refresh tokens issued before a change to the account stop working."""

    async def _user_with_tokens(self, app: FastAPI, role: str = "user") -> tuple[str, Any]:
        user = await create_user(app, role)
        async with client_at(app, new_address()) as client:
            return user["id"], await tokens_for(client, user["email"])

    async def _admin_patch(self, app: FastAPI, user_id: str, change: dict[str, Any]) -> None:
        async with client_at(app, ADMIN_ADDRESS) as admin:
            headers = bearer(await tokens_for(admin, "admin@example.com"))
            response = await admin.patch(f"/api/v1/users/{user_id}", json=change, headers=headers)
            assert response.status_code == 200, response.text

    async def _me(self, app: FastAPI, tokens: dict[str, str]) -> int:
        async with client_at(app, new_address()) as client:
            return (await client.get("/api/v1/auth/me", headers=bearer(tokens))).status_code

    async def _refresh(self, app: FastAPI, refresh_token: str) -> httpx.Response:
        async with client_at(app, new_address()) as client:
            return await client.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})

    async def test_password_change_revokes_earlier_tokens(self, app: FastAPI) -> None:
        user_id, tokens = await self._user_with_tokens(app)
        await self._admin_patch(app, user_id, {"password": "a new password 2026"})
        assert await self._me(app, tokens) == 401
        assert (await self._refresh(app, tokens["refresh_token"])).status_code == 401

    async def test_disabling_revokes_tokens_even_once_re_enabled(self, app: FastAPI) -> None:
        user_id, tokens = await self._user_with_tokens(app)
        await self._admin_patch(app, user_id, {"disabled": True})
        await self._admin_patch(app, user_id, {"disabled": False})
        assert await self._me(app, tokens) == 401
        assert (await self._refresh(app, tokens["refresh_token"])).status_code == 401

    async def test_role_change_revokes_earlier_tokens(self, app: FastAPI) -> None:
        user_id, tokens = await self._user_with_tokens(app, "developer")
        await self._admin_patch(app, user_id, {"role": "user"})
        assert await self._me(app, tokens) == 401
        assert (await self._refresh(app, tokens["refresh_token"])).status_code == 401

    async def test_a_new_login_after_the_change_works(self, app: FastAPI) -> None:
        user = await create_user(app)
        await self._admin_patch(app, user["id"], {"role": "developer"})
        async with client_at(app, new_address()) as client:
            tokens = await tokens_for(client, user["email"])
        assert await self._me(app, tokens) == 200

    async def test_deleting_a_user_revokes_its_tokens(self, app: FastAPI) -> None:
        user_id, tokens = await self._user_with_tokens(app)
        async with client_at(app, ADMIN_ADDRESS) as admin:
            headers = bearer(await tokens_for(admin, "admin@example.com"))
            assert (
                await admin.delete(f"/api/v1/users/{user_id}", headers=headers)
            ).status_code == 204
        assert await self._me(app, tokens) == 401
        assert (await self._refresh(app, tokens["refresh_token"])).status_code == 401

    async def test_api_keys_of_a_disabled_user_stop_working(self, app: FastAPI) -> None:
        user_id, tokens = await self._user_with_tokens(app, "developer")
        async with client_at(app, new_address()) as client:
            created = await client.post(
                "/api/v1/api-keys", json={"name": "ci"}, headers=bearer(tokens)
            )
            assert created.status_code == 201, created.text
            key = {"X-API-Key": created.json()["key"]}
            assert (await client.get("/api/v1/auth/me", headers=key)).status_code == 200
            await self._admin_patch(app, user_id, {"disabled": True})
            assert (await client.get("/api/v1/auth/me", headers=key)).status_code == 401


class TestRefreshRotation:
    """Each refresh token is good once; replaying a used one ends that login's sessions."""

    async def _login(self, app: FastAPI) -> tuple[dict[str, str], Any]:
        user = await create_user(app)
        async with client_at(app, new_address()) as client:
            return user, await tokens_for(client, user["email"])

    async def _refresh(self, app: FastAPI, refresh_token: str) -> httpx.Response:
        async with client_at(app, new_address()) as client:
            return await client.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})

    async def _me(self, app: FastAPI, tokens: dict[str, str]) -> int:
        async with client_at(app, new_address()) as client:
            return (await client.get("/api/v1/auth/me", headers=bearer(tokens))).status_code

    async def test_refresh_returns_a_new_refresh_token_and_refuses_the_old(
        self, app: FastAPI
    ) -> None:
        _, first = await self._login(app)
        rotated = await self._refresh(app, first["refresh_token"])
        assert rotated.status_code == 200, rotated.text
        second = rotated.json()
        assert second["refresh_token"] != first["refresh_token"]
        assert await self._me(app, second) == 200
        replay = await self._refresh(app, first["refresh_token"])
        assert replay.status_code == 401
        assert replay.headers["content-type"] == "application/problem+json"

    async def test_reusing_a_used_refresh_token_revokes_the_whole_family(
        self, app: FastAPI
    ) -> None:
        """A replayed token means it was stolen: the newer tokens of that login die with it."""
        _, first = await self._login(app)
        second = (await self._refresh(app, first["refresh_token"])).json()
        assert (await self._refresh(app, first["refresh_token"])).status_code == 401
        assert (await self._refresh(app, second["refresh_token"])).status_code == 401
        assert await self._me(app, second) == 401

    async def test_other_logins_of_the_user_survive_a_revoked_family(self, app: FastAPI) -> None:
        user, stolen = await self._login(app)
        async with client_at(app, new_address()) as client:
            other = await tokens_for(client, user["email"])
        await self._refresh(app, stolen["refresh_token"])
        await self._refresh(app, stolen["refresh_token"])  # the replay
        assert await self._me(app, other) == 200
        assert (await self._refresh(app, other["refresh_token"])).status_code == 200


class TestThrottleStoreOutage:
    """Without its Redis the throttle still counts, in-process: logins are neither refused
    with a 500/503 nor let through uncounted."""

    async def test_an_unreachable_redis_falls_back_to_counting_in_process(self) -> None:
        limiter = build_limiter(f"redis://127.0.0.1:{free_port()}/0", timeout=0.2)
        answers = [await limiter.hit("login:account:x", 3, 900) for _ in range(4)]
        assert answers[:3] == [None, None, None] and answers[3] is not None
        await limiter.undo("login:account:x", 900)
        assert await limiter.hit("login:account:x", 3, 900) is not None  # 4 - 1 + 1 > 3
        await limiter.reset("login:account:x", 900)
        assert await limiter.hit("login:account:x", 3, 900) is None
