"""The ``triggers`` of a workflow: manual, schedule (a Temporal Schedule) or webhook."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter, model_validator

from api.schemas.common import RequestModel

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
    input_data: dict[str, object] | None = None

    @model_validator(mode="after")
    def _one_spec(self) -> ScheduleTrigger:
        if (self.cron is None) == (self.interval is None):
            raise ValueError("give exactly one of `cron` or `interval`")
        return self


class WebhookAuth(RequestModel):
    type: Literal["none", "header", "hmac"] = "none"
    header: str | None = None
    secret: str | None = None


class WebhookTrigger(RequestModel):
    type: Literal["webhook"]
    url_path: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-/.]{0,199}$")
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    event_type: str = "webhook"
    authentication: WebhookAuth = Field(default_factory=lambda: WebhookAuth(type="none"))


TriggerSpec = Annotated[
    ManualTrigger | ScheduleTrigger | WebhookTrigger, Field(discriminator="type")
]
triggers_adapter: TypeAdapter[list[TriggerSpec]] = TypeAdapter(list[TriggerSpec])
