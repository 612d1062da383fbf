"""Analytics over executions, computed in SQL on SQLite and PostgreSQL alike.

Every figure covers the executions *created* in a window ``[since, until)`` that the caller
may see: admins see all, other users the executions of workflows they own or that are
shared.

Where the rows come from (so that a wide window costs about as much as a narrow one):

- The window is cut into whole UTC days, whole hours around them, and the partial hours at
  its two edges (:func:`plan`). Ended runs (completed, failed, cancelled) of whole days and
  hours are read from the ``execution_stats`` rollup (kept by the ORM hooks of
  :mod:`db.execution_projection`), the partial hours from ``executions``; unfinished runs,
  whose status still moves, always from ``executions`` (``(status, created_at,
  workflow_id)`` index). Counts, success rates, averages and maxima are therefore exact.
- Success rate: ``completed / (completed + failed)``; cancelled runs are an operator's
  decision, not an outcome of the workflow, so they count in neither.
- Durations (``completed_at - started_at`` of *completed* runs): p50/p95/p99 with linear
  interpolation between closest ranks. Up to :data:`EXACT_PERCENTILES` durations (per
  group: the whole window, or the busiest workflows) they are computed from the rows:
  PostgreSQL with ``percentile_cont``; SQLite, which has no percentile aggregate, with
  window functions (each duration's rank and its group's size), which gives identical
  numbers. Beyond that they are estimated from the rollup's log-scale histogram, each
  rank's value taken as its bucket's geometric middle: within 9.05 % of the exact figure
  (``Durations.exact`` says which).
- Runs over time: the rollup's hour or day cells, plus ``date_trunc`` (PostgreSQL, in UTC)
  or ``strftime`` (SQLite) buckets of the rows read from ``executions``, with empty buckets
  filled in so a chart has a point per hour or day.
- Slowest steps: each ``step.completed``/``step.failed`` event of the window's latest
  :data:`STEP_SAMPLE` executions paired with the latest earlier ``step.started`` of the same
  step, averaged per (workflow, step).

SQLite's date functions work in milliseconds, so durations there have millisecond precision
(PostgreSQL: microseconds); every figure is rounded to milliseconds.
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
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
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
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
from db.execution_stats import bucket_bounds, cell_start, duration_us
from db.models import Execution, ExecutionLog, User, Workflow, execution_stats
from db.repositories.execution_stats import Cells, ExecutionStatsRepository, Tally

PERCENTILES = (0.5, 0.95, 0.99)
MAX_BUCKETS = 1000
DEFAULT_WINDOW = timedelta(days=7)
BUSIEST_WORKFLOWS = 50
SLOWEST_STEPS = 10
# Slowest steps read the step events of at most this many of the window's latest
# executions: the event log is ~10x the executions table, and a sample of this size ranks
# steps as reliably as the whole window would, at a bounded cost.
STEP_SAMPLE = 5000
# Percentiles are computed from the rows (exact) while a group has at most this many
# durations, and estimated from the rollup's histogram beyond (sorting is what costs).
EXACT_PERCENTILES = 20_000
ACTIVE_STATUSES = ("pending", "running", "waiting", "paused")
_BUCKET_STEP = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
_Range = tuple[datetime, datetime]


@dataclass(frozen=True)
class Scope:
    """Which executions a query covers."""

    since: datetime
    until: datetime
    owner_id: uuid.UUID | None = None  # None: every owner (admins); else own or shared
    workflow_id: uuid.UUID | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        where = [Execution.created_at >= self.since, Execution.created_at < self.until]
        return where + self.workflow_conditions(Execution.workflow_id)

    def workflow_conditions(self, column: Any) -> list[ColumnElement[bool]]:
        """The visibility of a ``workflow_id`` column (of executions or of the rollup)."""
        where: list[ColumnElement[bool]] = []
        if self.workflow_id is not None:
            where.append(column == self.workflow_id)
        if self.owner_id is not None:
            visible = select(Workflow.id).where(
                or_(Workflow.owner_id == self.owner_id, Workflow.shared.is_(True))
            )
            where.append(column.in_(visible))
        return where

    def between(self, since: datetime, until: datetime) -> Scope:
        return replace(self, since=since, until=until)


@dataclass(frozen=True)
class Plan:
    """Where a window's rows are read: rollup cells, partial hours, unfinished runs."""

    cells: Cells  # whole days and hours: ended runs from the rollup
    edges: tuple[_Range, ...]  # partial hours: every run from executions
    whole_hours: _Range | None  # unfinished runs of the cells, from executions


