"""HTTP connections: a stored base URL and auth scheme that ``http`` steps name.

A step says ``{"connection": "github", "path": "/repos/x/y"}``; :func:`apply_connection`
turns that into a full request (URL, headers, query, auth) so no secret sits in a
definition. Schemes: ``none``, ``bearer``, ``basic``, ``api_key`` (in a header or the
query) and ``oauth2_client_credentials``, whose tokens :class:`TokenCache` keeps until
shortly before they expire (and drops on demand, e.g. after a 401).

Errors::

    ConnectionProblem
    ├── ConnectionRefused       wrong setup or credentials (the token endpoint said 4xx)
    └── ConnectionUnavailable   the token endpoint is unreachable or failed (5xx): retry
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.encryption import Encryptor
from core.integrations import WorkflowIntegrations
from core.network_guard import BlockedAddressError
from temporal_workflows.durations import parse_duration

# A token this close to its expiry is renewed before use, so it cannot lapse in flight.
REFRESH_MARGIN_SECONDS: Final = 30.0
DEFAULT_TOKEN_LIFETIME_SECONDS: Final = 300.0


class ConnectionProblem(Exception):
    """A connection could not be applied; the message names no secret."""


class ConnectionRefused(ConnectionProblem):
    pass


class ConnectionUnavailable(ConnectionProblem):
    pass


@dataclass(frozen=True)
class ConnectionConfig:
    """A connection's settings and decrypted credentials (held only in memory)."""

    base_url: str
    auth_type: str = "none"
    name: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    token: str | None = None
    username: str | None = None
    password: str | None = None
    api_key: str | None = None
    api_key_in: str = "header"
    api_key_name: str = "X-API-Key"
    token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    scope: str | None = None
    audience: str | None = None
    # Shared by every run and worker process that uses the connection (core/connection_limits.py).
    integration_id: str = ""
    max_concurrency: int | None = None
    rate_limit_requests: int | None = None
    rate_limit_seconds: int | None = None

    @classmethod
    def from_stored(
        cls,
        config: Mapping[str, Any],
        credentials: Mapping[str, Any],
        name: str = "",
        integration_id: str = "",
    ) -> ConnectionConfig:
        """Build from an ``http`` integration's ``config`` and decrypted ``credentials``."""
        auth = config.get("auth") or {}
        rate = config.get("rate_limit") or {}
        return cls(
            integration_id=integration_id,
            max_concurrency=config.get("max_concurrency"),
            rate_limit_requests=rate.get("requests"),
            rate_limit_seconds=rate_window_seconds(rate["per"]) if rate.get("per") else None,
            base_url=str(config["base_url"]).rstrip("/"),
            auth_type=str(auth.get("type", "none")),
            name=name,
            headers=dict(config.get("headers") or {}),
            api_key_in=str(auth.get("api_key_in", "header")),
            api_key_name=str(auth.get("api_key_name", "X-API-Key")),
            token_url=auth.get("token_url"),
            scope=auth.get("scope"),
            audience=auth.get("audience"),
            **{k: credentials.get(k) for k in _CREDENTIAL_FIELDS},
        )

    def __repr__(self) -> str:  # never print credentials
        shown = f"name={self.name!r}, base_url={self.base_url!r}, auth={self.auth_type}"
        return f"ConnectionConfig({shown})"


_CREDENTIAL_FIELDS = ("token", "username", "password", "api_key", "client_id", "client_secret")


@dataclass
class _Token:
    value: str
    expires_at: float


