"""The API's background sweep: start pending runs, forget expired signatures, note health.

Every API replica runs one (``HEADRACE_PENDING_SWEEP_INTERVAL``; 0 turns it off). A run that
Temporal did not take when it was accepted stays ``pending`` in the database, which is its
outbox; the sweep starts those older than ``HEADRACE_PENDING_START_AFTER`` (see
:func:`api.services.executions.sweep_pending`: rows are claimed in the database, and a
second start of the same execution is harmless anyway), and fails the express runs that
outlived their maximum duration (their process died). Each round also records whether
the database and Temporal answered (``headrace_dependency_up``).
"""

from __future__ import annotations

import asyncio
import logging
import random

from sqlalchemy.exc import SQLAlchemyError
from temporalio.service import RPCError

from api.context import AppContext
from api.errors import UpstreamUnavailable
from api.services.executions import sweep_pending
from api.services.webhook_intake import forget_expired_signatures
from core.metrics import set_dependency_up
from express.runner import host_for, mark_interrupted

logger = logging.getLogger(__name__)


async def sweep_once(ctx: AppContext) -> int:
    """One round; how many pending runs it started. Never raises for an outage."""
    try:
        async with ctx.sessions() as session:
            await forget_expired_signatures(session)
        await _end_overdue_express_runs(ctx)
        set_dependency_up("database", True)
    except (SQLAlchemyError, OSError) as exc:
        set_dependency_up("database", False)
        logger.warning("sweep: the database is unavailable (%s)", type(exc).__name__)
        return 0
    try:
        client = await ctx.temporal.client()
        started = await sweep_pending(ctx.sessions, client, ctx.settings)
    except (UpstreamUnavailable, RPCError, TimeoutError, OSError) as exc:
        set_dependency_up("temporal", False)
        logger.warning("sweep: Temporal is unavailable (%s)", exc)
        return 0
    except SQLAlchemyError as exc:
        logger.warning("sweep: the database is unavailable (%s)", type(exc).__name__)
        return 0
    if started:
        logger.info("sweep: started %d pending runs", started)
    return started


async def _end_overdue_express_runs(ctx: AppContext) -> None:
    """Express runs older than their maximum duration whose process died (and was not
    started again under its name) are failed as interrupted: never ``running`` forever."""
    host = host_for(ctx.settings)
    alive = host.alive() if host is not None else ()
    await mark_interrupted(ctx.sessions, None, ctx.settings.express_max_duration, alive)


async def sweep_forever(ctx: AppContext) -> None:
    """Sweep every ``pending_sweep_interval`` seconds (jittered, so replicas spread out)."""
    interval = ctx.settings.pending_sweep_interval
    while True:
        await asyncio.sleep(interval * random.uniform(0.8, 1.2))
        try:
            await sweep_once(ctx)
        except Exception:  # the loop must outlive any surprise; the next round tries again
            logger.exception("sweep failed")
