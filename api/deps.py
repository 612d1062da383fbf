"""FastAPI dependencies: the app context, a DB session, the current user and role checks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api.context import AppContext
from api.errors import AuthenticationFailed, PermissionDenied
from api.security import decode_token, hash_api_key
from api.services.auth import ensure_token_current
from db.models import User
from db.repositories.users import ApiKeyRepository, UserRepository

ROLES = ("admin", "developer", "user")

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False)


def get_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


ContextDep = Annotated[AppContext, Depends(get_context)]


async def get_session(ctx: ContextDep) -> AsyncIterator[AsyncSession]:
    # Services commit; whatever they leave uncommitted is rolled back on close.
    async with ctx.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def get_temporal(ctx: ContextDep) -> Client:
    return await ctx.temporal.client()


TemporalClientDep = Annotated[Client, Depends(get_temporal)]


async def get_current_user(
    ctx: ContextDep,
    session: SessionDep,
    bearer: Annotated[str | None, Depends(oauth2_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
    access_token: Annotated[
        str | None, Query(description="Bearer token for clients that cannot set headers (SSE)")
    ] = None,
) -> User:
    token = bearer or access_token
    if token:
        claims = decode_token(token, ctx.settings.signing_key, "access")
        user = await UserRepository(session).get(claims.user_id)
        if user is not None:
            await ensure_token_current(session, user, claims)
    elif api_key:
        user = await _user_for_api_key(session, api_key)
    else:
        raise AuthenticationFailed()
    if user is None or user.disabled:
        raise AuthenticationFailed(detail="Unknown or disabled user")
    return user


async def _user_for_api_key(session: AsyncSession, key: str) -> User | None:
    record = await ApiKeyRepository(session).by_hash(hash_api_key(key))
    if record is None:
        raise AuthenticationFailed(detail="Invalid API key")
    now = datetime.now(UTC)
    if record.expires_at is not None and record.expires_at <= now:
        raise AuthenticationFailed(detail="API key expired")
    record.last_used_at = now
    await session.commit()
    return record.user


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_role(*roles: str) -> Callable[[User], Coroutine[Any, Any, User]]:
    """A dependency that lets only ``roles`` through (403 for the others)."""

    async def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise PermissionDenied(detail=f"This needs one of the roles: {', '.join(roles)}")
        return user

    return check


AdminUser = Annotated[User, Depends(require_role("admin"))]
DeveloperUser = Annotated[User, Depends(require_role("admin", "developer"))]
