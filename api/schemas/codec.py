"""Temporal's codec-server protocol: ``temporal.api.common.v1.Payloads`` as proto3 JSON."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import RequestModel


class CodecPayload(BaseModel):
    """One payload: metadata values and data are base64."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    metadata: dict[str, str] = Field(default_factory=dict)
    data: str = ""
    external_payloads: list[dict[str, Any]] | None = Field(None, alias="externalPayloads")


class CodecPayloads(RequestModel):
    """The body of ``/encode`` and ``/decode`` and of their answers."""

    payloads: list[CodecPayload]
