"""OpenTelemetry traces across API → Temporal → activity (``HEADRACE_TRACING``, off by default).

One trace per request: FastAPI's instrumentation opens the server span, the Temporal SDK's
``TracingInterceptor`` (on the client and, through it, on every worker built from that
client) carries the context in Temporal headers to the workflow and its activities, and the
worker's httpx instrumentation adds a span per outgoing call of an ``http`` step.

Spans go to an OTLP/HTTP collector (``HEADRACE_OTLP_ENDPOINT`` or the exporter's own
``OTEL_EXPORTER_OTLP_*`` variables). With tracing off nothing is instrumented: no span is
made and no header is added.
"""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from temporalio.client import Interceptor
from temporalio.contrib.opentelemetry import TracingInterceptor

from core.settings import Settings

# Probes and scrapes would be most of the spans and say nothing.
UNTRACED_URLS = "healthz,readyz,livez,metrics"


def configure_tracing(settings: Settings, service_name: str) -> None:
    """Install the process's tracer provider with the OTLP exporter (when tracing is on).

    A provider installed before (by a test, or by ``opentelemetry-instrument``) is kept.
    """
    if not settings.tracing or isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    # Imported here: the exporter pulls in protobuf encoders only tracing processes need.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otlp_endpoint))
    )
    trace.set_tracer_provider(provider)


def temporal_tracing_interceptors(settings: Settings) -> list[Interceptor]:
    """The SDK's tracing interceptor for a client (its workers inherit it), if tracing is on."""
    return [TracingInterceptor()] if settings.tracing else []


def instrument_api(app: FastAPI, settings: Settings) -> None:
    """A server span per API request (probes and /metrics excepted)."""
    if settings.tracing:
        FastAPIInstrumentor.instrument_app(app, excluded_urls=UNTRACED_URLS)


def instrument_http_client(client: httpx.AsyncClient, settings: Settings) -> None:
    """A client span per call of the worker's ``http`` steps."""
    if settings.tracing:
        HTTPXClientInstrumentor.instrument_client(client)
