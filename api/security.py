"""Password hashing, JWTs and API-key material. No crypto is written here, only chosen."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import anyio
import anyio.to_thread
from jose import JWTError, jwt
from passlib.context import CryptContext

from api.errors import AuthenticationFailed, PermissionDenied

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


class PasswordHasher:
    """Argon2 in worker threads, at most ``concurrency`` hashes at a time.

    One hash takes about 64 MiB and 0.1 s of CPU. On the event loop it stalls every other
    request; in unbounded threads a flood of logins exhausts memory. Callers past the limit
    wait as coroutines, holding no thread.
    """

    def __init__(self, concurrency: int) -> None:
        self._slots = anyio.CapacityLimiter(concurrency)
        self._dummy_hash: str | None = None

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(hash_password, password, limiter=self._slots)

    async def verify(self, password: str, password_hash: str | None) -> bool:
        """Check ``password``; ``None`` (no such account) is checked against a dummy hash.

        The unknown account then costs a hash too, so timing does not tell which emails exist.
        """
        if password_hash is None:
            if self._dummy_hash is None:
                self._dummy_hash = await self.hash(secrets.token_urlsafe(16))
            await anyio.to_thread.run_sync(
                verify_password, password, self._dummy_hash, limiter=self._slots
            )
            return False
        return await anyio.to_thread.run_sync(
            verify_password, password, password_hash, limiter=self._slots
        )


@dataclass(frozen=True)
class TokenClaims:
    """What a verified JWT says; ``version``/``family`` are None in tokens issued without them."""

    user_id: uuid.UUID
    kind: TokenKind
    token_id: str
    version: int | None = None  # the user's token_version when it was issued
    family: uuid.UUID | None = None  # the login it descends from (refresh-token family)


def create_token(
    user_id: uuid.UUID,
    kind: TokenKind,
    key: str,
    ttl: timedelta,
    *,
    version: int,
    family: uuid.UUID,
    token_id: str | None = None,
) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "typ": kind,
        "iat": now,
        "exp": now + ttl,
        "jti": token_id or secrets.token_hex(8),
        "ver": version,
        "fam": str(family),
    }
    return jwt.encode(claims, key, algorithm=JWT_ALGORITHM)


def decode_token(token: str, key: str, expected: TokenKind) -> TokenClaims:
    """Verify signature, expiry and kind; any failure is :class:`AuthenticationFailed`."""
    try:
        claims = jwt.decode(token, key, algorithms=[JWT_ALGORITHM])
        if claims.get("typ") != expected:
            raise AuthenticationFailed(detail=f"Expected an {expected} token")
        version, family = claims.get("ver"), claims.get("fam")
        return TokenClaims(
            user_id=uuid.UUID(str(claims["sub"])),
            kind=expected,
            token_id=str(claims.get("jti", "")),
            version=version if isinstance(version, int) else None,
            family=uuid.UUID(str(family)) if family is not None else None,
        )
    except (JWTError, KeyError, ValueError) as exc:
        raise AuthenticationFailed(detail="Invalid or expired token") from exc


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    # API keys carry 256 bits of entropy: a fast hash is enough and allows lookup by hash.
    return hashlib.sha256(key.encode()).hexdigest()


def same_secret(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


# --- signed approval links -------------------------------------------------------------

APPROVAL_LINK_TYPE = "approval_link"


@dataclass(frozen=True)
class ApprovalLinkClaims:
    """What a verified approval link says: one decision on one step of one run, once."""

    execution_id: uuid.UUID
    step_id: str
    approved: bool
    by: str  # who the link was made for: recorded as the decision's ``by``
    token_id: str
    expires_at: datetime


def _approval_key(secret: str) -> str:
    # A key of its own, so an approval link is never valid as a login token and vice versa.
    return hmac.new(secret.encode(), b"headrace-approval-link", "sha256").hexdigest()


def create_approval_token(
    secret: str,
    *,
    execution_id: uuid.UUID,
    step_id: str,
    approved: bool,
    by: str,
    ttl: timedelta,
) -> tuple[str, datetime]:
    """A signed, expiring approve (or reject) token; its ``jti`` makes it usable once."""
    now = datetime.now(UTC)
    expires = now + ttl
    claims = {
        "typ": APPROVAL_LINK_TYPE,
        "exe": str(execution_id),
        "stp": step_id,
        "dec": "approve" if approved else "reject",
        "by": by,
        "iat": now,
        "exp": expires,
        "jti": secrets.token_hex(16),
    }
    return jwt.encode(claims, _approval_key(secret), algorithm=JWT_ALGORITHM), expires


def decode_approval_token(token: str, secret: str) -> ApprovalLinkClaims:
    """Verify an approval link's signature, expiry and kind.

    Raises:
        PermissionDenied: If the token is forged, altered, expired or not an approval link.
    """
    try:
        claims = jwt.decode(token, _approval_key(secret), algorithms=[JWT_ALGORITHM])
        if claims.get("typ") != APPROVAL_LINK_TYPE or claims.get("dec") not in (
            "approve",
            "reject",
        ):
            raise ValueError("not an approval link")
        return ApprovalLinkClaims(
            execution_id=uuid.UUID(str(claims["exe"])),
            step_id=str(claims["stp"]),
            approved=claims["dec"] == "approve",
            by=str(claims["by"]),
            token_id=str(claims["jti"]),
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        )
    except (JWTError, KeyError, ValueError, TypeError) as exc:
        raise PermissionDenied(detail="This approval link is invalid or has expired") from exc
