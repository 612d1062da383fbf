"""The ``triggers`` of a workflow: manual, schedule (a Temporal Schedule) or webhook."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, model_validator

from api.schemas.common import PublicModel, RequestModel
from api.schemas.storable import RUN_DATA

OverlapPolicy = Literal[
    "skip", "buffer_one", "buffer_all", "cancel_other", "terminate_other", "allow_all"
]


class ManualTrigger(RequestModel):
    type: Literal["manual"]


class ScheduleTrigger(RequestModel):
    type: Literal["schedule"]
    cron: str | None = None
    interval: str | None = None
    timezone: str | None = None
    overlap: OverlapPolicy = "skip"
    paused: bool = False
    jitter: str | None = None
    catchup_window: str | None = None
    start_at: str | None = None
    end_at: str | None = None
    input_data: Annotated[dict[str, object] | None, RUN_DATA] = None

    @model_validator(mode="after")
    def _one_spec(self) -> ScheduleTrigger:
        if (self.cron is None) == (self.interval is None):
            raise ValueError("give exactly one of `cron` or `interval`")
        return self


WebhookMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
URL_PATH_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_\-/.]{0,199}$"


class WebhookAuth(RequestModel):
    """How a webhook's caller proves itself (see docs/triggers.md)."""

    type: Literal["none", "header", "hmac"] = Field(
        description="`none` (anyone who knows the URL; must be said explicitly), `header` "
        "or `hmac`."
    )
    header: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9-]{1,100}$",
        description="`header`: the header carrying the shared secret (X-Headrace-Token).",
    )
    secret: str | None = Field(
        None, min_length=16, max_length=500, description="Generated (and shown once) if omitted."
    )
    preset: Literal["github", "stripe"] | None = Field(
        None,
        description="`hmac`: accept GitHub's X-Hub-Signature-256 or Stripe's Stripe-Signature.",
    )
    tolerance: int | None = Field(
        None,
        ge=1,
        le=86_400,
        description="`hmac`: seconds a signed timestamp stays valid "
        "(default HEADRACE_WEBHOOK_TIMESTAMP_TOLERANCE, 300).",
    )
    require_timestamp: bool = Field(
        False, description="`hmac`: refuse Headrace signatures without X-Headrace-Timestamp."
    )

    @model_validator(mode="after")
    def _fields_fit_type(self) -> WebhookAuth:
        if self.type != "header" and self.header is not None:
            raise ValueError("`header` applies only to `type: header`")
        if self.type != "hmac" and self.preset is not None:
            raise ValueError("`preset` applies only to `type: hmac`")
        if self.type == "none" and self.secret is not None:
            raise ValueError("`type: none` takes no `secret`")
        return self


class RateLimit(RequestModel):
    """At most ``requests`` accepted calls per ``per`` window (fixed windows)."""

    requests: int = Field(100, ge=1, le=1_000_000)
    per: str = Field("1s", description='A duration: "1s", "1m", "1h".')


class WebhookTrigger(RequestModel):
    type: Literal["webhook"]
    url_path: str | None = Field(None, pattern=URL_PATH_PATTERN)
    method: WebhookMethod = "POST"
    event_type: str = Field("webhook", min_length=1, max_length=200)
    authentication: WebhookAuth = Field(
        description='Required: `{"type": "none"}` must be chosen explicitly.'
    )
    rate_limit: RateLimit = Field(default_factory=RateLimit)
    is_active: bool = True


TriggerSpec = Annotated[
    ManualTrigger | ScheduleTrigger | WebhookTrigger, Field(discriminator="type")
]
triggers_adapter: TypeAdapter[list[TriggerSpec]] = TypeAdapter(list[TriggerSpec])


class TriggerPatch(RequestModel):
    """``PATCH /triggers/{id}``: the given fields replace the trigger's; the rest stay."""

    paused: bool | None = None
    cron: str | None = None
    interval: str | None = None
    timezone: str | None = None
    overlap: OverlapPolicy | None = None
    jitter: str | None = None
    catchup_window: str | None = None
    start_at: str | None = None
    end_at: str | None = None
    input_data: Annotated[dict[str, object] | None, RUN_DATA] = None
    url_path: str | None = Field(None, pattern=URL_PATH_PATTERN)
    method: WebhookMethod | None = None
    event_type: str | None = Field(None, min_length=1, max_length=200)
    authentication: WebhookAuth | None = None
    rate_limit: RateLimit | None = None
    is_active: bool | None = None


class BackfillRequest(RequestModel):
    """Run the schedule as if it had been running between ``start`` and ``end``."""

    start: datetime
    end: datetime
    overlap: OverlapPolicy = "allow_all"

    @model_validator(mode="after")
    def _ordered(self) -> BackfillRequest:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("`start` and `end` need a UTC offset (e.g. 2024-01-01T00:00:00Z)")
        if self.end <= self.start:
            raise ValueError("`end` must be after `start`")
        return self


class ScheduleAction(PublicModel):
    scheduled_at: datetime
    started_at: datetime
    execution_id: uuid.UUID | None


class ScheduleState(PublicModel):
    """What Temporal says of a schedule trigger's Temporal Schedule."""

    schedule_id: str
    paused: bool = Field(
        description="Paused in Temporal: by the user (the trigger's `paused`) or because the "
        "workflow is not active (see `note`)."
    )
    note: str | None = Field(None, description="Why the schedule is (un)paused.")
    next_action_times: list[datetime]
    recent_actions: list[ScheduleAction]
    running: int = 0


class TriggerPublic(PublicModel):
    id: uuid.UUID
    workflow_id: uuid.UUID
    type: str
    config: dict[str, Any]
    paused: bool
    schedule_id: str | None
    created_at: datetime
    updated_at: datetime
    schedule: ScheduleState | None = None
    webhook_id: uuid.UUID | None = None
    url: str | None = None
    secret: str | None = Field(None, description="A generated webhook secret, shown once.")


class TriggerActionAccepted(PublicModel):
    trigger_id: uuid.UUID
    status: str
