"""Logging in, tokens, API keys and roles."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import httpx
from jose import jwt

from tests.conftest import PASSWORD, SECRET_KEY, UserFactory


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


class TestLogin:
    async def test_password_login_returns_a_bearer_token_pair(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.post(
            "/api/v1/auth/token", data={"username": "admin@example.com", "password": PASSWORD}
        )
        assert response.status_code == 200
        body = response.json()
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == 15 * 60
        assert body["access_token"] and body["refresh_token"]

    async def test_wrong_password_is_401_problem(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/api/v1/auth/token", data={"username": "admin@example.com", "password": "nope"}
        )
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["title"] == "Unauthorized"

    async def test_me_describes_the_caller(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        response = await client.get("/api/v1/auth/me", headers=admin_headers)
        assert response.status_code == 200
        assert response.json()["email"] == "admin@example.com"
        assert response.json()["role"] == "admin"
        assert "password_hash" not in response.json()

    async def test_refresh_token_gives_a_new_pair_but_is_not_an_access_token(
        self, client: httpx.AsyncClient
    ) -> None:
        tokens = (
            await client.post(
                "/api/v1/auth/token", data={"username": "admin@example.com", "password": PASSWORD}
            )
        ).json()
        refreshed = await client.post(
            "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert refreshed.status_code == 200
        as_access = await client.get(
            "/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}
        )
        assert as_access.status_code == 401
        with_access = await client.post(
            "/api/v1/auth/refresh", json={"refresh_token": tokens["access_token"]}
        )
        assert with_access.status_code == 401


class TestTokenForgery:
    async def test_no_credentials_is_401(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/v1/workflows")
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"

    async def test_alg_none_token_is_refused(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        me = (await client.get("/api/v1/auth/me", headers=admin_headers)).json()
        token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64({'sub': me['id'], 'typ': 'access', 'exp': 9999999999})}."
        response = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401

    async def test_token_signed_with_another_key_is_refused(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        me = (await client.get("/api/v1/auth/me", headers=admin_headers)).json()
        forged = jwt.encode(
            {"sub": me["id"], "typ": "access"}, "another-key-" + "y" * 30, algorithm="HS256"
        )
        response = await client.get(
            "/api/v1/auth/me", headers={"Authorization": f"Bearer {forged}"}
        )
        assert response.status_code == 401

    async def test_expired_token_is_refused(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        me = (await client.get("/api/v1/auth/me", headers=admin_headers)).json()
        past = datetime.now(UTC) - timedelta(minutes=1)
        expired = jwt.encode(
            {"sub": me["id"], "typ": "access", "exp": past}, SECRET_KEY, algorithm="HS256"
        )
        response = await client.get(
            "/api/v1/auth/me", headers={"Authorization": f"Bearer {expired}"}
        )
        assert response.status_code == 401

    async def test_a_query_token_is_refused_outside_the_event_streams(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        # Only SSE/WebSocket routes take ?access_token= (tests/security/test_authorization.py).
        token = admin_headers["Authorization"].removeprefix("Bearer ")
        response = await client.get("/api/v1/auth/me", params={"access_token": token})
        assert response.status_code == 401


class TestUsers:
    async def test_admin_creates_users_and_they_can_log_in(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        headers = await make_user("developer")
        me = (await client.get("/api/v1/auth/me", headers=headers)).json()
        assert me["role"] == "developer"

    async def test_only_admins_manage_users(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        developer = await make_user("developer")
        response = await client.post(
            "/api/v1/users",
            json={"email": "x@example.com", "password": PASSWORD, "role": "admin"},
            headers=developer,
        )
        assert response.status_code == 403
        assert (await client.get("/api/v1/users", headers=developer)).status_code == 403

    async def test_duplicate_email_is_409(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        body = {"email": "ADMIN@example.com", "password": PASSWORD, "role": "user"}
        response = await client.post("/api/v1/users", json=body, headers=admin_headers)
        assert response.status_code == 409

    async def test_disabled_user_loses_access(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str], make_user: UserFactory
    ) -> None:
        headers = await make_user("user")
        me = (await client.get("/api/v1/auth/me", headers=headers)).json()
        patched = await client.patch(
            f"/api/v1/users/{me['id']}", json={"disabled": True}, headers=admin_headers
        )
        assert patched.status_code == 200 and patched.json()["disabled"] is True
        assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 401
        response = await client.post(
            "/api/v1/auth/token", data={"username": me["email"], "password": PASSWORD}
        )
        assert response.status_code == 401

    async def test_admin_lists_and_deletes_users(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str], make_user: UserFactory
    ) -> None:
        headers = await make_user("user")
        me = (await client.get("/api/v1/auth/me", headers=headers)).json()
        listed = (await client.get("/api/v1/users?limit=500", headers=admin_headers)).json()
        assert me["id"] in {u["id"] for u in listed["data"]}
        deleted = await client.delete(f"/api/v1/users/{me['id']}", headers=admin_headers)
        assert deleted.status_code == 204
        assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 401

    async def test_invalid_role_is_422_with_pointer(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        response = await client.post(
            "/api/v1/users",
            json={"email": "r@example.com", "password": PASSWORD, "role": "root"},
            headers=admin_headers,
        )
        assert response.status_code == 422
        assert [e["pointer"] for e in response.json()["errors"]] == ["/role"]


class TestApiKeys:
    async def test_key_is_shown_once_and_authenticates(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        headers = await make_user("developer")
        created = await client.post("/api/v1/api-keys", json={"name": "ci"}, headers=headers)
        assert created.status_code == 201
        key = created.json()["key"]
        assert key.startswith("hr_")
        listed = (await client.get("/api/v1/api-keys", headers=headers)).json()
        assert [k["name"] for k in listed] == ["ci"]
        assert "key" not in listed[0] and key not in json.dumps(listed)
        me = await client.get("/api/v1/auth/me", headers={"X-API-Key": key})
        assert me.status_code == 200

    async def test_wrong_key_is_401(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/v1/auth/me", headers={"X-API-Key": "hr_nope"})
        assert response.status_code == 401

    async def test_expired_key_is_401(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        headers = await make_user("developer")
        past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
        key = (
            await client.post(
                "/api/v1/api-keys", json={"name": "old", "expires_at": past}, headers=headers
            )
        ).json()["key"]
        response = await client.get("/api/v1/auth/me", headers={"X-API-Key": key})
        assert response.status_code == 401
        assert response.json()["detail"] == "API key expired"

    async def test_deleted_key_stops_working_and_others_cannot_delete_it(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        owner, stranger = await make_user("developer"), await make_user("developer")
        created = (await client.post("/api/v1/api-keys", json={"name": "k"}, headers=owner)).json()
        url = f"/api/v1/api-keys/{created['id']}"
        assert (await client.delete(url, headers=stranger)).status_code == 404
        assert (await client.delete(url, headers=owner)).status_code == 204
        response = await client.get("/api/v1/auth/me", headers={"X-API-Key": created["key"]})
        assert response.status_code == 401
