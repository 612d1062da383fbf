"""Logins, token pairs, refresh-token rotation and the checks that revoke older tokens.

- A login is throttled per account and per client address (:class:`LoginThrottle`, on the
  shared :mod:`api.rate_limit` backend, so replicas with Redis count together).
- Every JWT carries the user's ``token_version`` (``ver``) and its login's family (``fam``).
  A password, role or disabled change raises the version (:func:`revoke_tokens`), so older
  access and refresh tokens are refused (:func:`ensure_token_current`).
- Each refresh token is stored (``refresh_tokens``) and good once: a refresh returns a new
  pair, and presenting a used token again revokes its whole family (OAuth 2.0 Security BCP).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import AuthenticationFailed, RateLimited
from api.rate_limit import Limiter, retry_after_header
from api.schemas.auth import TokenPair
from api.schemas.storable import is_storable
from api.security import PasswordHasher, TokenClaims, create_token, decode_token
from core.settings import Settings
from db.base import utcnow
from db.models import RefreshToken, User
from db.repositories.users import RefreshTokenRepository, UserRepository

logger = logging.getLogger(__name__)

BAD_CREDENTIALS = "Incorrect email or password"


@dataclass(frozen=True)
class AuthDeps:
    settings: Settings
    passwords: PasswordHasher
    limiter: Limiter


@dataclass(frozen=True)
class LoginThrottle:
    """Failed logins counted per account and per client address in fixed windows.

    Every attempt is counted before its password is checked, so a burst of parallel guesses
    cannot all slip through before the first failure is recorded; a success then takes its
    count back (the address) or clears the account's count.
    """

    limiter: Limiter
    settings: Settings
    email: str
    address: str

    @property
    def _account(self) -> str:
        # Hashed: the shared Redis should not hold a list of the emails people tried.
        return "login:account:" + hashlib.sha256(self.email.lower().encode()).hexdigest()

    @property
    def _address(self) -> str:
        return f"login:address:{self.address}"

    async def admit(self) -> None:
        """Count this attempt; :class:`RateLimited` if the account or address failed too often."""
        window = self.settings.login_window_seconds
        waits = [
            await self.limiter.hit(self._account, self.settings.login_max_failures, window),
            await self.limiter.hit(self._address, self.settings.login_address_max_failures, window),
        ]
        blocked = [w for w in waits if w is not None]
        if blocked:
            raise RateLimited(
                detail="Too many failed logins; try again later",
                headers={"Retry-After": retry_after_header(max(blocked))},
            )

    async def succeeded(self) -> None:
        window = self.settings.login_window_seconds
        await self.limiter.reset(self._account, window)
        await self.limiter.undo(self._address, window)


async def login(
    session: AsyncSession, deps: AuthDeps, email: str, password: str, address: str
) -> TokenPair:
    throttle = LoginThrottle(deps.limiter, deps.settings, email, address)
    await throttle.admit()
    # An email no database can hold belongs to nobody (PostgreSQL refuses to compare it).
    user = await UserRepository(session).by_email(email) if is_storable(email) else None
    # End the read: the connection goes back to the pool while the hash waits its turn.
    await session.commit()
    # Unknown emails are checked against a dummy hash: the same answer after the same work.
    valid = await deps.passwords.verify(password, user.password_hash if user else None)
    if user is None or not valid or user.disabled:
        raise AuthenticationFailed(detail=BAD_CREDENTIALS)
    await throttle.succeeded()
    await RefreshTokenRepository(session).delete_expired(user.id, utcnow())
    pair = await _issue(session, user, deps.settings, family=uuid.uuid4())
    await session.commit()
    return pair


async def refresh(session: AsyncSession, settings: Settings, refresh_token: str) -> TokenPair:
    """Trade a refresh token for a new pair; the presented token is used up."""
    claims = decode_token(refresh_token, settings.signing_key, "refresh")
    tokens = RefreshTokenRepository(session)
    record = await tokens.get(_token_uuid(claims))
    if record is None or record.user_id != claims.user_id or record.revoked_at is not None:
        raise AuthenticationFailed(detail="Refresh token revoked or unknown")
    now = utcnow()
    if not await tokens.mark_used(record.id, now):
        # Used before: whoever holds it now (or held it then) is not the only one. End the
        # login's every session, the rightful client logs in again.
        await tokens.revoke_family(record.family_id, now)
        await session.commit()
        logger.warning(
            "refresh token reused; family %s of user %s revoked", record.family_id, record.user_id
        )
        raise AuthenticationFailed(detail="Refresh token already used; this login is revoked")
    user = await UserRepository(session).get(claims.user_id)
    if user is None or user.disabled or claims.version != user.token_version:
        raise AuthenticationFailed(detail="Unknown or disabled user, or a revoked token")
    pair = await _issue(session, user, settings, family=record.family_id)
    await session.commit()
    return pair


async def ensure_token_current(session: AsyncSession, user: User, claims: TokenClaims) -> None:
    """Refuse an access token issued before the user's last revocation or of a revoked login."""
    if claims.version != user.token_version or claims.family is None:
        raise AuthenticationFailed(detail="Token revoked")
    if await RefreshTokenRepository(session).family_revoked(claims.family):
        raise AuthenticationFailed(detail="Token revoked")


def revoke_tokens(user: User) -> None:
    """Make every access and refresh token issued to ``user`` so far invalid (caller commits)."""
    user.token_version += 1


async def _issue(
    session: AsyncSession, user: User, settings: Settings, *, family: uuid.UUID
) -> TokenPair:
    access_ttl = timedelta(minutes=settings.access_token_minutes)
    refresh_ttl = timedelta(days=settings.refresh_token_days)
    record = await RefreshTokenRepository(session).add(
        RefreshToken(
            id=uuid.uuid4(), user_id=user.id, family_id=family, expires_at=utcnow() + refresh_ttl
        )
    )
    key, version = settings.signing_key, user.token_version
    return TokenPair(
        access_token=create_token(
            user.id, "access", key, access_ttl, version=version, family=family
        ),
        refresh_token=create_token(
            user.id,
            "refresh",
            key,
            refresh_ttl,
            version=version,
            family=family,
            token_id=str(record.id),
        ),
        expires_in=int(access_ttl.total_seconds()),
    )


def _token_uuid(claims: TokenClaims) -> uuid.UUID:
    try:
        return uuid.UUID(claims.token_id)
    except ValueError as exc:
        raise AuthenticationFailed(detail="Refresh token revoked or unknown") from exc
