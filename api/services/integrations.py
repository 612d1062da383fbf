"""Integrations: store (credentials encrypted, never returned) and connection tests.

Errors raised here beyond :mod:`api.errors`: :class:`UpstreamFailed` (502), when the
service an integration points at is unreachable or does not speak the expected protocol.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import BaseModel, SecretStr, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import (
    Conflict,
    HeadraceError,
    InvalidInput,
    PermissionDenied,
    ProblemDetail,
    invalid,
    not_found,
)
from api.problems import json_pointer
from api.schemas.integrations import (
    HTTP_REQUIRED_CREDENTIALS,
    HttpConfig,
    HttpCredentials,
    IntegrationCreate,
    IntegrationPublic,
    IntegrationTestResult,
    IntegrationUpdate,
    LlmConfig,
    LlmCredentials,
    N8nConfig,
    N8nCredentials,
)
from core.access import is_admin
from core.connections import (
    ConnectionConfig,
    ConnectionProblem,
    ConnectionUnavailable,
    TokenCache,
    apply_connection,
)
from core.encryption import Encryptor
from core.integrations import (
    N8nClient,
    N8nError,
    N8nUnauthorized,
    N8nUnreachable,
    decrypt_credentials,
    encrypt_credentials,
    owned_integration,
)
from core.network_guard import BlockedAddressError
from db.models import Integration, User
from db.repositories.integrations import IntegrationRepository

_SCHEMAS: dict[str, tuple[type[BaseModel], type[BaseModel]]] = {
    "n8n": (N8nConfig, N8nCredentials),
    "http": (HttpConfig, HttpCredentials),
    "llm": (LlmConfig, LlmCredentials),
}


@dataclass
class UpstreamFailed(HeadraceError):
    """The integration's service is unreachable or does not answer as expected."""

    detail: str = "The upstream service failed"
    status: int = 502
    title: str = "Bad Gateway"
    type_slug: str = "upstream-failed"


def public(integration: Integration, encryptor: Encryptor) -> IntegrationPublic:
    """What callers see: config and which credential fields are set, never their values."""
    fields = (
        sorted(decrypt_credentials(integration, encryptor))
        if integration.credentials_encrypted
        else []
    )
    return IntegrationPublic(
        id=integration.id,
        type=integration.type,
        name=integration.name,
        config=integration.config,
        has_credentials=bool(fields),
        credential_fields=fields,
        owner_id=integration.owner_id,
        created_at=integration.created_at,
        updated_at=integration.updated_at,
    )


