"""The metadata tables. Temporal owns run state; these rows describe and index it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.base import Base, JSONType, TimestampedModel, UTCDateTime, utcnow
from db.execution_projection import TERMINAL
from db.execution_stats import HISTOGRAM_BUCKETS, histogram_column


class User(TimestampedModel):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), default="user")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Part of every JWT; raised by a password, role or disabled change to revoke older tokens.
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class RefreshToken(TimestampedModel):
    """One issued refresh token (``id`` is its ``jti``); each is good for one refresh.

    Tokens descending from one login share a ``family_id``; presenting a used token again
    revokes the whole family (OAuth 2.0 Security BCP, refresh token rotation).
    """

    __tablename__ = "refresh_tokens"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    family_id: Mapped[uuid.UUID] = mapped_column(index=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class ApiKey(TimestampedModel):
    __tablename__ = "api_keys"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(32), index=True)
    key_hash: Mapped[str] = mapped_column(String(128), unique=True)
    permissions: Mapped[list[str]] = mapped_column(JSONType, default=list)
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(lazy="joined")


class Workflow(TimestampedModel):
    __tablename__ = "workflows"

    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="active", index=True)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType)
    variables: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    triggers: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    source: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)

    __table_args__ = (Index("ix_workflows_owner_created", "owner_id", "created_at"),)


class WorkflowVersion(Base):
    __tablename__ = "workflow_versions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    workflow_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("workflow_id", "version"),)


# The runs that count against HEADRACE_MAX_UNFINISHED_RUNS_PER_USER (checked on every start),
# as literal SQL: a partial index serves only a query that repeats its WHERE, and SQLite
# matches the terms as written (a bound parameter list would not match), so the index and
# the quota query (db/repositories/executions.py) share this one text.
UNFINISHED = "status NOT IN (" + ", ".join(f"'{status}'" for status in sorted(TERMINAL)) + ")"


class Execution(TimestampedModel):
    __tablename__ = "executions"

    workflow_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    # The analytics rollup needs the values these held before a change (active_history).
    status: Mapped[str] = mapped_column(String(20), default="pending", active_history=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    input_data: Mapped[Any] = mapped_column(JSONType, nullable=True, default=None)
    variables: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    output_data: Mapped[Any] = mapped_column(JSONType, nullable=True, default=None)
    error_message: Mapped[str | None] = mapped_column(Text)
    steps: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    started_at: Mapped[datetime | None] = mapped_column(active_history=True)
    completed_at: Mapped[datetime | None] = mapped_column(active_history=True)
    temporal_workflow_id: Mapped[str] = mapped_column(String(200), unique=True)
    temporal_run_id: Mapped[str | None] = mapped_column(String(64))
    trigger_id: Mapped[uuid.UUID | None]
    trigger_type: Mapped[str] = mapped_column(String(20), default="manual")
    parent_execution_id: Mapped[uuid.UUID | None]
    retry_of: Mapped[uuid.UUID | None]  # the execution this one retries (redrive)
    # A redrive that reuses retry_of's completed outputs: a pending row is started again
    # from the row alone (api.services.executions.start_pending).
    reuses_outputs: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    last_event_seq: Mapped[int] = mapped_column(Integer, default=0)
    # `durable` (a Temporal run) or `express` (run in one process, express/); an express
    # run's process (HEADRACE_EXPRESS_RUNNER) marks its unfinished runs interrupted when it
    # starts again.
    execution_mode: Mapped[str] = mapped_column(
        String(20), default="durable", server_default="durable"
    )
    express_runner: Mapped[str | None] = mapped_column(String(200))

    # The created_at indexes also carry the columns analytics reads (status, timings), so its
    # counts, timelines and durations are index-only scans over the window; analytics counts
    # the unfinished runs of wide windows through (status, created_at, workflow_id).
    __table_args__ = (
        Index(
            "ix_executions_workflow_created",
            "workflow_id",
            "created_at",
            "status",
            "started_at",
            "completed_at",
        ),
        Index("ix_executions_status_created", "status", "created_at", "workflow_id"),
        Index(
            "ix_executions_express_unfinished",
            "express_runner",
            "status",
            postgresql_where=text("express_runner IS NOT NULL"),
            sqlite_where=text("express_runner IS NOT NULL"),
        ),
        Index(
            "ix_executions_created",
            "created_at",
            "workflow_id",
            "status",
            "started_at",
            "completed_at",
        ),
        # The start path's quota count: only the unfinished runs, a few per user.
        Index(
            "ix_executions_unfinished_by",
            "created_by",
            postgresql_where=text(UNFINISHED),
            sqlite_where=text(UNFINISHED),
        ),
    )


# The analytics rollup: ended executions per workflow and status, by the hour and by the day
# of their creation, with their durations (count, sum, longest, log-scale histogram, see
# db/execution_projection.py). Kept by the ORM hooks below; the analytics service reads whole
# days and hours of a window here and only the partial hours from ``executions``.
execution_stats = Table(
    "execution_stats",
    Base.metadata,
    Column("grain", String(4), primary_key=True),  # "hour" | "day"
    Column("start", UTCDateTime(), primary_key=True),
    Column(
        "workflow_id",
        Uuid(),
        ForeignKey("workflows.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("status", String(20), primary_key=True),
    Column("runs", Integer, nullable=False),
    Column("timed_runs", Integer, nullable=False),  # completed runs with both timestamps
    Column("duration_sum_us", BigInteger, nullable=False),
    Column("duration_max_us", BigInteger, nullable=True),
    # NULL rather than 0 for empty buckets: no storage for the many empty ones.
    *(Column(histogram_column(b), Integer, nullable=True) for b in range(HISTOGRAM_BUCKETS)),
    # Stored in key order on SQLite: a window's cells are one contiguous range of rows.
    sqlite_with_rowid=False,
)


class ExecutionLog(Base):
    """One event of an execution; ``seq`` is the per-execution monotonic SSE id."""

    __tablename__ = "execution_logs"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    execution_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("executions.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    # Who emitted it and where (workflow event n, or activity attempt m's event n): a retried
    # delivery of the same event is recognised and not stored twice.
    dedupe_key: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(40))
    step_id: Mapped[str | None] = mapped_column(String(200))
    attempt: Mapped[int | None] = mapped_column(Integer)
    level: Mapped[str] = mapped_column(String(10), default="info")
    message: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[Any] = mapped_column(JSONType, nullable=True, default=None)
    ts: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("execution_id", "seq"),
        UniqueConstraint("execution_id", "dedupe_key"),
        Index("ix_execution_logs_execution_type", "execution_id", "type"),
    )


class Trigger(TimestampedModel):
    __tablename__ = "triggers"

    workflow_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(20))
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    schedule_id: Mapped[str | None] = mapped_column(String(200), unique=True)


class Webhook(TimestampedModel):
    __tablename__ = "webhooks"

    workflow_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    trigger_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("triggers.id", ondelete="CASCADE")
    )
    url_path: Mapped[str] = mapped_column(String(200), unique=True)
    method: Mapped[str] = mapped_column(String(10), default="POST")
    event_type: Mapped[str] = mapped_column(String(200), default="webhook")
    auth_type: Mapped[str] = mapped_column(String(20), default="none")
    auth_config: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    secret_encrypted: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class WebhookSignature(Base):
    """A timestamped webhook signature already accepted: one use per signature.

    A signature is only valid within its timestamp's tolerance, so a row older than twice
    the tolerance can never match a valid call again and is deleted by the sweeper.
    """

    __tablename__ = "webhook_signatures"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class ApprovalLinkUse(Base):
    """A signed approve/reject link that has been used: each link decides once.

    The link itself (a JWT naming its ``jti``) is the credential; this row is what makes
    it one-time, on every API replica. A row outlives its link's expiry harmlessly.
    """

    __tablename__ = "approval_link_uses"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    execution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("executions.id", ondelete="CASCADE"), index=True
    )
    step_id: Mapped[str] = mapped_column(String(200))
    used_at: Mapped[datetime] = mapped_column(default=utcnow)


class Integration(TimestampedModel):
    __tablename__ = "integrations"

    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    credentials_encrypted: Mapped[str | None] = mapped_column(Text)


class Secret(TimestampedModel):
    __tablename__ = "secrets"

    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(200), unique=True)
    value_encrypted: Mapped[str] = mapped_column(Text)
    # Usable by every workflow's runs, not only its owner's; only an admin may set it.
    shared: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
