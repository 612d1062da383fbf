"""Analytics over the executions table, computed in SQL on SQLite and PostgreSQL alike.

Every figure covers the executions *created* in a window ``[since, until)`` (the indexes on
``executions(created_at)`` and ``(workflow_id, created_at)`` bound the rows read) that the
caller may see: admins see all, other users the executions of workflows they own or that
are shared.

- Counts by status and per workflow: one ``GROUP BY workflow_id, status``.
- Success rate: ``completed / (completed + failed)``; cancelled runs are an operator's
  decision, not an outcome of the workflow, so they count in neither.
- Durations (``completed_at - started_at`` of *completed* runs): p50/p95/p99 with linear
  interpolation between closest ranks. PostgreSQL computes them with ``percentile_cont``;
  SQLite has no percentile aggregate, so the same definition is written with window
  functions (each duration's rank and its group's size), which gives identical numbers.
- Runs over time: ``date_trunc`` (PostgreSQL, in UTC) or ``strftime`` (SQLite) buckets,
  with empty buckets filled in so a chart has a point per hour or day.
- Slowest steps: each ``step.completed``/``step.failed`` event of the window's latest
  :data:`STEP_SAMPLE` executions paired with the latest earlier ``step.started`` of the same
  step, averaged per (workflow, step).

SQLite's date functions work in milliseconds, so durations there have millisecond precision
(PostgreSQL: microseconds); every figure is rounded to milliseconds.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from api.errors import InvalidInput, ProblemDetail
from api.schemas.analytics import (
    AnalyticsSummary,
    Bucket,
    Durations,
    SlowStep,
    StatusCounts,
    TimeBucket,
    Window,
    WorkflowAnalytics,
    WorkflowStats,
)
from api.services.access import is_admin, visible_workflow
from db.models import Execution, ExecutionLog, User, Workflow

PERCENTILES = (0.5, 0.95, 0.99)
MAX_BUCKETS = 1000
DEFAULT_WINDOW = timedelta(days=7)
BUSIEST_WORKFLOWS = 50
SLOWEST_STEPS = 10
# Slowest steps read the step events of at most this many of the window's latest
# executions: the event log is ~10x the executions table, and a sample of this size ranks
# steps as reliably as the whole window would, at a bounded cost.
STEP_SAMPLE = 5000
ACTIVE_STATUSES = ("pending", "running", "waiting", "paused")
_BUCKET_STEP = {"hour": timedelta(hours=1), "day": timedelta(days=1)}


@dataclass(frozen=True)
class Scope:
    """Which executions a query covers."""

    since: datetime
    until: datetime
    owner_id: uuid.UUID | None = None  # None: every owner (admins); else own or shared
    workflow_id: uuid.UUID | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        where = [Execution.created_at >= self.since, Execution.created_at < self.until]
        if self.workflow_id is not None:
            where.append(Execution.workflow_id == self.workflow_id)
        if self.owner_id is not None:
            visible = select(Workflow.id).where(
                or_(Workflow.owner_id == self.owner_id, Workflow.shared.is_(True))
            )
            where.append(Execution.workflow_id.in_(visible))
        return where


def make_window(since: datetime | None, until: datetime | None, bucket: Bucket) -> Window:
    """The window asked for (UTC; naive times are read as UTC), or a 422 naming the bad one."""
    until = _utc(until) if until else datetime.now(UTC)
    since = _utc(since) if since else until - DEFAULT_WINDOW
    if since >= until:
        raise InvalidInput(
            detail="since must be before until",
            errors=[ProblemDetail("/query/since", "since must be before until", "invalid_window")],
        )
    if (until - since) / _BUCKET_STEP[bucket] > MAX_BUCKETS:
        message = f"the window holds more than {MAX_BUCKETS} {bucket} buckets; use a wider bucket"
        raise InvalidInput(
            detail=message, errors=[ProblemDetail("/query/bucket", message, "too_many_buckets")]
        )
    return Window(since=since, until=until, bucket=bucket)


async def summary(session: AsyncSession, user: User, window: Window) -> AnalyticsSummary:
    """Analytics of every execution the caller may see in the window."""
    scope = Scope(window.since, window.until, owner_id=None if is_admin(user) else user.id)
    per_workflow = await _status_counts(session, scope)
    busiest = sorted(per_workflow, key=lambda w: (-sum(per_workflow[w].values()), str(w)))
    busiest = busiest[:BUSIEST_WORKFLOWS]
    names = await _workflow_names(session, busiest)
    durations = await _durations(session, scope, by_workflow=True, workflow_ids=busiest)
    overall = (await _durations(session, scope, by_workflow=False)).get(None, Durations(count=0))
    totals: dict[str, int] = defaultdict(int)
    for counts in per_workflow.values():
        for status, n in counts.items():
            totals[status] += n
    return AnalyticsSummary(
        window=window,
        total=sum(totals.values()),
        counts=StatusCounts(**totals),
        success_rate=_success_rate(totals),
        durations=overall,
        workflows=[
            _workflow_stats(w, names.get(w, ""), per_workflow[w], durations) for w in busiest
        ],
        timeline=await _timeline(session, scope, window),
        slowest_steps=await _slowest_steps(session, scope),
    )


async def workflow_analytics(
    session: AsyncSession, user: User, workflow_id: uuid.UUID, window: Window
) -> WorkflowAnalytics:
    """The same figures for one workflow the caller may see (404 otherwise)."""
    workflow = await visible_workflow(session, user, workflow_id)
    scope = Scope(window.since, window.until, workflow_id=workflow.id)
    counts = (await _status_counts(session, scope)).get(workflow.id, {})
    durations = await _durations(session, scope, by_workflow=True, workflow_ids=[workflow.id])
    return WorkflowAnalytics(
        window=window,
        workflow=_workflow_stats(workflow.id, workflow.name, counts, durations),
        timeline=await _timeline(session, scope, window),
        slowest_steps=await _slowest_steps(session, scope),
    )


async def active_execution_counts(session: AsyncSession) -> dict[str, int]:
    """Unfinished executions by status, for the ``headrace_executions_active`` gauge."""
    stmt = (
        select(Execution.status, func.count())
        .where(Execution.status.in_(ACTIVE_STATUSES))
        .group_by(Execution.status)
    )
    return {status: n for status, n in (await session.execute(stmt)).tuples()}


# --- the queries ----------------------------------------------------------------------


async def _status_counts(session: AsyncSession, scope: Scope) -> dict[uuid.UUID, dict[str, int]]:
    stmt = (
        select(Execution.workflow_id, Execution.status, func.count())
        .where(*scope.conditions())
        .group_by(Execution.workflow_id, Execution.status)
    )
    result: dict[uuid.UUID, dict[str, int]] = defaultdict(dict)
    for workflow_id, status, n in (await session.execute(stmt)).tuples():
        result[workflow_id][status] = n
    return result


async def _workflow_names(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    stmt = select(Workflow.id, Workflow.name).where(Workflow.id.in_(ids))
    return {i: n for i, n in (await session.execute(stmt)).tuples()}


async def _durations(
    session: AsyncSession,
    scope: Scope,
    *,
    by_workflow: bool,
    workflow_ids: Sequence[uuid.UUID] | None = None,
) -> dict[uuid.UUID | None, Durations]:
    if workflow_ids is not None and not workflow_ids:
        return {}
    dialect = _dialect(session)
    group = Execution.workflow_id if by_workflow else literal(None).label("grp")
    where = [
        *scope.conditions(),
        Execution.status == "completed",
        Execution.started_at.is_not(None),
        Execution.completed_at.is_not(None),
    ]
    if workflow_ids is not None:
        where.append(Execution.workflow_id.in_(workflow_ids))
    seconds = _seconds_between(dialect, Execution.started_at, Execution.completed_at)
    base = select(group.label("grp"), seconds.label("d")).where(*where).subquery()
    if dialect == "postgresql":
        stmt = _percentiles_postgresql(base)
    else:
        stmt = _percentiles_window_functions(base)
    rows = (await session.execute(stmt)).all()
    return {row[0]: _durations_row(row[1:]) for row in rows}


def _percentiles_postgresql(base: Any) -> Select[Any]:
    d = base.c.d
    return select(
        base.c.grp,
        func.count(),
        *(func.percentile_cont(p).within_group(d.asc()) for p in PERCENTILES),
        func.avg(d),
        func.max(d),
    ).group_by(base.c.grp)


def _percentiles_window_functions(base: Any) -> Select[Any]:
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
        *(percentile(p) for p in PERCENTILES),
        func.avg(d),
        func.max(d),
    ).group_by(ranked.c.grp)


async def _timeline(session: AsyncSession, scope: Scope, window: Window) -> list[TimeBucket]:
    bucket = _bucket_start(_dialect(session), window.bucket).label("bucket")
    stmt = (
        select(
            bucket,
            func.count(),
            func.sum(case((Execution.status == "completed", 1), else_=0)),
            func.sum(case((Execution.status == "failed", 1), else_=0)),
        )
        .where(*scope.conditions())
        .group_by(bucket)
    )
    found = {
        _as_utc(start): TimeBucket(
            start=_as_utc(start), total=total, completed=done or 0, failed=failed or 0
        )
        for start, total, done, failed in (await session.execute(stmt)).tuples()
    }
    return [
        found.get(start) or TimeBucket(start=start, total=0, completed=0, failed=0)
        for start in _bucket_starts(window)
    ]


async def _slowest_steps(session: AsyncSession, scope: Scope) -> list[SlowStep]:
    dialect = _dialect(session)
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
    sample = (
        select(Execution.id, Execution.workflow_id)
        .where(*scope.conditions())
        .order_by(Execution.created_at.desc())
        .limit(STEP_SAMPLE)
        .subquery()
    )
    pairs = (
        select(
            sample.c.workflow_id.label("workflow_id"),
            ended.step_id.label("step_id"),
            _seconds_between(dialect, start_ts, ended.ts).label("d"),
        )
        .join(ended, ended.execution_id == sample.c.id)
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
        .limit(SLOWEST_STEPS)
    )
    return [
        SlowStep(
            workflow_id=workflow_id,
            workflow_name=name,
            step_id=step_id,
            runs=runs,
            avg_seconds=_round(avg_s) or 0.0,
            max_seconds=_round(max_s) or 0.0,
        )
        for workflow_id, name, step_id, runs, avg_s, max_s in (await session.execute(stmt)).all()
    ]


# --- dialect helpers ------------------------------------------------------------------


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _seconds_between(dialect: str, start: Any, end: Any) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return cast(func.extract("epoch", end - start), Float)
    # SQLite stores UTC timestamps as ISO text. Its date functions work in milliseconds, and
    # julianday()'s fractional days carry up to ~50 µs of float error: rounding the
    # difference to milliseconds gives back the exact figure.
    return func.round((func.julianday(end) - func.julianday(start)) * 86400.0, 3)


def _bucket_start(dialect: str, bucket: Bucket) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.date_trunc(bucket, func.timezone("UTC", Execution.created_at))
    pattern = "%Y-%m-%d %H:00:00" if bucket == "hour" else "%Y-%m-%d 00:00:00"
    return func.strftime(pattern, Execution.created_at)


# --- shaping the results --------------------------------------------------------------


def _workflow_stats(
    workflow_id: uuid.UUID,
    name: str,
    counts: Mapping[str, int],
    durations: Mapping[uuid.UUID | None, Durations],
) -> WorkflowStats:
    return WorkflowStats(
        workflow_id=workflow_id,
        name=name,
        total=sum(counts.values()),
        counts=StatusCounts(**counts),
        success_rate=_success_rate(counts),
        durations=durations.get(workflow_id, Durations(count=0)),
    )


def _durations_row(row: Sequence[Any]) -> Durations:
    count, p50, p95, p99, avg, longest = row
    return Durations(
        count=int(count),
        p50=_round(p50),
        p95=_round(p95),
        p99=_round(p99),
        avg=_round(avg),
        max=_round(longest),
    )


def _success_rate(counts: Mapping[str, int]) -> float | None:
    done, failed = counts.get("completed", 0), counts.get("failed", 0)
    return round(done / (done + failed), 4) if done + failed else None


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _as_utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return _utc(value)


def _bucket_starts(window: Window) -> list[datetime]:
    step = _BUCKET_STEP[window.bucket]
    start = window.since.replace(minute=0, second=0, microsecond=0)
    if window.bucket == "day":
        start = start.replace(hour=0)
    starts = []
    while start < window.until:
        starts.append(start)
        start += step
    return starts
