"""The event bus: live delivery of the events the recorder has stored.

Two backends behind :class:`EventBus`: :class:`InProcessEventBus` (``headrace dev``, where the
API and the worker share a process) and :class:`RedisEventBus` (production,
``HEADRACE_REDIS_URL``). Subscribers replay from the database and use the bus only to learn
about new events quickly; see :mod:`api.services.streams`.
"""

from __future__ import annotations

from core.events.base import (
    ALL,
    EventBus,
    EventSink,
    InProcessEventBus,
    Message,
    StreamOptions,
    SubscriberOverflow,
    Subscription,
)
from core.events.redis_bus import BusUnavailable, RedisEventBus
from core.settings import Settings

__all__ = [
    "ALL",
    "BusUnavailable",
    "EventBus",
    "EventSink",
    "InProcessEventBus",
    "Message",
    "RedisEventBus",
    "StreamOptions",
    "SubscriberOverflow",
    "Subscription",
    "build_event_bus",
]


def build_event_bus(settings: Settings) -> EventBus:
    """Redis when ``HEADRACE_REDIS_URL`` is set, else an in-process bus.

    An in-process bus built here has no publisher in this process (the worker runs
    elsewhere, or is given its own bus), so its subscribers poll the database: it is
    created *not live*. ``headrace dev`` instead builds one live bus and hands it to both
    the API and the worker.
    """
    if settings.redis_url:
        return RedisEventBus(settings.redis_url)
    return InProcessEventBus(live=False)
