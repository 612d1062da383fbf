"""``/hooks/{url_path}``: where the outside world calls webhooks (no user auth)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api.deps import ContextDep, SessionDep, TemporalClientDep
from api.errors import (
    AuthenticationFailed,
    HeadraceError,
    InvalidInput,
    MethodNotAllowed,
    NotFound,
    RateLimited,
)
from api.metrics import count_webhook
from api.problems import problem_response
from api.schemas.webhooks import HookAccepted
from api.services import webhook_intake

router = APIRouter(tags=["webhooks"])
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
# headrace_webhook_requests_total's outcome of each refusal (anything else counts as "error").
_REJECTIONS: dict[type[HeadraceError], str] = {
    AuthenticationFailed: "unauthorized",
    NotFound: "not_found",
    MethodNotAllowed: "method_not_allowed",
    InvalidInput: "invalid",
    RateLimited: "rate_limited",
}


async def receive(
    url_path: str,
    request: Request,
    response: Response,
    session: SessionDep,
    client: TemporalClientDep,
    ctx: ContextDep,
    wait: Annotated[bool, Query(description="Answer with the result, like a sync execute")] = False,
) -> HookAccepted | Response:
    """Start the webhook's workflow with ``{body, query, headers, method, event_type}``."""
    deps = webhook_intake.HookDeps(
        client=client,
        settings=ctx.settings,
        encryptor=ctx.encryptor,
        limiter=ctx.limiter,
    )
    call = webhook_intake.IncomingCall(
        url_path=url_path,
        method=request.method,
        headers=request.headers,
        query=request.query_params.multi_items(),
        body=await request.body(),
        wait=wait,
    )
    try:
        answer = await webhook_intake.receive(session, deps, call)
    except HeadraceError as exc:
        count_webhook(next((o for t, o in _REJECTIONS.items() if isinstance(exc, t)), "error"))
        raise
    count_webhook("duplicate" if answer.result.duplicate else "accepted")
    if answer.custom is not None:  # the definition's response (docs/definitions.md)
        custom = answer.custom
        return Response(
            custom.body, custom.status, headers=custom.headers, media_type=custom.media_type
        )
    if answer.problem is not None:
        return problem_response(answer.problem)
    response.status_code = answer.status_code
    return answer.result


# One route per method, so that each has its own OpenAPI operation id.
for _method in METHODS:
    router.add_api_route(
        "/hooks/{url_path:path}",
        receive,
        methods=[_method],
        name=f"receive_{_method.lower()}",
        response_model=HookAccepted,
        status_code=202,
        responses={
            200: {"model": HookAccepted, "description": "`?wait=true` and the run completed"},
            500: {
                "description": "`?wait=true` and the run failed or was cancelled "
                "(problem+json, type run-failed, with execution_id)"
            },
        },
    )
