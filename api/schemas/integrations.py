"""Integrations: an ``n8n`` instance, or an ``http`` connection to a third-party API.

Configuration (base URL, auth scheme) is readable; credentials (API keys, passwords, client
secrets, tokens) are write-only: they are stored encrypted and never returned.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, SecretStr, model_validator

from api.schemas.common import PublicModel, RequestModel
from core.connections import rate_window_seconds

IntegrationType = Literal["n8n", "http", "llm"]
IntegrationName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")]


def _check_base_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("expected an http:// or https:// URL")
    if parts.username or parts.password:
        raise ValueError("put credentials in `credentials`, not in the URL")
    if parts.query or parts.fragment:
        raise ValueError("a base URL has no query or fragment")
    return value.rstrip("/")


BaseUrl = Annotated[str, AfterValidator(_check_base_url)]


class N8nWebhookAuth(RequestModel):
    """How n8n's Webhook node authenticates callers (its ``authentication`` setting)."""

    type: Literal["none", "header", "basic"] = "none"
    header: str | None = Field(None, description="Header name for `header` auth.")


class N8nConfig(RequestModel):
    base_url: BaseUrl = Field(description="The n8n instance, e.g. https://n8n.example.com")
    webhook_auth: N8nWebhookAuth = Field(default_factory=N8nWebhookAuth)


class N8nCredentials(RequestModel):
    api_key: SecretStr | None = Field(None, description="n8n API key (X-N8N-API-KEY).")
    webhook_secret: SecretStr | None = Field(
        None, description="The header value of `header` webhook auth."
    )
    webhook_username: str | None = None
    webhook_password: SecretStr | None = None


HttpAuthType = Literal["none", "bearer", "basic", "api_key", "oauth2_client_credentials"]


class HttpAuthConfig(RequestModel):
    type: HttpAuthType = "none"
    api_key_in: Literal["header", "query"] = Field("header", description="For `api_key`.")
    api_key_name: str = Field("X-API-Key", min_length=1, description="Header or parameter name.")
    token_url: BaseUrl | None = Field(None, description="OAuth2 token endpoint.")
    scope: str | None = None
    audience: str | None = None

    @model_validator(mode="after")
    def _token_url_for_oauth(self) -> HttpAuthConfig:
        if self.type == "oauth2_client_credentials" and self.token_url is None:
            raise ValueError("oauth2_client_credentials needs a token_url")
        return self


def _check_window(value: str) -> str:
    rate_window_seconds(value)  # a ValueError is the 422's message
    return value


class HttpRateLimit(RequestModel):
    """At most ``requests`` requests in any ``per`` window (a moving window), counted for
    every run and every worker process (in Redis when ``HEADRACE_REDIS_URL`` is set)."""

    requests: int = Field(ge=1, le=1_000_000)
    per: Annotated[str, AfterValidator(_check_window)] = Field(
        "1s", description='Whole seconds: "1s", "10s", "1m", "1h".'
    )


class HttpConfig(RequestModel):
    base_url: BaseUrl
    auth: HttpAuthConfig = Field(default_factory=HttpAuthConfig)
    headers: dict[str, str] = Field(default_factory=dict, description="Sent on every request.")
    max_concurrency: int | None = Field(
        None,
        ge=1,
        le=1000,
        description="Requests in flight through this connection at once, across every run "
        "and worker; more wait their turn in arrival order.",
    )
    rate_limit: HttpRateLimit | None = None


class HttpCredentials(RequestModel):
    token: SecretStr | None = Field(None, description="For `bearer`.")
    username: str | None = Field(None, description="For `basic`.")
    password: SecretStr | None = Field(None, description="For `basic`.")
    api_key: SecretStr | None = Field(None, description="For `api_key`.")
    client_id: str | None = Field(None, description="For OAuth2 client credentials.")
    client_secret: SecretStr | None = Field(None, description="For OAuth2 client credentials.")


class LlmConfig(RequestModel):
    """An OpenAI-compatible chat completions API (OpenAI, Ollama, vLLM, LiteLLM, ...)."""

    base_url: BaseUrl = Field(
        description="Where /chat/completions is, e.g. https://api.openai.com/v1 or "
        "http://ollama:11434/v1"
    )
    model: str | None = Field(
        None, min_length=1, max_length=200, description="The model of steps that name none."
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="Sent on every request (e.g. OpenAI-Organization)."
    )


class LlmCredentials(RequestModel):
    api_key: SecretStr | None = Field(
        None, description="Sent as `Authorization: Bearer`; local servers may need none."
    )


# Which credential fields each http auth scheme needs.
HTTP_REQUIRED_CREDENTIALS: dict[str, tuple[str, ...]] = {
    "none": (),
    "bearer": ("token",),
    "basic": ("username", "password"),
    "api_key": ("api_key",),
    "oauth2_client_credentials": ("client_id", "client_secret"),
}


class IntegrationCreate(RequestModel):
    type: IntegrationType
    name: IntegrationName
    config: dict[str, Any]
    credentials: dict[str, Any] = Field(default_factory=dict)


class IntegrationUpdate(RequestModel):
    name: IntegrationName | None = None
    config: dict[str, Any] | None = None
    credentials: dict[str, Any] | None = Field(
        None, description="Replaces the stored credentials as a whole."
    )


class IntegrationPublic(PublicModel):
    id: uuid.UUID
    type: str
    name: str
    config: dict[str, Any]
    has_credentials: bool
    credential_fields: list[str] = Field(description="Which credentials are set (not values).")
    owner_id: uuid.UUID
    created_at: datetime
    updated_at: datetime


class IntegrationTestResult(PublicModel):
    ok: bool
    detail: str
    status: int | None = None


class N8nSyncRequest(RequestModel):
    n8n_url: BaseUrl
    api_key: SecretStr = Field(min_length=1)
    workflow_ids: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        None, description="Only these n8n workflows; all when omitted.", max_length=1000
    )


class SyncError(PublicModel):
    workflow_id: str
    error: str


class SyncedWorkflow(PublicModel):
    n8n_id: str
    workflow_id: uuid.UUID
    name: str
    action: Literal["created", "updated", "unchanged", "archived"]
    mode: Literal["translated", "delegate"]
    reasons: list[str]
    notes: list[str]
    webhook_secrets: dict[str, str] = Field(
        default_factory=dict,
        description="url_path → the secret of a header-auth webhook created by this sync"
        " (shown once).",
    )


class N8nSyncResult(PublicModel):
    synced_count: int
    errors: list[SyncError]
    workflows: list[SyncedWorkflow]
    integration_id: uuid.UUID
