"""The request id travels with a run, so worker log lines name the request that started it.

The API's client puts the current request id (:data:`core.logging_config.request_id_var`)
in a Temporal header of each workflow it starts; the workflow passes that header on to its
activities and child workflows; each activity binds it, with the run's execution id (the
Temporal workflow id), to the log context for its whole duration. So every log line an
activity writes, through any logger, carries ``request_id`` and ``execution_id``.

Headers, not the memo: activities cannot read a memo, and headers are the SDK's channel for
exactly this (the OpenTelemetry interceptor carries its trace context the same way).
"""

from __future__ import annotations

from typing import Any

from temporalio import activity, client, worker
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadConverter

from core.logging_config import execution_id_var, request_id_var

REQUEST_ID_HEADER = "headrace-request-id"
_converter = PayloadConverter.default


class RunContextInterceptor(client.Interceptor, worker.Interceptor):
    """On the client: sends the request id. On a worker: carries it to the activities."""

    def intercept_client(self, next: client.OutboundInterceptor) -> client.OutboundInterceptor:
        return _ClientOutbound(next)

    def intercept_activity(
        self, next: worker.ActivityInboundInterceptor
    ) -> worker.ActivityInboundInterceptor:
        return _ActivityInbound(next)

    def workflow_interceptor_class(
        self, input: worker.WorkflowInterceptorClassInput
    ) -> type[worker.WorkflowInboundInterceptor]:
        return _WorkflowInbound


class _ClientOutbound(client.OutboundInterceptor):
    async def start_workflow(self, input: client.StartWorkflowInput) -> Any:
        request_id = request_id_var.get()
        if request_id:
            input.headers = {**input.headers, REQUEST_ID_HEADER: _converter.to_payload(request_id)}
        return await super().start_workflow(input)


class _WorkflowOutbound(worker.WorkflowOutboundInterceptor):
    request_id: Payload | None = None

    def _with_request_id(self, headers: Any) -> Any:
        if self.request_id is None:
            return headers
        return {**headers, REQUEST_ID_HEADER: self.request_id}

    def start_activity(self, input: worker.StartActivityInput) -> Any:
        input.headers = self._with_request_id(input.headers)
        return super().start_activity(input)

    def start_local_activity(self, input: worker.StartLocalActivityInput) -> Any:
        input.headers = self._with_request_id(input.headers)
        return super().start_local_activity(input)

    async def start_child_workflow(self, input: worker.StartChildWorkflowInput) -> Any:
        input.headers = self._with_request_id(input.headers)
        return await super().start_child_workflow(input)


class _WorkflowInbound(worker.WorkflowInboundInterceptor):
    def init(self, outbound: worker.WorkflowOutboundInterceptor) -> None:
        self._outbound = _WorkflowOutbound(outbound)
        super().init(self._outbound)

    async def execute_workflow(self, input: worker.ExecuteWorkflowInput) -> Any:
        self._outbound.request_id = input.headers.get(REQUEST_ID_HEADER)
        return await super().execute_workflow(input)


class _ActivityInbound(worker.ActivityInboundInterceptor):
    async def execute_activity(self, input: worker.ExecuteActivityInput) -> Any:
        payload = input.headers.get(REQUEST_ID_HEADER)
        request_id = _converter.from_payload(payload, str) if payload is not None else None
        request_token = request_id_var.set(request_id)
        execution_token = execution_id_var.set(activity.info().workflow_id)
        try:
            return await super().execute_activity(input)
        finally:
            execution_id_var.reset(execution_token)
            request_id_var.reset(request_token)
