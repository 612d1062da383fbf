"""Artifacts of an execution: what ``storage`` steps stored."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from api.schemas.common import PublicModel


class ArtifactPublic(PublicModel):
    key: str = Field(description="The key the `storage` step used, relative to the execution.")
    size: int = Field(description="Bytes.")
    content_type: str
    last_modified: datetime | None = None
    url: str = Field(description="API download route (needs the usual credentials).")
    download_url: str | None = Field(
        None,
        description="A link that works without credentials until `expires_at` (an S3 "
        "presigned URL, or a signed API link for the local store); null if none can be made.",
    )
    expires_at: datetime | None = None


class ArtifactList(PublicModel):
    data: list[ArtifactPublic]
    count: int
