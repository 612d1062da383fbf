"""Everything a running API holds, built once by the app factory's lifespan."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.rate_limit import Limiter
from api.security import PasswordHasher
from api.temporal_client import TemporalGateway
from core.encryption import Encryptor
from core.events import EventBus, InProcessEventBus, StreamOptions
from core.settings import Settings
from core.storage import ObjectStore


@dataclass
class AppContext:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    temporal: TemporalGateway
    encryptor: Encryptor
    store: ObjectStore  # artifacts and large payloads (local disk or S3)
    passwords: PasswordHasher  # argon2 off the event loop, a bounded number at a time
    limiter: Limiter  # login throttle windows (Redis with HEADRACE_REDIS_URL)
    # Live events; the default has no publisher in this process, so its readers poll.
    bus: EventBus = field(default_factory=lambda: InProcessEventBus(live=False))
    stream_options: StreamOptions = field(default_factory=StreamOptions)
    # Set when the process begins to shut down: open event streams end with a reconnect hint
    # (so a rolling update never waits on a client that does not hang up).
    draining: asyncio.Event = field(default_factory=asyncio.Event)
