"""Password hashing, JWTs and API-key material. No crypto is written here, only chosen."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from jose import JWTError, jwt
from passlib.context import CryptContext

from api.errors import AuthenticationFailed

JWT_ALGORITHM = "HS256"  # pinned: a token naming any other algorithm is refused
API_KEY_PREFIX = "hr_"

_passwords = CryptContext(schemes=["argon2"], deprecated="auto")
TokenKind = Literal["access", "refresh"]


def hash_password(password: str) -> str:
    return _passwords.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return _passwords.verify(password, password_hash)
    except ValueError:
        return False


@dataclass(frozen=True)
class TokenClaims:
    user_id: uuid.UUID
    kind: TokenKind


def create_token(user_id: uuid.UUID, kind: TokenKind, key: str, ttl: timedelta) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "typ": kind,
        "iat": now,
        "exp": now + ttl,
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, key, algorithm=JWT_ALGORITHM)


def decode_token(token: str, key: str, expected: TokenKind) -> TokenClaims:
    """Verify signature, expiry and kind; any failure is :class:`AuthenticationFailed`."""
    try:
        claims = jwt.decode(token, key, algorithms=[JWT_ALGORITHM])
        if claims.get("typ") != expected:
            raise AuthenticationFailed(detail=f"Expected an {expected} token")
        return TokenClaims(user_id=uuid.UUID(str(claims["sub"])), kind=expected)
    except (JWTError, KeyError, ValueError) as exc:
        raise AuthenticationFailed(detail="Invalid or expired token") from exc


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    # API keys carry 256 bits of entropy: a fast hash is enough and allows lookup by hash.
    return hashlib.sha256(key.encode()).hexdigest()


def same_secret(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())
