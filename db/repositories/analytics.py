"""The SQL of analytics: the queries over ``executions``, ``execution_logs`` and the rollup.

Each method runs one query on SQLite and PostgreSQL alike and returns plain rows; where the
rows come from, and what the figures mean, is :mod:`api.services.analytics`'s business.
Which workflows' runs a query covers is a :class:`~db.repositories.workflows.WorkflowFilter`
(the caller's visibility, from :func:`api.services.access.visibility_filter`), applied
through :meth:`WorkflowRepository.ids <db.repositories.workflows.WorkflowRepository.ids>`.

SQLite's date functions work in milliseconds, so durations there have millisecond precision
(PostgreSQL: microseconds).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    Select,
    case,
    cast,
    func,
    literal,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from db.models import Execution, ExecutionLog, Workflow, execution_stats
from db.repositories.execution_stats import Cells, ExecutionStatsRepository, Tally
from db.repositories.workflows import WorkflowFilter, WorkflowRepository

# (count, p…, avg, max) of a group's durations in seconds, one p per percentile asked for.
DurationFigures = Sequence[Any]


@dataclass(frozen=True)
class Scope:
    """Which executions a query covers: created in ``[since, until)``, of which workflows."""

    since: datetime
    until: datetime
    workflows: WorkflowFilter = field(default_factory=WorkflowFilter)  # default: every one
    workflow_id: uuid.UUID | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        where = [Execution.created_at >= self.since, Execution.created_at < self.until]
        return where + self.workflow_conditions(Execution.workflow_id)

    def workflow_conditions(self, column: Any) -> list[ColumnElement[bool]]:
        """The visibility of a ``workflow_id`` column (of executions or of the rollup)."""
        where: list[ColumnElement[bool]] = []
        if self.workflow_id is not None:
            where.append(column == self.workflow_id)
        if self.workflows != WorkflowFilter():  # no subquery when every workflow passes
            where.append(column.in_(WorkflowRepository.ids(self.workflows)))
        return where

    def between(self, since: datetime, until: datetime) -> Scope:
        return replace(self, since=since, until=until)


class AnalyticsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._dialect = session.get_bind().dialect.name

    async def without_jit(self) -> None:
        # PostgreSQL JIT-compiles any plan whose estimated cost passes jit_above_cost; the
        # slowest-steps plan (correlated subqueries, estimated high, ~0.1 s to run) spent over
        # 1 s compiling. These queries are short: turn JIT off for this transaction.
        if self._dialect == "postgresql":
            await self.session.execute(text("SET LOCAL jit = off"))

    async def rollup_tallies(self, scope: Scope, cells: Cells) -> dict[uuid.UUID, Tally]:
        """Per workflow: the ended runs of the rollup's ``cells`` in scope."""
        visible = scope.workflow_conditions(execution_stats.c.workflow_id)
        return await ExecutionStatsRepository(self.session).tallies(cells, visible)

    async def rollup_runs_by_cell(
        self, scope: Scope, cells: Cells
    ) -> list[tuple[datetime, str, int]]:
        """``(cell start, status, runs)`` of the rollup's ``cells`` in scope."""
        visible = scope.workflow_conditions(execution_stats.c.workflow_id)
        return await ExecutionStatsRepository(self.session).runs_by_cell(cells, visible)

    async def runs(
        self, scope: Scope
    ) -> Sequence[tuple[uuid.UUID, str, datetime | None, datetime | None]]:
        """``(workflow id, status, started_at, completed_at)`` of every run in scope."""
        stmt = select(
            Execution.workflow_id, Execution.status, Execution.started_at, Execution.completed_at
        ).where(*scope.conditions())
        return list((await self.session.execute(stmt)).tuples())

    async def runs_by_status(
        self, scope: Scope, statuses: Iterable[str]
    ) -> Sequence[tuple[uuid.UUID, str, int]]:
        """``(workflow id, status, runs)`` of the runs in scope with one of ``statuses``."""
        stmt = (
            select(Execution.workflow_id, Execution.status, func.count())
            .where(Execution.status.in_(statuses), *scope.conditions())
            # status first: SQLite then reads the (status, created_at, workflow_id) index
            # instead of skip-scanning (workflow_id, created_at) over every run of the window
            .group_by(Execution.status, Execution.workflow_id)
        )
        return list((await self.session.execute(stmt)).tuples())

    async def count_by_status(self, statuses: Iterable[str]) -> dict[str, int]:
        """Every execution with one of ``statuses``, counted by status (any time, any owner)."""
        stmt = (
            select(Execution.status, func.count())
            .where(Execution.status.in_(statuses))
            .group_by(Execution.status)
        )
        return {status: n for status, n in (await self.session.execute(stmt)).tuples()}

    async def created_span(self) -> tuple[datetime | None, datetime | None]:
        """The first and the last ``created_at`` of the executions table."""
        stmt = select(func.min(Execution.created_at), func.max(Execution.created_at))
        first, last = (await self.session.execute(stmt)).one()
        return first, last

    async def workflow_names(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
        if not ids:
            return {}
        stmt = select(Workflow.id, Workflow.name).where(Workflow.id.in_(ids))
        return {i: n for i, n in (await self.session.execute(stmt)).tuples()}

    async def durations(
        self,
        scope: Scope,
        percentiles: Sequence[float],
        *,
        by_workflow: bool,
        workflow_ids: Sequence[uuid.UUID] | None = None,
    ) -> dict[uuid.UUID | None, DurationFigures]:
        """The durations of completed runs in scope, per workflow (or all: key ``None``).

        Percentiles interpolate linearly between closest ranks: PostgreSQL's
        ``percentile_cont``; on SQLite, which has no percentile aggregate, window functions
        (each duration's rank and its group's size) that give identical numbers.
        """
        if workflow_ids is not None and not workflow_ids:
            return {}
        group = Execution.workflow_id if by_workflow else literal(None).label("grp")
        where = [
            *scope.conditions(),
            Execution.status == "completed",
            Execution.started_at.is_not(None),
            Execution.completed_at.is_not(None),
        ]
        if workflow_ids is not None:
            where.append(Execution.workflow_id.in_(workflow_ids))
        seconds = self._seconds_between(Execution.started_at, Execution.completed_at)
        base = select(group.label("grp"), seconds.label("d")).where(*where).subquery()
        if self._dialect == "postgresql":
            stmt = _percentiles_postgresql(base, percentiles)
        else:
            stmt = _percentiles_window_functions(base, percentiles)
        rows = (await self.session.execute(stmt)).all()
        return {row[0]: row[1:] for row in rows}

    async def runs_by_bucket(
        self, scope: Scope, bucket: str, statuses: Iterable[str] | None
    ) -> list[tuple[datetime, str, int]]:
        """``(bucket start, status, runs)`` of the runs in scope, by ``hour`` or ``day`` (UTC)."""
        start = self._bucket_start(bucket).label("bucket")
        where = scope.conditions()
        if statuses is not None:
            where.append(Execution.status.in_(statuses))
        stmt = (
            select(start, Execution.status, func.count())
            .where(*where)
            .group_by(start, Execution.status)
        )
        rows = (await self.session.execute(stmt)).tuples()
        return [(_as_utc(b), status, n) for b, status, n in rows]

    async def slowest_steps(
        self, scope: Scope, *, sample: int, limit: int
    ) -> Sequence[tuple[uuid.UUID, str, str, int, Any, Any]]:
        """``(workflow id, workflow name, step id, runs, avg s, max s)``, slowest first.

        Each ``step.completed``/``step.failed`` event of the scope's latest ``sample``
        executions is paired with the latest earlier ``step.started`` of the same step,
        and averaged per (workflow, step).
        """
        ended, started = aliased(ExecutionLog), aliased(ExecutionLog)
        start_ts = (
            select(func.max(started.ts))
            .where(
                started.execution_id == ended.execution_id,
                started.step_id == ended.step_id,
                started.type == "step.started",
                started.seq < ended.seq,
            )
            .scalar_subquery()
        )
        latest = (
            select(Execution.id, Execution.workflow_id)
            .where(*scope.conditions())
            .order_by(Execution.created_at.desc())
            .limit(sample)
            .subquery()
        )
        pairs = (
            select(
                latest.c.workflow_id.label("workflow_id"),
                ended.step_id.label("step_id"),
                self._seconds_between(start_ts, ended.ts).label("d"),
            )
            .join(ended, ended.execution_id == latest.c.id)
            .where(ended.type.in_(("step.completed", "step.failed")))
            .subquery()
        )
        avg = func.avg(pairs.c.d)
        stmt = (
            select(
                pairs.c.workflow_id,
                Workflow.name,
                pairs.c.step_id,
                func.count(),
                avg,
                func.max(pairs.c.d),
            )
            .join(Workflow, Workflow.id == pairs.c.workflow_id)
            .where(pairs.c.d.is_not(None))
            .group_by(pairs.c.workflow_id, Workflow.name, pairs.c.step_id)
            .order_by(avg.desc(), pairs.c.step_id)
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).tuples())

    async def token_usage(
        self, scope: Scope, *, limit: int
    ) -> Sequence[tuple[uuid.UUID, str, str, int, Any, Any, Any]]:
        """``(workflow id, workflow name, model, calls, prompt, completion, total tokens)``
        of the scope's model calls (their ``llm.usage`` events), most tokens first."""
        data = ExecutionLog.data
        model = func.coalesce(data["model"].as_string(), "")
        total = func.sum(data["total_tokens"].as_integer())
        stmt = (
            select(
                Execution.workflow_id,
                Workflow.name,
                model,
                func.count(),
                func.sum(data["prompt_tokens"].as_integer()),
                func.sum(data["completion_tokens"].as_integer()),
                total,
            )
            .join(Execution, Execution.id == ExecutionLog.execution_id)
            .join(Workflow, Workflow.id == Execution.workflow_id)
            .where(ExecutionLog.type == "llm.usage", *scope.conditions())
            .group_by(Execution.workflow_id, Workflow.name, model)
            .order_by(total.desc(), Workflow.name, model)
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).tuples())

    async def run_token_usage(
        self, execution_id: uuid.UUID
    ) -> Sequence[tuple[str | None, str, int, Any, Any, Any]]:
        """``(step id, model, calls, prompt, completion, total tokens)`` of one execution."""
        data = ExecutionLog.data
        model = func.coalesce(data["model"].as_string(), "")
        stmt = (
            select(
                ExecutionLog.step_id,
                model,
                func.count(),
                func.sum(data["prompt_tokens"].as_integer()),
                func.sum(data["completion_tokens"].as_integer()),
                func.sum(data["total_tokens"].as_integer()),
            )
            .where(ExecutionLog.execution_id == execution_id, ExecutionLog.type == "llm.usage")
            .group_by(ExecutionLog.step_id, model)
            .order_by(ExecutionLog.step_id, model)
        )
        return list((await self.session.execute(stmt)).tuples())

    # --- dialect helpers --------------------------------------------------------------

    def _seconds_between(self, start: Any, end: Any) -> ColumnElement[Any]:
        if self._dialect == "postgresql":
            return cast(func.extract("epoch", end - start), Float)
        # SQLite stores UTC timestamps as ISO text. Its date functions work in milliseconds,
        # and julianday()'s fractional days carry up to ~50 µs of float error: rounding the
        # difference to milliseconds gives back the exact figure.
        return func.round((func.julianday(end) - func.julianday(start)) * 86400.0, 3)

    def _bucket_start(self, bucket: str) -> ColumnElement[Any]:
        if self._dialect == "postgresql":
            return func.date_trunc(bucket, func.timezone("UTC", Execution.created_at))
        pattern = "%Y-%m-%d %H:00:00" if bucket == "hour" else "%Y-%m-%d 00:00:00"
        return func.strftime(pattern, Execution.created_at)


