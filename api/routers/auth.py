from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import ContextDep, CurrentUser, SessionDep
from api.schemas.auth import RefreshRequest, TokenPair
from api.schemas.common import Problem
from api.schemas.users import UserPublic
from api.services import auth
from api.services.auth import AuthDeps

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/token",
    response_model=TokenPair,
    responses={
        429: {"model": Problem, "description": "Too many failed logins for the account or address"}
    },
)
async def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
) -> TokenPair:
    """Log in with the OAuth2 password form (``username`` is the email).

    Failed logins are throttled per account and per client address: past the limit the
    answer is 429 with ``Retry-After``, whatever the password.
    """
    deps = AuthDeps(ctx.settings, ctx.passwords, ctx.limiter)
    address = request.client.host if request.client else "unknown"
    return await auth.login(session, deps, form.username, form.password, address)


@router.post("/refresh", response_model=TokenPair)
async def refresh(body: RefreshRequest, ctx: ContextDep, session: SessionDep) -> TokenPair:
    """Trade a refresh token for a new pair. Each refresh token is good once: presenting a
    used one again revokes every token of that login."""
    return await auth.refresh(session, ctx.settings, body.refresh_token)


@router.get("/me", response_model=UserPublic)
async def me(user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(user)
