"""Headrace configuration: one pydantic-settings class read from ``HEADRACE_*`` variables.

Fields are grouped by section (server, storage, Temporal, security, limits) in the order a
reader of ``.env.example`` would look for them. The object is built by :func:`get_settings`
(or directly in tests), never at import time.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Literal

from limits import parse
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["dev", "production", "test"]

KIB = 1024
MIB = 1024 * KIB


# Settings that may come from a file named by ``HEADRACE_<NAME>_FILE`` (mounted secrets).
FILE_SETTINGS = (
    "secret_key",
    "database_url",
    "redis_url",
    "s3_access_key",
    "s3_secret_key",
    "temporal_api_key",
    "admin_password",
)


class SettingsError(RuntimeError):
    """The configuration cannot be used to start a process."""


class Settings(BaseSettings):
    """Every ``HEADRACE_*`` setting of the product."""

    model_config = SettingsConfigDict(env_prefix="HEADRACE_", extra="ignore")

    # --- process -----------------------------------------------------------------------
    environment: Environment = Field(
        "production",
        description="`dev` for `headrace dev`, `production` for `headrace api`/`worker`.",
    )
    data_dir: Path = Field(
        Path(".headrace"),
        description="Where `headrace dev` keeps its SQLite files, secret key and artifacts.",
    )
    host: str = Field("127.0.0.1", description="Interface the API listens on.")
    port: int = Field(8000, description="Port of the API, dashboard and webhooks.")
    public_url: str | None = Field(
        None, description="Base URL users reach the API at (for webhook URLs); default host:port."
    )
    log_level: str = Field("INFO", description="Root log level.")
    log_format: Literal["text", "json"] | None = Field(
        None, description="`json` (default in production) or `text` (default in dev)."
    )

    # --- storage ----------------------------------------------------------------------
    database_url: str | None = Field(
        None,
        description="SQLAlchemy async URL; default SQLite in the data dir "
        "(production: postgresql+asyncpg://…).",
    )
    redis_url: str | None = Field(
        None, description="Redis for the event bus and rate limits; unset: in-process bus."
    )
    s3_endpoint: str | None = Field(
        None, description="S3/MinIO endpoint (host:port or URL); unset: artifacts on local disk."
    )
    s3_access_key: str | None = Field(None, description="S3 access key.")
    s3_secret_key: SecretStr | None = Field(None, description="S3 secret key.")
    s3_bucket: str = Field("headrace", description="Bucket for artifacts and large outputs.")
    s3_secure: bool | None = Field(
        None, description="Use TLS to S3; default from the endpoint's scheme (http → false)."
    )

    # --- Temporal ---------------------------------------------------------------------
    temporal_address: str = Field("127.0.0.1:7233", description="Temporal frontend host:port.")
    temporal_namespace: str = Field("default", description="Temporal namespace.")
    task_queue: str = Field("headrace", description="Task queue of the interpreter and steps.")
    temporal_ui_port: int = Field(8233, description="Port of the dev server's Web UI.")
    temporal_ui_url: str | None = Field(
        None, description="Base URL of the Temporal Web UI for links; default dev UI port."
    )
    temporal_tls: bool = Field(False, description="Connect to Temporal with TLS.")
    temporal_tls_cert: Path | None = Field(None, description="Client certificate (mTLS).")
    temporal_tls_key: Path | None = Field(None, description="Client private key (mTLS).")
    temporal_tls_ca: Path | None = Field(None, description="CA bundle of the server.")
    temporal_api_key: SecretStr | None = Field(
        None, description="API key for Temporal Cloud (implies TLS)."
    )

    # --- security ---------------------------------------------------------------------
    secret_key: SecretStr | None = Field(
        None, description="Signs JWTs and derives the key that encrypts credentials at rest."
    )
    access_token_minutes: int = Field(15, description="Lifetime of an access token.")
    refresh_token_days: int = Field(7, description="Lifetime of a refresh token.")
    login_max_failures: int = Field(
        10,
        ge=1,
        description="Failed logins for one account within a window before further attempts "
        "get 429 (a successful login resets the count).",
    )
    login_address_max_failures: int = Field(
        50,
        ge=1,
        description="Failed logins from one client address, across accounts, within a window "
        "before further attempts get 429.",
    )
    login_window_seconds: float = Field(
        900.0, gt=0, description="Length of the login throttle's counting window, in seconds."
    )
    password_hash_concurrency: int = Field(
        4,
        ge=1,
        description="Password hashes (argon2: ~64 MiB and one thread each) an API process "
        "computes at once; further logins wait their turn without holding a thread.",
    )
    admin_email: str | None = Field(None, description="Admin created or updated at start.")
    admin_password: SecretStr | None = Field(None, description="Password of that admin.")
    stream_auth_recheck: float = Field(
        5.0,
        gt=0,
        description="Seconds between re-checks of an open event stream's credentials and "
        "access (a disabled user's or revoked key's stream ends within this time).",
    )
    hsts: bool = Field(
        False,
        description="Send Strict-Transport-Security on plain-http requests too: set it when "
        "TLS is terminated by a proxy in front of the API (https requests always get it).",
    )
    allow_private_networks: bool | None = Field(
        None,
        description="Let `http` steps reach loopback/private addresses "
        "(default: true in dev, false in production).",
    )
    allow_headrace_ports: bool = Field(
        False,
        description="With private networks allowed, also let `http` steps reach Headrace's own "
        "ports on local addresses: the API, the Temporal frontend and Web UI, the metrics "
        "endpoints (refused by default: the Web UI can terminate any run).",
    )

    # --- limits -----------------------------------------------------------------------
    api_rate_limit: str = Field(
        "6000/minute",
        description="Requests to /api/v1 one API key or user may make, in a moving window "
        "(`limits` notation: `100/second`, `6000/minute`, `50000/hour`).",
    )
    api_anonymous_rate_limit: str = Field(
        "600/minute",
        description="Requests to /api/v1 one client address may make without credentials "
        "(login and webhooks have limits of their own).",
    )
    sync_wait: float = Field(30.0, description="Seconds a synchronous execute waits.")
    inline_limit: int = Field(
        256 * KIB, description="Step outputs above this size go to object storage."
    )
    max_body: int = Field(10 * MIB, description="Largest accepted request body, in bytes.")
    webhook_max_form_fields: int = Field(
        1000, description="Most fields (files included) of a form body a webhook call may have."
    )
    webhook_max_field_size: int = Field(
        1 * MIB, description="Largest single (non-file) form field of a webhook call, in bytes."
    )
    webhook_max_files: int = Field(20, description="Most file parts of a multipart webhook call.")
    webhook_timestamp_tolerance: int = Field(
        300,
        ge=1,
        description="Seconds an `X-Headrace-Timestamp` (or Stripe `t=`) may be away from now, "
        "for HMAC webhooks that do not set their own `tolerance`.",
    )

    # --- outages ------------------------------------------------------------------------
    temporal_start_timeout: float = Field(
        5.0,
        description="Seconds the API waits for Temporal to take a new run before it leaves "
        "the run pending (started later by the sweeper, or by the caller's retry).",
    )
    pending_sweep_interval: float = Field(
        5.0,
        description="Seconds between two sweeps of each API process over pending runs "
        "that Temporal has not taken yet (0: no sweeper).",
    )
    pending_start_after: float = Field(
        10.0,
        description="A pending run older than this many seconds without a Temporal run is "
        "started by the sweeper.",
    )
    redis_timeout: float = Field(
        0.5,
        description="Socket timeout of Redis calls on a request's path (rate limits); past it "
        "the API falls back to in-process limits.",
    )
    max_child_workflow_depth: int = Field(
        10,
        ge=0,
        description="How deep `workflow` steps may nest child runs; a step that would go "
        "deeper fails with ChildWorkflowDepthExceeded (a workflow calling itself ends there).",
    )
    max_foreach_items: int = Field(
        10_000,
        ge=1,
        description="Longest list a `foreach` may run over; longer fails the step with "
        "ForeachTooManyItems.",
    )
    local_step_max_timeout: float = Field(
        300.0,
        ge=0,
        description="Seconds: an http, n8n, storage or code step whose timeout is at most "
        "this runs as a Temporal local activity (in the worker that runs the workflow task, "
        "no task queue round trip); a step's `local` field overrides it; 0 runs every step "
        "as a regular activity. Local steps are at least once: see docs/performance.md.",
    )
    express_max_duration: float = Field(
        300.0,
        gt=0,
        description="Seconds an express run (`execution_mode: express`) may take; past it the "
        "run fails with ExpressTimeout (compensations run first).",
    )
    express_runner: str = Field(
        default_factory=lambda: os.environ.get("HOSTNAME") or os.uname().nodename,
        min_length=1,
        max_length=200,
        description="Name of this process as the runner of its express runs (default: the "
        "host name). When a process starts, the unfinished express runs recorded under its "
        "name are marked failed (`interrupted`): give each API process on one host its own.",
    )
    concurrency_reclaim_seconds: float = Field(
        30.0,
        gt=0,
        description="How often a workflow's concurrency limiter checks whether the runs "
        "holding its permits have closed without giving them back (e.g. terminated in "
        "Temporal's UI), and frees their permits.",
    )
    max_foreach_concurrency: int = Field(
        100,
        ge=1,
        description="Largest `concurrency` a step may ask for; more is a 422 when saved.",
    )
    max_backfill_runs: int = Field(
        1000,
        ge=1,
        description="Most runs one schedule backfill may start; a wider window is a 422.",
    )
    max_unfinished_runs_per_user: int = Field(
        200,
        ge=1,
        description="Most pending/running/waiting/paused runs one user may have; starting "
        "another is a 429. Webhook and schedule runs count against the workflow's owner.",
    )

    code_timeout: float = Field(
        5.0,
        gt=0,
        description="Seconds a `code` step's script may run when the step gives no `timeout`; "
        "past it the step fails with CodeTimeout.",
    )
    code_memory_mb: int = Field(
        64,
        ge=1,
        description="Memory (MiB) one `code` step's script may allocate; past it the step "
        "fails with CodeMemoryLimit.",
    )
    code_max_output: int = Field(
        MIB,
        ge=1,
        description="Largest result (characters of JSON) a `code` step may return; more fails "
        "the step with CodeOutputTooLarge.",
    )
    code_max_log_lines: int = Field(
        100,
        ge=0,
        description="console lines of one `code` step kept as run logs; later ones are dropped.",
    )
    code_max_log_line: int = Field(
        2000, ge=1, description="Longest console line of a `code` step; longer is cut."
    )
    code_max_concurrency: int = Field(
        2,
        ge=1,
        description="`code` scripts one worker runs at once (a thread each); more wait.",
    )

    # --- observability ------------------------------------------------------------------
    worker_metrics_port: int | None = Field(
        None,
        description="Port a `headrace worker` serves its `headrace_*` metrics on (`/metrics`, "
        "on HEADRACE_HOST); unset: not served (the API's `/metrics` has the API's own).",
    )
    temporal_metrics_port: int | None = Field(
        None,
        description="Port a `headrace worker`'s Temporal SDK Prometheus exporter listens on "
        "(on HEADRACE_HOST; metrics prefixed `headrace_temporal_`); unset: off.",
    )

    # --- scaling and upgrades (docs/deployment.md, "Sizing" and "Upgrades") -------------
    db_pool_size: int = Field(
        10,
        ge=1,
        description="PostgreSQL connections each API or worker process keeps open; PostgreSQL's "
        "max_connections must cover (processes) x (pool size + overflow).",
    )
    db_max_overflow: int = Field(
        20,
        ge=0,
        description="Extra PostgreSQL connections a process may open above the pool under load.",
    )
    db_statement_cache_size: int | None = Field(
        None,
        ge=0,
        description="asyncpg's prepared-statement cache per connection; set 0 behind PgBouncer "
        "in transaction pooling mode (unset: asyncpg's default, 100).",
    )
    migrate_on_start: bool = Field(
        True,
        description="`headrace api` upgrades the database schema at start; false when a "
        "migration Job runs `headrace migrate` (the app's role then needs no DDL rights).",
    )
    api_shutdown_grace: int = Field(
        10,
        ge=1,
        description="Seconds `headrace api` waits on SIGTERM for requests to finish; open event "
        "streams are ended at once with a reconnect hint.",
    )
    dev_worker: Literal["process", "inline"] = Field(
        "process",
        description="Where `headrace dev` runs its worker: a child process at a lower CPU "
        "priority (default), or `inline` in the API's process and event loop (one process "
        "less; webhook latency then shares the GIL with workflow tasks).",
    )
    worker_shutdown_grace: float = Field(
        30.0,
        ge=0,
        description="Seconds a worker gives running activities on SIGTERM before cancelling "
        "them (Temporal retries them elsewhere); keep the orchestrator's stop timeout above.",
    )
    worker_max_concurrent_workflow_tasks: int | None = Field(
        None, ge=1, description="Workflow task slots per worker (unset: SDK default, 100)."
    )
    worker_max_concurrent_activities: int | None = Field(
        None, ge=1, description="Activity (I/O step) slots per worker (unset: SDK default, 100)."
    )
    worker_workflow_task_pollers: int | None = Field(
        None, ge=1, description="Concurrent workflow task polls per worker (unset: SDK default, 5)."
    )
    worker_activity_task_pollers: int | None = Field(
        None, ge=1, description="Concurrent activity task polls per worker (unset: SDK default, 5)."
    )
    worker_max_cached_workflows: int | None = Field(
        None,
        ge=0,
        description="Runs a worker keeps in its sticky cache (unset: SDK default, 1000; each "
        "costs the run's state in memory, a miss costs a history replay).",
    )
    worker_target_memory: float | None = Field(
        None,
        gt=0,
        le=1,
        description="With worker_target_cpu: use the SDK's resource-based tuner aiming at this "
        "share of memory (0-1) instead of fixed slot counts.",
    )
    worker_target_cpu: float | None = Field(
        None, gt=0, le=1, description="Share of CPU (0-1) the resource-based tuner aims at."
    )
    worker_health_port: int | None = Field(
        None,
        description="Port a `headrace worker` answers `/livez` and `/readyz` on (on "
        "HEADRACE_HOST); unset: no health server.",
    )

    # --- retention ----------------------------------------------------------------------
    retention_days: int | None = Field(
        None,
        ge=1,
        description="Ended executions older than this many days are deleted with their events "
        "and stored objects (the analytics rollup keeps their counts); unset: keep forever.",
    )
    retention_cron: str = Field(
        "17 3 * * *",
        description="When the retention schedule runs (cron, UTC).",
    )
    retention_batch_size: int = Field(
        500, ge=1, description="Executions the retention job deletes per transaction."
    )

    # --- tracing ------------------------------------------------------------------------
    tracing: bool = Field(
        False,
        description="OpenTelemetry traces across API, Temporal and activities (exported with "
        "OTLP over HTTP to HEADRACE_OTLP_ENDPOINT).",
    )
    otlp_endpoint: str | None = Field(
        None,
        description="OTLP/HTTP traces URL (e.g. http://otel-collector:4318/v1/traces); unset: "
        "the exporter's OTEL_EXPORTER_OTLP_* variables apply.",
    )

    @field_validator("api_rate_limit", "api_anonymous_rate_limit")
    @classmethod
    def _rate_limit_parses(cls, value: str) -> str:
        try:
            parse(value)
        except ValueError as exc:
            raise ValueError(f"not a rate limit ({exc}); write e.g. `600/minute`") from None
        return value

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: object) -> object:
        """``HEADRACE_<NAME>_FILE`` variables: the setting's value is that file's content.

        Kubernetes and Docker mount secrets as files; reading them keeps the values out of
        the process environment (and so out of `ps e` and crash dumps).
        """
        if not isinstance(data, dict):
            return data
        for name in FILE_SETTINGS:
            path = os.environ.get(f"HEADRACE_{name.upper()}_FILE")
            if (
                path is None
                or data.get(name) is not None
                or f"HEADRACE_{name.upper()}" in os.environ
            ):
                continue
            try:
                data = {**data, name: Path(path).read_text().strip()}
            except OSError as exc:
                raise SettingsError(
                    f"HEADRACE_{name.upper()}_FILE: cannot read {path}: {exc}"
                ) from exc
        return data

    @model_validator(mode="after")
    def _refuse_missing_secret_in_production(self) -> Settings:
        if self.environment == "production" and self.secret_key is None:
            raise SettingsError(
                "HEADRACE_SECRET_KEY is not set: production processes refuse to start without "
                "it (it signs tokens and encrypts credentials). Generate one with "
                '`python -c "import secrets; print(secrets.token_urlsafe(48))"`.'
            )
        if self.secret_key is not None and len(self.secret_key.get_secret_value()) < 16:
            raise SettingsError("HEADRACE_SECRET_KEY must be at least 16 characters long.")
        return self

    @cached_property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'headrace.db').resolve()}"

    @property
    def private_networks_allowed(self) -> bool:
        if self.allow_private_networks is not None:
            return self.allow_private_networks
        return self.environment != "production"

    @property
    def headrace_ports(self) -> frozenset[int]:
        """The ports of Headrace's own services, which steps may not call on local addresses
        unless ``allow_headrace_ports`` says so."""
        if self.allow_headrace_ports:
            return frozenset()
        ports = {self.port, self.temporal_ui_port}
        ports |= {p for p in (self.worker_metrics_port, self.temporal_metrics_port) if p}
        _, _, temporal_port = self.temporal_address.rpartition(":")
        if temporal_port.isdigit():
            ports.add(int(temporal_port))
        return frozenset(ports)

    @property
    def effective_log_format(self) -> str:
        if self.log_format:
            return self.log_format
        return "json" if self.environment == "production" else "text"

    @property
    def temporal_ui_base(self) -> str:
        if self.temporal_ui_url:
            return self.temporal_ui_url.rstrip("/")
        host = self.temporal_address.rsplit(":", 1)[0]
        return f"http://{host}:{self.temporal_ui_port}"

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def signing_key(self) -> str:
        if self.secret_key is None:
            raise SettingsError("HEADRACE_SECRET_KEY is not set")
        return self.secret_key.get_secret_value()


def get_settings(**overrides: object) -> Settings:
    """Build the settings from the environment, with explicit overrides taking precedence."""
    return Settings(**overrides)  # type: ignore[arg-type]