def _percentiles_postgresql(base: Any, percentiles: Sequence[float]) -> Select[Any]:
    d = base.c.d
    return select(
        base.c.grp,
        func.count(),
        *(func.percentile_cont(p).within_group(d.asc()) for p in percentiles),
        func.avg(d),
        func.max(d),
    ).group_by(base.c.grp)


def _percentiles_window_functions(base: Any, percentiles: Sequence[float]) -> Select[Any]:
    # percentile_cont(p) = v[k] + (v[k+1] - v[k]) * f, where p * (n - 1) = k + f (0-based
    # ranks): each row contributes its weight when its rank is k or k + 1.
    ranked = select(
        base.c.grp,
        base.c.d,
        (func.row_number().over(partition_by=base.c.grp, order_by=base.c.d) - 1).label("r"),
        func.count().over(partition_by=base.c.grp).label("n"),
    ).subquery()
    r, n, d = ranked.c.r, ranked.c.n, ranked.c.d

    def percentile(p: float) -> ColumnElement[Any]:
        position = literal(p, Float) * (n - 1)
        k = cast(position, Integer)
        f = position - k
        return func.sum(case((r == k, d * (1 - f)), (r == k + 1, d * f), else_=0.0))

    return select(
        ranked.c.grp,
        func.count(),
        *(percentile(p) for p in percentiles),
        func.avg(d),
        func.max(d),
    ).group_by(ranked.c.grp)


def _as_utc(value: Any) -> datetime:
    """A bucket start as an aware UTC datetime (SQLite's ``strftime`` gives text)."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