class TokenCache:
    """OAuth2 client-credentials tokens by (token URL, client, scope, audience)."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._tokens: dict[tuple[str | None, ...], _Token] = {}
        self._locks: dict[tuple[str | None, ...], asyncio.Lock] = {}
        self._clock = clock
        self.fetches = 0  # how many tokens were requested (for tests and metrics)

    async def token(self, connection: ConnectionConfig, http: httpx.AsyncClient) -> str:
        """A valid access token: the cached one, or a new one (one request at a time)."""
        key = _cache_key(connection)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(key)
            if cached is not None and cached.expires_at - REFRESH_MARGIN_SECONDS > self._clock():
                return cached.value
            fresh = await self._fetch(connection, http)
            self._tokens[key] = fresh
            return fresh.value

    def invalidate(self, connection: ConnectionConfig) -> None:
        """Forget the token (the API refused it: the next request fetches a new one)."""
        self._tokens.pop(_cache_key(connection), None)

    async def _fetch(self, connection: ConnectionConfig, http: httpx.AsyncClient) -> _Token:
        if not (connection.token_url and connection.client_id and connection.client_secret):
            raise ConnectionRefused("oauth2 needs token_url, client_id and client_secret")
        form = {"grant_type": "client_credentials"}
        if connection.scope:
            form["scope"] = connection.scope
        if connection.audience:
            form["audience"] = connection.audience
        self.fetches += 1
        try:
            response = await http.post(
                connection.token_url,
                data=form,
                auth=httpx.BasicAuth(connection.client_id, connection.client_secret),
                headers={"Accept": "application/json"},
            )
        except (httpx.HTTPError, BlockedAddressError) as exc:
            where = _host(connection.token_url)
            raise ConnectionUnavailable(
                f"token endpoint {where} is unreachable ({type(exc).__name__})"
            ) from exc
        return self._parse(response, connection)

    def _parse(self, response: httpx.Response, connection: ConnectionConfig) -> _Token:
        where = _host(connection.token_url or "")
        if response.status_code >= 500:
            raise ConnectionUnavailable(
                f"token endpoint {where} failed with {response.status_code}"
            )
        if response.status_code != 200:
            raise ConnectionRefused(
                f"token endpoint {where} refused the client ({response.status_code})"
            )
        try:
            body = response.json()
        except ValueError as exc:
            raise ConnectionRefused(f"token endpoint {where} did not answer JSON") from exc
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise ConnectionRefused(f"token endpoint {where} gave no access_token")
        lifetime = body.get("expires_in", DEFAULT_TOKEN_LIFETIME_SECONDS)
        seconds = (
            float(lifetime)
            if isinstance(lifetime, int | float | str)
            and str(lifetime).replace(".", "", 1).isdigit()
            else DEFAULT_TOKEN_LIFETIME_SECONDS
        )
        return _Token(token, self._clock() + seconds)


def _cache_key(connection: ConnectionConfig) -> tuple[str | None, ...]:
    return (connection.token_url, connection.client_id, connection.scope, connection.audience)


def _host(url: str) -> str:
    return urlsplit(url).netloc or "?"


async def apply_connection(
    request: Mapping[str, Any],
    connection: ConnectionConfig,
    *,
    http: httpx.AsyncClient | None = None,
    tokens: TokenCache | None = None,
) -> dict[str, Any]:
    """Turn a step's ``connection`` + ``path`` request into a full one.

    Args:
        request: The http step request (``path``, ``headers``, ``query``, ``auth``...).
        connection: The named connection, credentials decrypted.
        http: Client for the OAuth2 token endpoint (needed for that scheme only).
        tokens: The OAuth2 token cache (needed for that scheme only).

    Returns:
        A copy with ``url`` set, ``connection`` and ``path`` removed, and the connection's
        headers (the step's win) and auth applied.

    Raises:
        ConnectionRefused: A path that leaves the base URL, auth given twice, credentials
            missing, or a token endpoint that refuses the client.
        ConnectionUnavailable: The token endpoint cannot be reached (worth a retry).
    """
    path = str(request.get("path") or "")
    if "://" in path or path.startswith("//") or "\\" in path:
        raise ConnectionRefused("a connection path must be relative to the connection's base URL")
    if request.get("auth") and connection.auth_type != "none":
        raise ConnectionRefused("the step gives auth, and its connection does too")
    result = {k: v for k, v in request.items() if k not in ("connection", "path")}
    base = connection.base_url.rstrip("/")
    result["url"] = base + ("/" + path.lstrip("/") if path else "")
    result["headers"] = {**connection.headers, **dict(request.get("headers") or {})}
    result["query"] = dict(request.get("query") or {})
    await _apply_auth(result, connection, http, tokens)
    return result


async def _apply_auth(
    result: dict[str, Any],
    connection: ConnectionConfig,
    http: httpx.AsyncClient | None,
    tokens: TokenCache | None,
) -> None:
    scheme = connection.auth_type
    if scheme == "none":
        return
    if scheme == "bearer":
        result["headers"]["Authorization"] = f"Bearer {_need(connection.token, 'token')}"
    elif scheme == "basic":
        result["auth"] = {
            "type": "basic",
            "username": _need(connection.username, "username"),
            "password": _need(connection.password, "password"),
        }
    elif scheme == "api_key":
        key = _need(connection.api_key, "api_key")
        target = result["query"] if connection.api_key_in == "query" else result["headers"]
        target[connection.api_key_name] = key
    elif scheme == "oauth2_client_credentials":
        if http is None or tokens is None:
            raise ConnectionRefused("oauth2 connections need an HTTP client and a token cache")
        result["headers"]["Authorization"] = f"Bearer {await tokens.token(connection, http)}"
    else:
        raise ConnectionRefused(f"unknown auth scheme {scheme!r}")


def _need(value: str | None, name: str) -> str:
    if not value:
        raise ConnectionRefused(f"the connection has no {name}")
    return value


class DbConnectionResolver:
    """Finds the ``http`` integration a step names, among its workflow owner's."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], encryptor: Encryptor) -> None:
        self._integrations = WorkflowIntegrations(sessions, encryptor)

    async def resolve(self, workflow_id: str, name: str) -> ConnectionConfig:
        """The connection ``name`` of the owner of Headrace workflow ``workflow_id``.

        Raises:
            ConnectionRefused: No ``http`` integration of that name.
        """
        found = await self._integrations.find(workflow_id, name, "http")
        if found is None:
            raise ConnectionRefused(f"no http connection named {name!r} for this workflow's owner")
        return ConnectionConfig.from_stored(
            found.config, found.credentials, name=name, integration_id=found.id
        )


def rate_window_seconds(per: str) -> int:
    """A rate limit's window (``"1s"``, ``"1m"``) in whole seconds, at least one.

    Raises:
        ValueError: Not a duration, shorter than a second, or not whole seconds.
    """
    seconds = parse_duration(per).total_seconds()
    if seconds < 1 or seconds != int(seconds):
        raise ValueError("per must be a whole number of seconds, at least 1s")
    return int(seconds)


@dataclass(frozen=True)
class AppliedConnection:
    """A step's request made whole, the credential values to hide, and the connection (whose
    limits the request must keep to)."""

    request: dict[str, Any]
    credentials: list[str]
    connection: ConnectionConfig


class ConnectionApplier:
    """What the ``http`` step uses: finds a named connection and applies it to a request,
    sharing one OAuth2 token cache across steps."""

    def __init__(self, resolver: DbConnectionResolver, http: httpx.AsyncClient) -> None:
        self._resolver = resolver
        self._http = http
        self._tokens = TokenCache()

    async def __call__(
        self, workflow_id: str, name: str, request: dict[str, Any]
    ) -> AppliedConnection:
        connection = await self._resolver.resolve(workflow_id, name)
        resolved = await apply_connection(request, connection, http=self._http, tokens=self._tokens)
        credentials = [v for v in (getattr(connection, f) for f in _CREDENTIAL_FIELDS) if v]
        return AppliedConnection(resolved, credentials, connection)
