"""The API-wide rate limit: every ``/api/v1`` request counts against its caller's budget.

Who is counted: an API key (by its hash), a user (by a verified access token, from the
``Authorization`` header or, on the event streams, ``?access_token=``), else the client's
address. Each gets ``HEADRACE_API_RATE_LIMIT`` (authenticated) or
``HEADRACE_API_ANONYMOUS_RATE_LIMIT`` (by address) in a moving window, counted by the
``limits`` library: in Redis when ``HEADRACE_REDIS_URL`` is set, so every API replica shares
one budget, else in this process. Redis is an accelerator, not a dependency: while it fails,
each replica counts in-process (a log line, ``headrace_dependency_fallbacks_total``).

Not counted here: health, metrics and the dashboard (outside ``/api/v1``), webhooks
(``/hooks``, each with its own per-webhook limit) and ``POST /api/v1/auth/token`` (the login
throttle). Every counted answer carries ``RateLimit-Limit``, ``RateLimit-Remaining`` and
``RateLimit-Reset`` (draft-ietf-httpapi-ratelimit-headers); over the budget it is a 429
problem with ``Retry-After``.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from urllib.parse import parse_qs

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import AuthenticationFailed, RateLimited
from api.problems import problem_response
from api.rate_limit import RedisFallback
from api.security import decode_token
from core.settings import Settings

COUNTED_PREFIX = "/api/v1/"
NOT_COUNTED = frozenset({"/api/v1/auth/token"})  # the login throttle counts logins


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_after: float  # seconds until the window frees a request

    def headers(self) -> list[tuple[bytes, bytes]]:
        reset = str(max(1, math.ceil(self.reset_after))).encode()
        return [
            (b"ratelimit-limit", str(self.limit).encode()),
            (b"ratelimit-remaining", str(self.remaining).encode()),
            (b"ratelimit-reset", reset),
        ]


class RequestLimiter:
    """Moving windows per caller, in Redis or in-process, falling back while Redis fails."""

    def __init__(self, settings: Settings) -> None:
        self.authenticated = parse(settings.api_rate_limit)
        self.anonymous = parse(settings.api_anonymous_rate_limit)
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self._shared: MovingWindowRateLimiter | None = None
        if settings.redis_url:
            storage = storage_from_string(
                "async+" + settings.redis_url,
                implementation="redispy",
                socket_timeout=settings.redis_timeout,
                socket_connect_timeout=settings.redis_timeout,
            )
            assert isinstance(storage, Storage)  # the async+ scheme gives the asyncio one
            self._shared = MovingWindowRateLimiter(storage)
        self._redis = RedisFallback("api_rate_limit")

    async def hit(self, item: RateLimitItem, caller: str) -> Verdict:
        if self._shared is None:
            return await self._count(self._local, item, caller)
        shared = self._shared
        return await self._redis.run(
            lambda: self._count(shared, item, caller),
            lambda: self._count(self._local, item, caller),
        )

    @staticmethod
    async def _count(limiter: MovingWindowRateLimiter, item: RateLimitItem, caller: str) -> Verdict:
        allowed = await limiter.hit(item, "headrace-api", caller)
        stats = await limiter.get_window_stats(item, "headrace-api", caller)
        return Verdict(
            allowed=allowed,
            limit=item.amount,
            remaining=max(0, stats.remaining),
            reset_after=max(0.0, stats.reset_time - time.time()),
        )


class RequestLimitMiddleware:
    """Counts each ``/api/v1`` request against its caller's budget (see the module doc)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.limiter = RequestLimiter(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(COUNTED_PREFIX) or path in NOT_COUNTED:
            await self.app(scope, receive, send)
            return
        item, caller = self._caller(scope)
        verdict = await self.limiter.hit(item, caller)
        if not verdict.allowed:
            error = RateLimited(
                detail=f"Over {item} for this caller; try again later",
                headers={"Retry-After": str(max(1, math.ceil(verdict.reset_after)))},
            )
            response = problem_response(error)
            response.raw_headers.extend(verdict.headers())
            await response(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *verdict.headers()]
            await send(message)

        await self.app(scope, receive, with_headers)

    def _caller(self, scope: Scope) -> tuple[RateLimitItem, str]:
        """The budget and the key of whoever sends this request."""
        headers = dict(scope.get("headers") or [])
        api_key = headers.get(b"x-api-key")
        if api_key:
            return self.limiter.authenticated, "key:" + hashlib.sha256(api_key).hexdigest()[:32]
        token = _bearer(headers.get(b"authorization")) or _query_token(scope)
        if token:
            try:
                claims = decode_token(token, self.settings.signing_key, "access")
            except AuthenticationFailed:
                pass  # a bad token is counted as anonymous, then refused by the route
            else:
                return self.limiter.authenticated, f"user:{claims.user_id}"
        client = scope.get("client")
        return self.limiter.anonymous, f"addr:{client[0] if client else 'unknown'}"


def _bearer(value: bytes | None) -> str | None:
    if value and value[:7].lower() == b"bearer ":
        return value[7:].decode("latin-1").strip() or None
    return None


def _query_token(scope: Scope) -> str | None:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    values = query.get("access_token")
    return values[0] if values else None
