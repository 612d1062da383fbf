"""The analytics rollup (``execution_stats``), kept in step with the executions table.

:func:`track_execution_stats` hooks every ORM insert, update and delete of an execution, and
adds the row's *contribution* (one run of its workflow, ended with its status, in the hour and
the day it was created, and for a completed run its duration) to the rollup cells, after
taking out the contribution its previous values made. The hooks are registered by
:func:`db.session.create_session_factory` (the API's, the worker's and the CLI's session
factory), not as a side effect of importing the models. A status written twice contributes
once; a terminal status rewritten (``completed`` → ``failed``) moves the run from one cell to
the other. Rows written around the ORM (bulk ``INSERT`` through Core) are not seen:
``rebuild`` in :mod:`db.repositories.execution_stats` recomputes the cells of a time range
from the table.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Table, bindparam, case, event, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapper, attributes

from db.execution_projection import TERMINAL

if TYPE_CHECKING:
    from db.models import Execution

# Durations of completed runs are counted in a fixed log-scale histogram: bucket 0 holds
# [0, 1 ms), bucket b (1..128) holds [1 ms * 2^((b-1)/4), 1 ms * 2^(b/4)), four buckets per
# doubling up to 2^32 ms (~49.7 days), and the last bucket everything longer. A bucket's
# geometric middle is within a factor 2^(1/8) (+9.05 %) of any value in it.
HISTOGRAM_BUCKETS = 130
BUCKETS_PER_DOUBLING = 4
SMALLEST_US = 1000
GRAINS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}


def histogram_column(bucket: int) -> str:
    return f"h{bucket:03d}"


def duration_bucket(microseconds: int) -> int:
    """The histogram bucket of a duration (negative ones, from skewed clocks, go to 0)."""
    if microseconds < SMALLEST_US:
        return 0
    doublings = math.log2(microseconds / SMALLEST_US)
    return min(1 + int(doublings * BUCKETS_PER_DOUBLING), HISTOGRAM_BUCKETS - 1)


def bucket_bounds(bucket: int) -> tuple[float, float | None]:
    """``[low, high)`` of a bucket in seconds; ``high`` is None for the open last bucket."""
    if bucket == 0:
        return 0.0, SMALLEST_US / 1e6
    low = SMALLEST_US / 1e6 * 2 ** ((bucket - 1) / BUCKETS_PER_DOUBLING)
    if bucket == HISTOGRAM_BUCKETS - 1:
        return low, None
    return low, SMALLEST_US / 1e6 * 2 ** (bucket / BUCKETS_PER_DOUBLING)


def cell_start(moment: datetime, grain: str) -> datetime:
    """The start of the hour or (UTC) day ``moment`` falls in."""
    start = moment.replace(minute=0, second=0, microsecond=0)
    return start.replace(hour=0) if grain == "day" else start


def duration_us(started_at: datetime | None, completed_at: datetime | None) -> int | None:
    if started_at is None or completed_at is None:
        return None
    return (completed_at - started_at) // timedelta(microseconds=1)


@dataclass(frozen=True)
class Contribution:
    """What one execution adds to the rollup: one run, and a duration if it completed."""

    workflow_id: uuid.UUID
    status: str
    created_at: datetime
    duration_us: int | None

    @classmethod
    def of(
        cls,
        workflow_id: uuid.UUID | None,
        status: str | None,
        created_at: datetime | None,
        started_at: datetime | None,
        completed_at: datetime | None,
    ) -> Contribution | None:
        # Only ended runs are rolled up: an unfinished run changes status many times, and
        # analytics counts the few unfinished ones from the executions table.
        if status not in TERMINAL or workflow_id is None or created_at is None:
            return None
        timed = duration_us(started_at, completed_at) if status == "completed" else None
        return cls(workflow_id, status, created_at, timed)


_TRACKED = ("workflow_id", "status", "created_at", "started_at", "completed_at")


# The classes whose hooks are registered: mapper events are process-wide, and a second
# registration would count every run twice.
_TRACKED_CLASSES: set[type[Any]] = set()


def track_execution_stats(execution_cls: type[Execution], stats: Table) -> None:
    """Keep ``stats`` in step with every ORM write of ``execution_cls`` rows (once per process).

    Called by :func:`db.session.create_session_factory`, so every session the API, the
    worker or the CLI opens keeps the rollup; calling it again changes nothing.
    """
    if execution_cls in _TRACKED_CLASSES:
        return
    _TRACKED_CLASSES.add(execution_cls)
    executions = execution_cls.__table__
    assert isinstance(executions, Table)

    def on_insert(_: Mapper[Any], connection: Connection, target: Execution) -> None:
        _move(connection, stats, executions, None, _current_contribution(target))

    def on_update(_: Mapper[Any], connection: Connection, target: Execution) -> None:
        old = _previous_contribution(target, load_unchanged=True)
        _move(connection, stats, executions, old, _current_contribution(target))

    def on_delete(_: Mapper[Any], connection: Connection, target: Execution) -> None:
        old = _previous_contribution(target, load_unchanged=False)
        _move(connection, stats, executions, old, None)

    event.listen(execution_cls, "after_insert", on_insert)
    event.listen(execution_cls, "after_update", on_update)
    event.listen(execution_cls, "after_delete", on_delete)


def _move(
    connection: Connection,
    stats: Table,
    executions: Table,
    old: Contribution | None,
    new: Contribution | None,
) -> None:
    if old == new:
        return  # nothing the rollup counts changed (or the same status written again)
    if old is not None:
        _add(connection, stats, old, -1)
        if old.duration_us is not None:
            _recompute_longest(connection, stats, executions, old)
    if new is not None:
        _add(connection, stats, new, +1)


def _no_contribution(_: Execution) -> None:
    return None


def _current_contribution(target: Execution) -> Contribution | None:
    return Contribution.of(*(getattr(target, name) for name in _TRACKED))


def _previous_contribution(target: Execution, *, load_unchanged: bool) -> Contribution | None:
    # The values the database held before this flush: the columns that change load their
    # old value before a change (``active_history``); one that was neither loaded nor set
    # (expired) did not change, so its current value is the old one (an updated row can
    # load it; a deleted one cannot).
    state = attributes.instance_state(target)
    values = []
    for name in _TRACKED:
        history = state.attrs[name].history
        old = history.deleted or history.unchanged or history.added
        if old:
            values.append(old[0])
        else:
            values.append(getattr(target, name) if load_unchanged else None)
    return Contribution.of(*values)


_KEY = ("grain", "start", "workflow_id", "status")
_SUMS = ("runs", "timed_runs", "duration_sum_us", "duration_max_us")


def _add(connection: Connection, stats: Table, item: Contribution, sign: int) -> None:
    took = item.duration_us
    bucket = None if took is None else histogram_column(duration_bucket(took))
    values: dict[str, Any] = {
        "p_runs": sign,
        "p_timed_runs": 0 if took is None else sign,
        "p_duration_sum_us": sign * (took or 0),
        "p_duration_max_us": took if sign > 0 else None,
        "p_bucket": sign,
    }
    stmt = _upsert(connection.dialect.name, stats, bucket)
    for grain in GRAINS:
        key = {
            "p_grain": grain,
            "p_start": cell_start(item.created_at, grain),
            "p_workflow_id": item.workflow_id,
            "p_status": item.status,
        }
        connection.execute(stmt, {**key, **values})


@cache
def _upsert(dialect: str, stats: Table, bucket: str | None) -> Any:
    """``INSERT … ON CONFLICT DO UPDATE`` adding to a cell, built once per histogram bucket.

    (Building it per write cost ~3 ms: ``excluded`` copies all 138 columns.)
    """
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    columns = [*_KEY, *_SUMS] + ([bucket] if bucket else [])
    stmt = insert(stats).values(
        {
            name: bindparam("p_bucket" if name == bucket else f"p_{name}", type_=stats.c[name].type)
            for name in columns
        }
    )
    table, new = stats.c, stmt.excluded
    changes: dict[str, Any] = {
        "runs": table.runs + new.runs,
        "timed_runs": table.timed_runs + new.timed_runs,
        "duration_sum_us": table.duration_sum_us + new.duration_sum_us,
        "duration_max_us": case(
            (table.duration_max_us.is_(None), new.duration_max_us),
            (new.duration_max_us > table.duration_max_us, new.duration_max_us),
            else_=table.duration_max_us,
        ),
    }
    if bucket is not None:
        changes[bucket] = func.coalesce(table[bucket], 0) + new[bucket]
    return stmt.on_conflict_do_update(index_elements=list(_KEY), set_=changes)


def _recompute_longest(
    connection: Connection, stats: Table, executions: Table, item: Contribution
) -> None:
    """The longest duration of the cells a completed run left, read again from the table.

    Counts and sums subtract; a maximum does not, and this path (a terminal status
    rewritten, an execution deleted) is rare enough to afford reading the cell's runs.
    """
    for grain, width in GRAINS.items():
        start = cell_start(item.created_at, grain)
        rows = connection.execute(
            select(executions.c.started_at, executions.c.completed_at).where(
                executions.c.workflow_id == item.workflow_id,
                executions.c.status == "completed",
                executions.c.created_at >= start,
                executions.c.created_at < start + width,
            )
        ).all()
        durations = [d for d in (duration_us(*row) for row in rows) if d is not None]
        connection.execute(
            update(stats)
            .where(
                stats.c.grain == grain,
                stats.c.start == start,
                stats.c.workflow_id == item.workflow_id,
                stats.c.status == item.status,
            )
            .values(duration_max_us=max(durations, default=None))
        )