def plan(since: datetime, until: datetime, *, days: bool = True) -> Plan:
    """Cut ``[since, until)`` into whole days (if ``days``), whole hours and partial hours."""
    first_hour, last_hour = _ceil(since, "hour"), cell_start(until, "hour")
    if first_hour >= last_hour:
        return Plan(Cells(None, ()), ((since, until),), None)
    edges = tuple(r for r in ((since, first_hour), (last_hour, until)) if r[0] < r[1])
    first_day, last_day = _ceil(first_hour, "day"), cell_start(last_hour, "day")
    if days and first_day < last_day:
        hours = ((first_hour, first_day), (last_day, last_hour))
        cells = Cells((first_day, last_day), tuple(r for r in hours if r[0] < r[1]))
    else:
        cells = Cells(None, ((first_hour, last_hour),))
    return Plan(cells, edges, (first_hour, last_hour))


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
    await _without_jit(session)
    scope = Scope(window.since, window.until, owner_id=None if is_admin(user) else user.id)
    tallies = await _tallies(session, scope)
    busiest = sorted(tallies, key=lambda w: (-sum(tallies[w].counts.values()), str(w)))
    busiest = busiest[:BUSIEST_WORKFLOWS]
    names = await _workflow_names(session, busiest)
    durations = await _workflow_durations(session, scope, tallies, busiest)
    overall = Tally()
    for tally in tallies.values():
        overall.merge(tally)
    return AnalyticsSummary(
        window=window,
        total=sum(overall.counts.values()),
        counts=StatusCounts(**overall.counts),
        success_rate=_success_rate(overall.counts),
        durations=await _overall_durations(session, scope, overall),
        workflows=[
            _workflow_stats(w, names.get(w, ""), tallies[w].counts, durations) for w in busiest
        ],
        timeline=await _timeline(session, scope, window),
        slowest_steps=await _slowest_steps(session, scope),
    )


async def workflow_analytics(
    session: AsyncSession, user: User, workflow_id: uuid.UUID, window: Window
) -> WorkflowAnalytics:
    """The same figures for one workflow the caller may see (404 otherwise)."""
    await _without_jit(session)
    workflow = await visible_workflow(session, user, workflow_id)
    scope = Scope(window.since, window.until, workflow_id=workflow.id)
    tallies = await _tallies(session, scope)
    tallies.setdefault(workflow.id, Tally())
    durations = await _workflow_durations(session, scope, tallies, [workflow.id])
    return WorkflowAnalytics(
        window=window,
        workflow=_workflow_stats(
            workflow.id, workflow.name, tallies[workflow.id].counts, durations
        ),
        timeline=await _timeline(session, scope, window),
        slowest_steps=await _slowest_steps(session, scope),
    )


