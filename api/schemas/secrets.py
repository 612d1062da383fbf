from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from api.schemas.common import PublicModel, RequestModel

# Names are identifiers, so ``{{ secrets.<name> }}`` reaches them as a plain attribute.
SECRET_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
MAX_SECRET_BYTES = 64 * 1024


class SecretCreate(RequestModel):
    name: str = Field(
        min_length=1,
        max_length=200,
        pattern=SECRET_NAME_PATTERN,
        description="Letters, digits and `_`, not starting with a digit; templates use "
        "`{{ secrets.<name> }}`.",
    )
    value: str = Field(
        min_length=1, max_length=MAX_SECRET_BYTES, description="Stored encrypted; never shown."
    )
    shared: bool = Field(
        False,
        description="Usable by every workflow's runs, not only its owner's. Only an admin may "
        "share a secret.",
    )


class SecretUpdate(RequestModel):
    value: str = Field(
        min_length=1, max_length=MAX_SECRET_BYTES, description="The new value (replaces it)."
    )


class SecretSharing(RequestModel):
    shared: bool = Field(description="Whether every workflow's runs may use it (admins only).")


class SecretPublic(PublicModel):
    """A secret as the API shows it: never its value."""

    name: str
    owner_id: uuid.UUID | None
    shared: bool
    created_at: datetime
    updated_at: datetime


class SecretList(PublicModel):
    data: list[SecretPublic]
    count: int
