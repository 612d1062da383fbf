"""Users: creation, updates, the bootstrap admin and logins."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import AuthenticationFailed, Conflict, not_found
from api.schemas.auth import TokenPair
from api.schemas.storable import is_storable
from api.schemas.users import UserCreate, UserUpdate
from api.security import create_token, decode_token, hash_password, verify_password
from api.settings import Settings
from db.models import User
from db.repositories.users import UserRepository


async def create_user(session: AsyncSession, data: UserCreate) -> User:
    repo = UserRepository(session)
    if await repo.by_email(data.email) is not None:
        raise Conflict(detail=f"A user with email {data.email} exists")
    user = await repo.add(
        User(
            email=data.email.lower(),
            name=data.name,
            role=data.role,
            password_hash=hash_password(data.password),
        )
    )
    await session.commit()
    return user


async def update_user(session: AsyncSession, user_id: uuid.UUID, data: UserUpdate) -> User:
    user = await UserRepository(session).get(user_id)
    if user is None:
        raise not_found("User", user_id)
    changes = data.model_dump(exclude_unset=True, exclude={"password"})
    for name, value in changes.items():
        if value is not None:
            setattr(user, name, value)
    if data.password:
        user.password_hash = hash_password(data.password)
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


async def ensure_admin(session: AsyncSession, email: str, password: str) -> User:
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
                    password_hash=hash_password(password),
                )
            )
            await session.commit()
            return user
        except IntegrityError:
            await session.rollback()
            user = await repo.by_email(email)
            if user is None:
                raise
    if not verify_password(password, user.password_hash):
        user.password_hash = hash_password(password)
    user.role, user.disabled = "admin", False
    await session.commit()
    return user


def issue_tokens(user: User, settings: Settings) -> TokenPair:
    access_ttl = timedelta(minutes=settings.access_token_minutes)
    return TokenPair(
        access_token=create_token(user.id, "access", settings.signing_key, access_ttl),
        refresh_token=create_token(
            user.id, "refresh", settings.signing_key, timedelta(days=settings.refresh_token_days)
        ),
        expires_in=int(access_ttl.total_seconds()),
    )


async def login(session: AsyncSession, settings: Settings, email: str, password: str) -> TokenPair:
    # An email no database can hold belongs to nobody (PostgreSQL refuses to compare it).
    user = await UserRepository(session).by_email(email) if is_storable(email) else None
    # Verify even for unknown users so timing does not reveal which emails exist.
    valid = verify_password(password, user.password_hash if user else _DUMMY_HASH)
    if user is None or not valid or user.disabled:
        raise AuthenticationFailed(detail="Incorrect email or password")
    return issue_tokens(user, settings)


async def refresh(session: AsyncSession, settings: Settings, refresh_token: str) -> TokenPair:
    claims = decode_token(refresh_token, settings.signing_key, "refresh")
    user = await UserRepository(session).get(claims.user_id)
    if user is None or user.disabled:
        raise AuthenticationFailed(detail="Unknown or disabled user")
    return issue_tokens(user, settings)


_DUMMY_HASH = hash_password("not-a-real-password")