async def rebuild_rollup(
    sessions: async_sessionmaker[AsyncSession],
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """Recompute the rollup of every UTC day touching ``[since, until)``, a day per commit.

    Without bounds: every day the executions table holds. Returns the ended runs counted.
    For rows written around the ORM (bulk loads) or to repair a range; the ORM hooks keep
    the rollup current otherwise.
    """
    if since is None or until is None:
        async with sessions() as session:
            first, last = (
                await session.execute(
                    select(func.min(Execution.created_at), func.max(Execution.created_at))
                )
            ).one()
        if first is None:
            return 0
        since, until = since or first, until or last + timedelta(microseconds=1)
    day, counted = cell_start(_utc(since), "day"), 0
    while day < _utc(until):
        async with sessions() as session, session.begin():
            counted += await ExecutionStatsRepository(session).rebuild(day)
        day += _BUCKET_STEP["day"]
    return counted


async def active_execution_counts(session: AsyncSession) -> dict[str, int]:
    """Unfinished executions by status, for the ``headrace_executions_active`` gauge."""
    stmt = (
        select(Execution.status, func.count())
        .where(Execution.status.in_(ACTIVE_STATUSES))
        .group_by(Execution.status)
    )
    return {status: n for status, n in (await session.execute(stmt)).tuples()}


# --- the queries ----------------------------------------------------------------------


async def _tallies(session: AsyncSession, scope: Scope) -> dict[uuid.UUID, Tally]:
    """Per workflow: runs by status and completed durations, rollup + executions table."""
    where = plan(scope.since, scope.until)
    repo = ExecutionStatsRepository(session)
    tallies = await repo.tallies(
        where.cells, scope.workflow_conditions(execution_stats.c.workflow_id)
    )
    for since, until in where.edges:
        rows = select(
            Execution.workflow_id, Execution.status, Execution.started_at, Execution.completed_at
        ).where(*scope.between(since, until).conditions())
        for workflow_id, status, started, ended in (await session.execute(rows)).tuples():
            tally = tallies.setdefault(workflow_id, Tally())
            tally.add_runs(status, 1)
            took = duration_us(started, ended) if status == "completed" else None
            if took is not None:
                tally.add_duration(took)
    if where.whole_hours is not None:
        unfinished = (
            select(Execution.workflow_id, Execution.status, func.count())
            .where(
                Execution.status.in_(ACTIVE_STATUSES),
                *scope.between(*where.whole_hours).conditions(),
            )
            # status first: SQLite then reads the (status, created_at, workflow_id) index
            # instead of skip-scanning (workflow_id, created_at) over every run of the window
            .group_by(Execution.status, Execution.workflow_id)
        )
        for workflow_id, status, n in (await session.execute(unfinished)).tuples():
            tallies.setdefault(workflow_id, Tally()).add_runs(status, n)
    return tallies


async def _workflow_durations(
    session: AsyncSession,
    scope: Scope,
    tallies: Mapping[uuid.UUID, Tally],
    workflow_ids: Sequence[uuid.UUID],
) -> dict[uuid.UUID | None, Durations]:
    # The workflows with the fewest durations get exact percentiles, while the rows to sort
    # stay within EXACT_PERCENTILES; the others are estimated from their histograms.
    exact: list[uuid.UUID] = []
    budget = EXACT_PERCENTILES
    for workflow_id in sorted(workflow_ids, key=lambda w: tallies[w].timed):
        if tallies[workflow_id].timed > budget:
            break
        exact.append(workflow_id)
        budget -= tallies[workflow_id].timed
    durations = await _durations(session, scope, by_workflow=True, workflow_ids=exact)
    for workflow_id in workflow_ids:
        if workflow_id not in exact:
            durations[workflow_id] = _estimated(tallies[workflow_id])
    return durations


async def _overall_durations(session: AsyncSession, scope: Scope, overall: Tally) -> Durations:
    if overall.timed > EXACT_PERCENTILES:
        return _estimated(overall)
    exact = await _durations(session, scope, by_workflow=False)
    return exact.get(None, Durations(count=0))


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
    where = plan(window.since, window.until, days=window.bucket == "day")
    found: dict[datetime, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    visible = scope.workflow_conditions(execution_stats.c.workflow_id)
    for start, status, n in await ExecutionStatsRepository(session).runs_by_cell(
        where.cells, visible
    ):
        found[cell_start(start, window.bucket)][status] += n
    raw: list[tuple[Scope, Sequence[str] | None]] = [(scope.between(*r), None) for r in where.edges]
    if where.whole_hours is not None:
        raw.append((scope.between(*where.whole_hours), ACTIVE_STATUSES))
    for part, statuses in raw:
        for start, status, n in await _raw_timeline(session, part, window.bucket, statuses):
            found[start][status] += n
    return [
        TimeBucket(
            start=start,
            total=sum(found[start].values()),
            completed=found[start]["completed"],
            failed=found[start]["failed"],
        )
        for start in _bucket_starts(window)
    ]


async def _raw_timeline(
    session: AsyncSession, scope: Scope, bucket: Bucket, statuses: Iterable[str] | None
) -> list[tuple[datetime, str, int]]:
    start = _bucket_start(_dialect(session), bucket).label("bucket")
    where = scope.conditions()
    if statuses is not None:
        where.append(Execution.status.in_(statuses))
    stmt = (
        select(start, Execution.status, func.count())
        .where(*where)
        .group_by(start, Execution.status)
    )
    return [(_as_utc(b), status, n) for b, status, n in (await session.execute(stmt)).tuples()]


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


async def _without_jit(session: AsyncSession) -> None:
    # PostgreSQL JIT-compiles any plan whose estimated cost passes jit_above_cost; the
    # slowest-steps plan (correlated subqueries, estimated high, ~0.1 s to run) spent over
    # 1 s compiling. These queries are short: turn JIT off for this transaction.
    if _dialect(session) == "postgresql":
        await session.execute(text("SET LOCAL jit = off"))


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
        exact=True,
        count=int(count),
        p50=_round(p50),
        p95=_round(p95),
        p99=_round(p99),
        avg=_round(avg),
        max=_round(longest),
    )


def _estimated(tally: Tally) -> Durations:
    """Durations from a histogram: exact count, average and maximum; estimated percentiles."""
    if not tally.timed:
        return Durations(count=0)
    longest = (tally.max_us or 0) / 1e6
    return Durations(
        count=tally.timed,
        p50=_round(_histogram_percentile(tally.histogram, tally.timed, PERCENTILES[0], longest)),
        p95=_round(_histogram_percentile(tally.histogram, tally.timed, PERCENTILES[1], longest)),
        p99=_round(_histogram_percentile(tally.histogram, tally.timed, PERCENTILES[2], longest)),
        avg=_round(tally.sum_us / tally.timed / 1e6),
        max=_round(longest),
        exact=False,
    )


def _histogram_percentile(histogram: Sequence[int], n: int, p: float, longest: float) -> float:
    # The same definition as percentile_cont, with each rank's value estimated.
    position = p * (n - 1)
    k = int(position)
    low = _rank_value(histogram, k, longest)
    high = _rank_value(histogram, min(k + 1, n - 1), longest)
    return low + (high - low) * (position - k)


def _rank_value(histogram: Sequence[int], rank: int, longest: float) -> float:
    """The geometric middle of the bucket holding the ``rank``-th duration (0-based)."""
    seen = 0
    for bucket, n in enumerate(histogram):
        seen += n
        if seen > rank:
            low, high = bucket_bounds(bucket)
            if high is None:
                return longest  # the open last bucket: the maximum is the best bound
            middle = math.sqrt(low * high) if low > 0 else high / 2
            return min(middle, longest)
    return longest


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


def _ceil(moment: datetime, grain: str) -> datetime:
    start = cell_start(moment, grain)
    return start if start == moment else start + _BUCKET_STEP[grain]


def _bucket_starts(window: Window) -> list[datetime]:
    step = _BUCKET_STEP[window.bucket]
    start = cell_start(window.since, window.bucket)
    starts = []
    while start < window.until:
        starts.append(start)
        start += step
    return starts
