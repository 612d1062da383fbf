"""Connecting to Temporal, shared by the API and the worker."""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio.client import Client, Interceptor
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

from api.errors import UpstreamUnavailable
from core.settings import Settings
from core.storage.codec import build_data_converter
from core.temporal_context import RunContextInterceptor
from core.tracing import temporal_tracing_interceptors


def _read(path: Path | None) -> bytes | None:
    return path.read_bytes() if path else None


def _tls_config(settings: Settings) -> TLSConfig | bool:
    if not (settings.temporal_tls or settings.temporal_api_key):
        return False
    if settings.temporal_tls_cert or settings.temporal_tls_ca:
        return TLSConfig(
            server_root_ca_cert=_read(settings.temporal_tls_ca),
            client_cert=_read(settings.temporal_tls_cert),
            client_private_key=_read(settings.temporal_tls_key),
        )
    return True


def client_interceptors(settings: Settings) -> list[Interceptor]:
    """The request id header always; OpenTelemetry's interceptor when tracing is on. Both
    are also worker interceptors: a worker built on this client applies them itself."""
    return [RunContextInterceptor(), *temporal_tracing_interceptors(settings)]


async def connect_temporal(
    settings: Settings, runtime: Runtime | None = None, *, lazy: bool = False
) -> Client:
    """Connect with the project's data converter (pydantic + claim-check codec over the
    object store) and the configured TLS / API key; ``runtime`` carries SDK telemetry.

    ``lazy``: connect on first use (and again on each use until it succeeds), so a client
    exists while Temporal is away; its calls then fail with ``RuntimeError("Failed client
    connect: …")`` (see :func:`connect_failed`) or an ``RPCError``.
    """
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=build_data_converter(settings),
        tls=_tls_config(settings),
        api_key=api_key,
        runtime=runtime,
        lazy=lazy,
        interceptors=client_interceptors(settings),
    )


def connect_failed(exc: BaseException) -> bool:
    """Whether ``exc`` is a lazy client's failure to reach Temporal (the SDK's own text)."""
    return isinstance(exc, RuntimeError) and str(exc).startswith("Failed client connect")


class TemporalGateway:
    """A lazily connected, shared Temporal client: the API starts even if Temporal is down,
    and runs accepted meanwhile stay pending until it is back."""

    # After a failed connect, callers fail at once for this long instead of queueing on the
    # lock for another connect timeout each.
    RETRY_CONNECT_AFTER = 2.0

    def __init__(self, settings: Settings, client: Client | None = None) -> None:
        self._settings = settings
        self._client = client
        self._lock = asyncio.Lock()
        self._failed_at = float("-inf")

    async def client(self) -> Client:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                loop = asyncio.get_running_loop()
                if loop.time() - self._failed_at < self.RETRY_CONNECT_AFTER:
                    raise self._unreachable()
                try:
                    self._client = await asyncio.wait_for(
                        connect_temporal(self._settings, lazy=True), 10
                    )
                except (RuntimeError, TimeoutError, OSError) as exc:
                    self._failed_at = loop.time()
                    raise self._unreachable() from exc
            return self._client

    def _unreachable(self) -> UpstreamUnavailable:
        return UpstreamUnavailable(
            detail=f"Temporal at {self._settings.temporal_address} is unreachable"
        )
