"""Users: creation, updates and the bootstrap admin. Logins and tokens: :mod:`api.services.auth`."""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import Conflict, not_found
from api.schemas.users import UserCreate, UserUpdate
from api.security import PasswordHasher
from api.services.auth import revoke_tokens
from db.models import User
from db.repositories.users import UserRepository


async def create_user(session: AsyncSession, data: UserCreate, passwords: PasswordHasher) -> User:
    repo = UserRepository(session)
    if await repo.by_email(data.email) is not None:
        raise Conflict(detail=f"A user with email {data.email} exists")
    user = await repo.add(
        User(
            email=data.email.lower(),
            name=data.name,
            role=data.role,
            password_hash=await passwords.hash(data.password),
        )
    )
    await session.commit()
    return user


async def update_user(
    session: AsyncSession, user_id: uuid.UUID, data: UserUpdate, passwords: PasswordHasher
) -> User:
    """Apply ``data``; a new password, another role or disabling revokes the user's tokens."""
    user = await UserRepository(session).get(user_id)
    if user is None:
        raise not_found("User", user_id)
    revoke = bool(data.password) or (data.role is not None and data.role != user.role)
    revoke = revoke or (data.disabled is True and not user.disabled)
    changes = data.model_dump(exclude_unset=True, exclude={"password"})
    for name, value in changes.items():
        if value is not None:
            setattr(user, name, value)
    if data.password:
        user.password_hash = await passwords.hash(data.password)
    if revoke:
        revoke_tokens(user)
    await session.commit()
    return user


async def delete_user(session: AsyncSession, user_id: uuid.UUID, acting: User) -> None:
    if user_id == acting.id:
        raise Conflict(detail="You cannot delete yourself")
    repo = UserRepository(session)
    user = await repo.get(user_id)
    if user is None:
        raise not_found("User", user_id)
    await repo.delete(user)
    await session.commit()


async def ensure_admin(
    session: AsyncSession, email: str, password: str, passwords: PasswordHasher
) -> User:
    """Create the configured admin, or reset its password and role (start-up bootstrap).

    API replicas starting together on a fresh database all try to create it: the ones whose
    insert loses the race update the row the winner created.
    """
    repo = UserRepository(session)
    user = await repo.by_email(email)
    if user is None:
        try:
            user = await repo.add(
                User(
                    email=email.lower(),
                    name="Admin",
                    role="admin",
                    password_hash=await passwords.hash(password),
                )
            )
            await session.commit()
            return user
        except IntegrityError:
            await session.rollback()
            user = await repo.by_email(email)
            if user is None:
                raise
    changed = user.role != "admin" or user.disabled
    if not await passwords.verify(password, user.password_hash):
        user.password_hash = await passwords.hash(password)
        changed = True
    if changed:
        revoke_tokens(user)
    user.role, user.disabled = "admin", False
    await session.commit()
    return user
