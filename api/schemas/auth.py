from __future__ import annotations

from api.schemas.common import PublicModel, RequestModel


class TokenPair(PublicModel):
    access_token: str
    token_type: str = "bearer"
    refresh_token: str
    expires_in: int


class RefreshRequest(RequestModel):
    refresh_token: str
