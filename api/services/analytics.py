"""Analytics over executions, computed in SQL on SQLite and PostgreSQL alike.

Every figure covers the executions *created* in a window ``[since, until)`` that the caller
may see: admins see all, other users the executions of workflows they own or that are
shared.

Where the rows come from (so that a wide window costs about as much as a narrow one):

- The window is cut into whole UTC days, whole hours around them, and the partial hours at
  its two edges (:func:`plan`). Ended runs (completed, failed, cancelled) of whole days and
  hours are read from the ``execution_stats`` rollup (kept by the ORM hooks of
  :mod:`db.execution_stats`), the partial hours from ``executions``; unfinished runs,
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
- Tokens: the ``llm.usage`` events (one per answered model call of ``llm`` and ``agent``
  steps) of the window's executions, summed per (workflow, model) in SQL.

SQLite's date functions work in milliseconds, so durations there have millisecond precision
(PostgreSQL: microseconds); every figure is rounded to milliseconds.

The SQL is :class:`db.repositories.analytics.AnalyticsRepository`'s; this module decides which
rows to read and shapes the figures. Who sees what is :func:`api.services.access.visibility_filter`.

Why one module of this length: the window planning and the shaping of figures; its SQL is in
``db/repositories/analytics.py``.
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.errors import InvalidInput, ProblemDetail
from api.schemas.analytics import (
    AnalyticsSummary,
    Bucket,
    Durations,
    RunTokens,
    SlowStep,
    StatusCounts,
    TimeBucket,
    Tokens,
    TokenUsage,
    Window,
    WorkflowAnalytics,
    WorkflowStats,
)
from api.services.access import visible_workflow
from core.access import visibility_filter
from db.execution_stats import bucket_bounds, cell_start, duration_us
from db.models import User
from db.repositories.analytics import AnalyticsRepository, DurationFigures, Scope
from db.repositories.execution_stats import Cells, ExecutionStatsRepository, Tally

PERCENTILES = (0.5, 0.95, 0.99)
MAX_BUCKETS = 1000
DEFAULT_WINDOW = timedelta(days=7)
BUSIEST_WORKFLOWS = 50
SLOWEST_STEPS = 10
# (workflow, model) pairs of the token figures, most tokens first.
TOKEN_ROWS = 100
# Slowest steps read the step events of at most this many of the window's latest
# executions: the event log is ~10x the executions table, and a sample of this size ranks
# steps as reliably as the whole window would, at a bounded cost.
STEP_SAMPLE = 5000
# Percentiles are computed from the rows (exact) while a group has at most this many
# durations, and estimated from the rollup's histogram beyond (sorting is what costs).
EXACT_PERCENTILES = 20_000
ACTIVE_STATUSES = ("pending", "queued", "running", "waiting", "paused")
_BUCKET_STEP = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
_Range = tuple[datetime, datetime]


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
    repo = AnalyticsRepository(session)
    await repo.without_jit()
    scope = Scope(window.since, window.until, workflows=visibility_filter(user))
    tallies = await _tallies(repo, scope)
    busiest = sorted(tallies, key=lambda w: (-sum(tallies[w].counts.values()), str(w)))
    busiest = busiest[:BUSIEST_WORKFLOWS]
    names = await repo.workflow_names(busiest)
    durations = await _workflow_durations(repo, scope, tallies, busiest)
    overall = Tally()
    for tally in tallies.values():
        overall.merge(tally)
    return AnalyticsSummary(
        window=window,
        total=sum(overall.counts.values()),
        counts=StatusCounts(**overall.counts),
        success_rate=_success_rate(overall.counts),
        durations=await _overall_durations(repo, scope, overall),
        workflows=[
            _workflow_stats(w, names.get(w, ""), tallies[w].counts, durations) for w in busiest
        ],
        timeline=await _timeline(repo, scope, window),
        slowest_steps=await _slowest_steps(repo, scope),
        tokens=await _token_usage(repo, scope),
    )


async def workflow_analytics(
    session: AsyncSession, user: User, workflow_id: uuid.UUID, window: Window
) -> WorkflowAnalytics:
    """The same figures for one workflow the caller may see (404 otherwise)."""
    repo = AnalyticsRepository(session)
    await repo.without_jit()
    workflow = await visible_workflow(session, user, workflow_id)
    scope = Scope(window.since, window.until, workflow_id=workflow.id)
    tallies = await _tallies(repo, scope)
    tallies.setdefault(workflow.id, Tally())
    durations = await _workflow_durations(repo, scope, tallies, [workflow.id])
    return WorkflowAnalytics(
        window=window,
        workflow=_workflow_stats(
            workflow.id, workflow.name, tallies[workflow.id].counts, durations
        ),
        timeline=await _timeline(repo, scope, window),
        slowest_steps=await _slowest_steps(repo, scope),
        tokens=await _token_usage(repo, scope),
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
            first, last = await AnalyticsRepository(session).created_span()
        if first is None or last is None:
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
    return await AnalyticsRepository(session).count_by_status(ACTIVE_STATUSES)


# --- the queries ----------------------------------------------------------------------


async def _tallies(repo: AnalyticsRepository, scope: Scope) -> dict[uuid.UUID, Tally]:
    """Per workflow: runs by status and completed durations, rollup + executions table."""
    where = plan(scope.since, scope.until)
    tallies = await repo.rollup_tallies(scope, where.cells)
    for since, until in where.edges:
        for workflow_id, status, started, ended in await repo.runs(scope.between(since, until)):
            tally = tallies.setdefault(workflow_id, Tally())
            tally.add_runs(status, 1)
            took = duration_us(started, ended) if status == "completed" else None
            if took is not None:
                tally.add_duration(took)
    if where.whole_hours is not None:
        unfinished = scope.between(*where.whole_hours)
        for workflow_id, status, n in await repo.runs_by_status(unfinished, ACTIVE_STATUSES):
            tallies.setdefault(workflow_id, Tally()).add_runs(status, n)
    return tallies


async def _workflow_durations(
    repo: AnalyticsRepository,
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
    durations = await _durations(repo, scope, by_workflow=True, workflow_ids=exact)
    for workflow_id in workflow_ids:
        if workflow_id not in exact:
            durations[workflow_id] = _estimated(tallies[workflow_id])
    return durations


async def _overall_durations(repo: AnalyticsRepository, scope: Scope, overall: Tally) -> Durations:
    if overall.timed > EXACT_PERCENTILES:
        return _estimated(overall)
    exact = await _durations(repo, scope, by_workflow=False)
    return exact.get(None, Durations(count=0))


async def _durations(
    repo: AnalyticsRepository,
    scope: Scope,
    *,
    by_workflow: bool,
    workflow_ids: Sequence[uuid.UUID] | None = None,
) -> dict[uuid.UUID | None, Durations]:
    rows = await repo.durations(
        scope, PERCENTILES, by_workflow=by_workflow, workflow_ids=workflow_ids
    )
    return {group: _durations_row(figures) for group, figures in rows.items()}


async def _timeline(repo: AnalyticsRepository, scope: Scope, window: Window) -> list[TimeBucket]:
    where = plan(window.since, window.until, days=window.bucket == "day")
    found: dict[datetime, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for start, status, n in await repo.rollup_runs_by_cell(scope, where.cells):
        found[cell_start(start, window.bucket)][status] += n
    raw: list[tuple[Scope, Sequence[str] | None]] = [(scope.between(*r), None) for r in where.edges]
    if where.whole_hours is not None:
        raw.append((scope.between(*where.whole_hours), ACTIVE_STATUSES))
    for part, statuses in raw:
        for start, status, n in await repo.runs_by_bucket(part, window.bucket, statuses):
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


async def _slowest_steps(repo: AnalyticsRepository, scope: Scope) -> list[SlowStep]:
    rows = await repo.slowest_steps(scope, sample=STEP_SAMPLE, limit=SLOWEST_STEPS)
    return [
        SlowStep(
            workflow_id=workflow_id,
            workflow_name=name,
            step_id=step_id,
            runs=runs,
            avg_seconds=_round(avg_s) or 0.0,
            max_seconds=_round(max_s) or 0.0,
        )
        for workflow_id, name, step_id, runs, avg_s, max_s in rows
    ]


async def run_tokens(session: AsyncSession, execution_id: uuid.UUID) -> RunTokens | None:
    """The tokens an execution's model calls used (None when it made none)."""
    rows = await AnalyticsRepository(session).run_token_usage(execution_id)
    if not rows:
        return None
    total = RunTokens()
    for step_id, model, calls, prompt, completion, tokens in rows:
        for tally in (
            total,
            total.by_step.setdefault(step_id or "", Tokens()),
            total.by_model.setdefault(model, Tokens()),
        ):
            tally.calls += calls
            tally.prompt_tokens += int(prompt or 0)
            tally.completion_tokens += int(completion or 0)
            tally.total_tokens += int(tokens or 0)
    return total


async def _token_usage(repo: AnalyticsRepository, scope: Scope) -> list[TokenUsage]:
    rows = await repo.token_usage(scope, limit=TOKEN_ROWS)
    return [
        TokenUsage(
            workflow_id=workflow_id,
            workflow_name=name,
            model=model,
            calls=calls,
            prompt_tokens=int(prompt or 0),
            completion_tokens=int(completion or 0),
            total_tokens=int(total or 0),
        )
        for workflow_id, name, model, calls, prompt, completion, total in rows
    ]


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


def _durations_row(row: DurationFigures) -> Durations:
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
