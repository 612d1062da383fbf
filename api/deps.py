"""FastAPI dependencies: the app context, a DB session, the current user, roles and scopes.

Every ``/api/v1`` route (but the auth ones) takes its user through a scope check: ``Reader``,
``Writer``, ``Executor``, ``AdminUser`` (or the role-restricted variants). A logged-in user
has every scope of its role; a request with an ``X-API-Key`` has only the key's
(:func:`api.services.access.key_scopes`). ``tests/security`` walks the routes to prove that
each one declares its scope.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api.context import AppContext
from api.errors import AuthenticationFailed, PermissionDenied
from api.security import decode_token, hash_api_key
from api.services.auth import ensure_token_current
from core.access import key_scopes, role_scopes
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


async def refuse_query_token(
    access_token: Annotated[str | None, Query(include_in_schema=False)] = None,
) -> None:
    """A token in the URL leaks into logs and history: only the event streams take one."""
    if access_token is not None:
        raise AuthenticationFailed(
            detail="?access_token= is accepted only by the event streams; "
            "send the token in the Authorization header"
        )


async def get_current_user(
    ctx: ContextDep,
    session: SessionDep,
    bearer: Annotated[str | None, Depends(oauth2_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
    # Only the streams pass a query token (they call this directly); elsewhere it is a 401.
    access_token: Annotated[str | None, Depends(refuse_query_token)] = None,
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


async def enforce_scope(
    session: AsyncSession,
    user: User,
    scope: str,
    *,
    api_key: str | None,
    roles: tuple[str, ...] = (),
) -> User:
    """Let ``user`` through if its role is one of ``roles`` (when given) and the request holds
    ``scope``; 403 naming what is missing otherwise.

    Args:
        api_key: The key the request authenticated with, or ``None`` for a logged-in user.
    """
    if roles and user.role not in roles:
        raise PermissionDenied(detail=f"This needs one of the roles: {', '.join(roles)}")
    if api_key is None:
        granted = role_scopes(user.role)
    else:
        record = await ApiKeyRepository(session).by_hash(hash_api_key(api_key))
        granted = key_scopes(user, record.permissions if record else ())
    if scope not in granted:
        held = ", ".join(sorted(granted)) or "none"
        via = "This API key" if api_key is not None else "Your role"
        raise PermissionDenied(detail=f"{via} lacks the {scope!r} scope (it has: {held})")
    return user


class ScopedDependency:
    """A dependency that enforces ``required_scope`` (the marker the route test looks for)."""

    required_scope: str


class ScopeCheck(ScopedDependency):
    """The current user, if the request holds ``scope`` (and the role is one of ``roles``)."""

    def __init__(self, scope: str, roles: tuple[str, ...] = ()) -> None:
        self.required_scope = scope
        self.roles = roles

    async def __call__(
        self,
        user: CurrentUser,
        session: SessionDep,
        bearer: Annotated[str | None, Depends(oauth2_scheme)],
        api_key: Annotated[str | None, Depends(api_key_scheme)],
    ) -> User:
        # get_current_user prefers the bearer token when both are sent; so does this.
        used_key = None if bearer else api_key
        return await enforce_scope(
            session, user, self.required_scope, api_key=used_key, roles=self.roles
        )


class StreamReader(ScopedDependency):
    """The current user of an event stream, which may send its token as ``?access_token=``
    (an EventSource cannot set headers); needs ``read``."""

    required_scope = "read"

    async def __call__(
        self,
        ctx: ContextDep,
        session: SessionDep,
        bearer: Annotated[str | None, Depends(oauth2_scheme)],
        api_key: Annotated[str | None, Depends(api_key_scheme)],
        access_token: Annotated[
            str | None,
            Query(description="Bearer token for clients that cannot set headers (SSE)"),
        ] = None,
    ) -> User:
        user = await get_current_user(ctx, session, bearer, api_key, access_token)
        used_key = None if bearer or access_token else api_key
        return await enforce_scope(session, user, self.required_scope, api_key=used_key)


def require_scope(scope: str, *roles: str) -> ScopeCheck:
    """A dependency for routes that need ``scope`` (and, if given, one of ``roles``)."""
    return ScopeCheck(scope, roles)


Reader = Annotated[User, Depends(require_scope("read"))]
Writer = Annotated[User, Depends(require_scope("write"))]
Executor = Annotated[User, Depends(require_scope("execute"))]
AdminUser = Annotated[User, Depends(require_scope("admin", "admin"))]
DeveloperReader = Annotated[User, Depends(require_scope("read", "admin", "developer"))]
DeveloperWriter = Annotated[User, Depends(require_scope("write", "admin", "developer"))]
StreamUser = Annotated[User, Depends(StreamReader())]
