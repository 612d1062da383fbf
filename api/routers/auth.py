from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import ContextDep, CurrentUser, SessionDep
from api.schemas.auth import RefreshRequest, TokenPair
from api.schemas.users import UserPublic
from api.services import users

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/token", response_model=TokenPair)
async def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], ctx: ContextDep, session: SessionDep
) -> TokenPair:
    """Log in with the OAuth2 password form (``username`` is the email)."""
    return await users.login(session, ctx.settings, form.username, form.password)


@router.post("/refresh", response_model=TokenPair)
async def refresh(body: RefreshRequest, ctx: ContextDep, session: SessionDep) -> TokenPair:
    return await users.refresh(session, ctx.settings, body.refresh_token)


@router.get("/me", response_model=UserPublic)
async def me(user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(user)
