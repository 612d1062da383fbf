from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from api.deps import AdminUser, ContextDep, SessionDep
from api.schemas.common import Page, PageLimit, PageOffset
from api.schemas.users import UserCreate, UserPublic, UserUpdate
from api.services import users
from db.repositories.users import UserRepository

router = APIRouter(prefix="/users", tags=["users"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=UserPublic)
async def create_user(
    data: UserCreate, _: AdminUser, session: SessionDep, ctx: ContextDep
) -> UserPublic:
    return UserPublic.model_validate(await users.create_user(session, data, ctx.passwords))


@router.get("", response_model=Page[UserPublic])
async def list_users(
    _: AdminUser,
    session: SessionDep,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> Page[UserPublic]:
    rows, total = await UserRepository(session).page(limit=limit, offset=offset)
    data = [UserPublic.model_validate(u) for u in rows]
    return Page.of(data, count=total, limit=limit, offset=offset)


@router.patch("/{user_id}", response_model=UserPublic)
async def update_user(
    user_id: uuid.UUID, data: UserUpdate, _: AdminUser, session: SessionDep, ctx: ContextDep
) -> UserPublic:
    """Change a user; a new password, another role or disabling revokes its tokens."""
    user = await users.update_user(session, user_id, data, ctx.passwords)
    return UserPublic.model_validate(user)


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_user(user_id: uuid.UUID, admin: AdminUser, session: SessionDep) -> None:
    await users.delete_user(session, user_id, admin)