def _validated(
    kind: str, config: dict[str, Any], credentials: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check config and credentials against the type's models; 422 with pointers."""
    config_model, credentials_model = _SCHEMAS[kind]
    errors: list[ProblemDetail] = []
    parsed: list[dict[str, Any]] = []
    for where, model, raw in (
        ("config", config_model, config),
        ("credentials", credentials_model, credentials),
    ):
        try:
            value = model.model_validate(raw)
        except ValidationError as exc:
            errors.extend(
                ProblemDetail(f"/{where}" + json_pointer(list(e["loc"])), e["msg"], e["type"])
                for e in exc.errors()
            )
            continue
        parsed.append(_plain(value.model_dump(exclude_none=True)))
    if errors:
        raise InvalidInput(
            detail="; ".join(f"{e.pointer}: {e.detail}" for e in errors[:3]), errors=errors
        )
    config_out, credentials_out = parsed
    if kind == "http":
        _check_http_credentials(config_out, credentials_out)
    return config_out, credentials_out


def _plain(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _check_http_credentials(config: dict[str, Any], credentials: dict[str, Any]) -> None:
    scheme = config.get("auth", {}).get("type", "none")
    missing = [f for f in HTTP_REQUIRED_CREDENTIALS[scheme] if not credentials.get(f)]
    if missing:
        errors = [
            ProblemDetail(f"/credentials/{f}", f"{scheme} auth needs credentials.{f}", "missing")
            for f in missing
        ]
        raise InvalidInput(detail=errors[0].detail, errors=errors)


def _require_developer(user: User) -> None:
    if user.role not in ("admin", "developer"):
        raise PermissionDenied(detail="Only developers and admins manage integrations")


async def _check_name_free(
    session: AsyncSession, owner_id: uuid.UUID, name: str, keep: uuid.UUID | None = None
) -> None:
    existing = await IntegrationRepository(session).by_name(owner_id, name)
    if existing is not None and existing.id != keep:
        raise Conflict(detail=f"You already have an integration named {name!r}")


async def create_integration(
    session: AsyncSession, encryptor: Encryptor, user: User, data: IntegrationCreate
) -> Integration:
    _require_developer(user)
    config, credentials = _validated(data.type, data.config, data.credentials)
    await _check_name_free(session, user.id, data.name)
    integration = await IntegrationRepository(session).add(
        Integration(
            owner_id=user.id,
            type=data.type,
            name=data.name,
            config=config,
            credentials_encrypted=encrypt_credentials(credentials, encryptor)
            if credentials
            else None,
        )
    )
    await session.commit()
    return integration


async def visible_integration(
    session: AsyncSession, user: User, integration_id: uuid.UUID
) -> Integration:
    """The integration if it is the caller's (or the caller is an admin); 404 otherwise."""
    integration = await owned_integration(session, integration_id, _owner_scope(user))
    if integration is None:
        raise not_found("Integration", integration_id)
    return integration


async def list_integrations(session: AsyncSession, user: User) -> Sequence[Integration]:
    return await IntegrationRepository(session).list(_owner_scope(user))


def _owner_scope(user: User) -> uuid.UUID | None:
    """Whose integrations the caller sees: their own, or (an admin) everyone's."""
    return None if is_admin(user) else user.id


async def update_integration(
    session: AsyncSession,
    encryptor: Encryptor,
    user: User,
    integration_id: uuid.UUID,
    data: IntegrationUpdate,
) -> Integration:
    _require_developer(user)
    integration = await visible_integration(session, user, integration_id)
    credentials = (
        data.credentials
        if data.credentials is not None
        else decrypt_credentials(integration, encryptor)
    )
    config, credentials = _validated(
        integration.type,
        data.config if data.config is not None else integration.config,
        credentials,
    )
    if data.name is not None and data.name != integration.name:
        await _check_name_free(session, integration.owner_id, data.name, keep=integration.id)
        integration.name = data.name
    integration.config = config
    integration.credentials_encrypted = (
        encrypt_credentials(credentials, encryptor) if credentials else None
    )
    await session.commit()
    return integration


async def delete_integration(session: AsyncSession, user: User, integration_id: uuid.UUID) -> None:
    _require_developer(user)
    integration = await visible_integration(session, user, integration_id)
    await IntegrationRepository(session).delete(integration)
    await session.commit()


async def test_integration(
    session: AsyncSession,
    encryptor: Encryptor,
    http: httpx.AsyncClient,
    user: User,
    integration_id: uuid.UUID,
) -> IntegrationTestResult:
    """Call the integration's service once and say what is wrong, as a problem, if anything.

    Raises:
        InvalidInput: The credentials are refused (pointer ``/credentials/...``).
        UpstreamFailed: The service is unreachable or does not speak the expected API.
    """
    integration = await visible_integration(session, user, integration_id)
    credentials = decrypt_credentials(integration, encryptor)
    if integration.type == "n8n":
        return await _test_n8n(http, integration.config, credentials)
    if integration.type == "llm":
        return await _test_llm(http, integration.config, credentials)
    return await _test_http(http, integration.config, credentials)


async def _test_n8n(
    http: httpx.AsyncClient, config: dict[str, Any], credentials: dict[str, Any]
) -> IntegrationTestResult:
    if not credentials.get("api_key"):
        raise invalid(
            "/credentials/api_key", "an n8n integration needs an api_key to test", "missing"
        )
    client = N8nClient(http, config["base_url"], credentials["api_key"])
    try:
        count = await client.check()
    except N8nError as exc:
        raise n8n_problem(exc, "/credentials/api_key") from exc
    return IntegrationTestResult(
        ok=True, detail=f"n8n answered; the API key lists {count}+ workflow(s)", status=200
    )


def n8n_problem(exc: N8nError, key_pointer: str) -> HeadraceError:
    """The problem an n8n failure is for the caller: a bad key is their input, the rest 502."""
    if isinstance(exc, N8nUnauthorized):
        return invalid(key_pointer, str(exc), "n8n_unauthorized")
    if isinstance(exc, N8nUnreachable):
        return UpstreamFailed(detail=str(exc), type_slug="upstream-unreachable")
    return UpstreamFailed(detail=str(exc), type_slug="upstream-not-n8n")


async def _test_llm(
    http: httpx.AsyncClient, config: dict[str, Any], credentials: dict[str, Any]
) -> IntegrationTestResult:
    """``GET {base_url}/models``: what every OpenAI-compatible server answers cheaply."""
    url = f"{config['base_url']}/models"
    headers = {**(config.get("headers") or {}), "Accept": "application/json"}
    if credentials.get("api_key"):
        headers["Authorization"] = f"Bearer {credentials['api_key']}"
    try:
        response = await http.get(url, headers=headers)
    except (httpx.HTTPError, BlockedAddressError) as exc:
        raise UpstreamFailed(
            detail=f"{config['base_url']} is unreachable ({type(exc).__name__})",
            type_slug="upstream-unreachable",
        ) from exc
    if response.status_code in (401, 403):
        raise invalid(
            "/credentials/api_key",
            f"{config['base_url']} refused the API key ({response.status_code})",
            "unauthorized",
        )
    if response.status_code != 200:
        raise UpstreamFailed(
            detail=f"GET {url} answered {response.status_code}: is this an OpenAI-compatible "
            "API (the base URL usually ends in /v1)?"
        )
    try:
        models = [str(m.get("id")) for m in response.json().get("data", []) if isinstance(m, dict)]
    except (ValueError, AttributeError):
        models = []
    shown = ", ".join(models[:5]) + (", ..." if len(models) > 5 else "")
    return IntegrationTestResult(
        ok=True,
        detail=f"{config['base_url']} answered; models: {shown or 'none listed'}",
        status=200,
    )


async def _test_http(
    http: httpx.AsyncClient, config: dict[str, Any], credentials: dict[str, Any]
) -> IntegrationTestResult:
    connection = ConnectionConfig.from_stored(config, credentials)
    request = {"method": "GET", "path": "", "headers": {}, "query": {}}
    try:
        prepared = await apply_connection(request, connection, http=http, tokens=TokenCache())
        response = await http.request(
            "GET", prepared["url"], headers=prepared["headers"], params=prepared["query"]
        )
    except ConnectionUnavailable as exc:
        raise UpstreamFailed(detail=str(exc), type_slug="upstream-unreachable") from exc
    except ConnectionProblem as exc:
        raise invalid("/credentials", str(exc), "connection_refused") from exc
    except (httpx.HTTPError, BlockedAddressError) as exc:
        raise UpstreamFailed(
            detail=f"{config['base_url']} is unreachable ({type(exc).__name__})",
            type_slug="upstream-unreachable",
        ) from exc
    if response.status_code in (401, 403):
        raise invalid(
            "/credentials",
            f"{config['base_url']} refused the credentials ({response.status_code})",
            "unauthorized",
        )
    if response.status_code >= 500:
        raise UpstreamFailed(detail=f"{config['base_url']} failed with {response.status_code}")
    return IntegrationTestResult(
        ok=True,
        detail=f"{config['base_url']} answered {response.status_code}",
        status=response.status_code,
    )
