"""The analytics rollup (``execution_stats``): reading whole hours and days, and rebuilding.

The ORM hooks in :mod:`db.execution_stats` keep the rollup current as executions end.
:meth:`ExecutionStatsRepository.rebuild` recomputes the cells of whole UTC days from the
executions table with the same code (:class:`~db.execution_stats.Contribution`), for
rows written around the ORM (bulk loads) or to repair a range.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.execution_projection import TERMINAL
from db.execution_stats import (
    GRAINS,
    HISTOGRAM_BUCKETS,
    Contribution,
    cell_start,
    duration_bucket,
    histogram_column,
)
from db.models import Execution, execution_stats

DAY = timedelta(days=1)
_HISTOGRAM_NAMES = [histogram_column(b) for b in range(HISTOGRAM_BUCKETS)]
_HISTOGRAM = [execution_stats.c[name] for name in _HISTOGRAM_NAMES]
_INSERT_CHUNK = 500


@dataclass
class Tally:
    """Runs by status and the durations of the completed ones, mergeable."""

    counts: dict[str, int] = field(default_factory=dict)
    timed: int = 0
    sum_us: int = 0
    max_us: int | None = None
    histogram: list[int] = field(default_factory=lambda: [0] * HISTOGRAM_BUCKETS)

    def add_runs(self, status: str, runs: int) -> None:
        self.counts[status] = self.counts.get(status, 0) + runs

    def merge(self, other: Tally) -> None:
        for status, runs in other.counts.items():
            self.add_runs(status, runs)
        self.add_cells(other.timed, other.sum_us, other.max_us, other.histogram)

    def add_duration(self, microseconds: int) -> None:
        self.timed += 1
        self.sum_us += microseconds
        self.max_us = microseconds if self.max_us is None else max(self.max_us, microseconds)
        self.histogram[duration_bucket(microseconds)] += 1

    def add_cells(self, timed: int, sum_us: int, max_us: int | None, hist: Sequence[Any]) -> None:
        self.timed += timed
        self.sum_us += sum_us
        if max_us is not None:
            self.max_us = max_us if self.max_us is None else max(self.max_us, max_us)
        for bucket, n in enumerate(hist):
            self.histogram[bucket] += n or 0


@dataclass(frozen=True)
class Cells:
    """Whole days and whole hours of a window (``[start, end)`` ranges, UTC)."""

    days: tuple[datetime, datetime] | None
    hours: tuple[tuple[datetime, datetime], ...]

    def condition(self) -> ColumnElement[bool]:
        c = execution_stats.c
        ranges = [
            and_(c.grain == "hour", c.start >= start, c.start < end) for start, end in self.hours
        ]
        if self.days is not None:
            start, end = self.days
            ranges.append(and_(c.grain == "day", c.start >= start, c.start < end))
        return or_(*ranges) if ranges else c.grain.is_(None)


class ExecutionStatsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def tallies(
        self, cells: Cells, where: Sequence[ColumnElement[bool]]
    ) -> dict[uuid.UUID, Tally]:
        """Per workflow: the ended runs of the cells by status, with their durations."""
        c = execution_stats.c
        stmt = (
            select(
                c.workflow_id,
                c.status,
                func.sum(c.runs),
                func.sum(c.timed_runs),
                func.sum(c.duration_sum_us),
                func.max(c.duration_max_us),
                *(func.sum(h) for h in _HISTOGRAM),
            )
            .where(cells.condition(), *where)
            .group_by(c.workflow_id, c.status)
        )
        result: dict[uuid.UUID, Tally] = {}
        for workflow_id, status, runs, timed, sum_us, max_us, *hist in await self._rows(stmt):
            tally = result.setdefault(workflow_id, Tally())
            tally.add_runs(status, int(runs))
            tally.add_cells(int(timed or 0), int(sum_us or 0), max_us, hist)
        return result

    async def runs_by_cell(
        self, cells: Cells, where: Sequence[ColumnElement[bool]]
    ) -> list[tuple[datetime, str, int]]:
        """``(cell start, status, runs)`` of the cells, for a timeline."""
        c = execution_stats.c
        stmt = (
            select(c.start, c.status, func.sum(c.runs))
            .where(cells.condition(), *where)
            .group_by(c.start, c.status)
        )
        return [(start, status, int(runs)) for start, status, runs in await self._rows(stmt)]

    async def rebuild(self, day: datetime) -> int:
        """Recompute the hour and day cells of one UTC day from the executions table.

        Returns the executions counted. Runs in the caller's transaction: a day is small
        enough to rebuild at once, a long range is rebuilt a day per transaction.
        """
        start = cell_start(day, "day")
        await self.session.execute(
            delete(execution_stats).where(
                execution_stats.c.start >= start, execution_stats.c.start < start + DAY
            )
        )
        cells: dict[tuple[str, datetime, uuid.UUID, str], _Cell] = {}
        e = Execution.__table__.c
        rows = await self.session.execute(
            select(e.workflow_id, e.status, e.created_at, e.started_at, e.completed_at).where(
                e.created_at >= start, e.created_at < start + DAY, e.status.in_(TERMINAL)
            )
        )
        counted = 0
        for row in rows.tuples():
            item = Contribution.of(*row)
            if item is None:
                continue
            counted += 1
            for grain in GRAINS:
                key = (grain, cell_start(item.created_at, grain), item.workflow_id, item.status)
                cells.setdefault(key, _Cell()).add(item)
        values = [cell.row(*key) for key, cell in cells.items()]
        for i in range(0, len(values), _INSERT_CHUNK):
            await self.session.execute(insert(execution_stats), values[i : i + _INSERT_CHUNK])
        await self.session.flush()
        return counted

    async def _rows(self, stmt: Any) -> Sequence[Any]:
        return (await self.session.execute(stmt)).all()


@dataclass
class _Cell:
    runs: int = 0
    timed: int = 0
    sum_us: int = 0
    max_us: int | None = None
    histogram: list[int | None] = field(default_factory=lambda: [None] * HISTOGRAM_BUCKETS)

    def add(self, item: Contribution) -> None:
        self.runs += 1
        if item.duration_us is None:
            return
        self.timed += 1
        self.sum_us += item.duration_us
        self.max_us = (
            item.duration_us if self.max_us is None else max(self.max_us, item.duration_us)
        )
        bucket = duration_bucket(item.duration_us)
        self.histogram[bucket] = (self.histogram[bucket] or 0) + 1

    def row(
        self, grain: str, start: datetime, workflow_id: uuid.UUID, status: str
    ) -> dict[str, Any]:
        return {
            "grain": grain,
            "start": start,
            "workflow_id": workflow_id,
            "status": status,
            "runs": self.runs,
            "timed_runs": self.timed,
            "duration_sum_us": self.sum_us,
            "duration_max_us": self.max_us,
            **dict(zip(_HISTOGRAM_NAMES, self.histogram, strict=True)),
        }
