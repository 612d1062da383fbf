"""Everything a running API holds, built once by the app factory's lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.encryption import Encryptor
from api.settings import Settings
from api.temporal_client import TemporalGateway


@dataclass
class AppContext:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    temporal: TemporalGateway
    encryptor: Encryptor
