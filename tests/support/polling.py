"""Waiting in tests: poll what can be observed until it holds, never sleep a fixed time.

:func:`eventually` (and :func:`eventually_sync`, for threads and subprocess helpers) calls
``fetch`` until ``until(value)`` is true and returns that value; past the timeout it fails
with an ``AssertionError`` that names what was awaited and shows the last value seen. The
retrying is tenacity's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
from tenacity import (
    AsyncRetrying,
    RetryError,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_delay,
    wait_fixed,
)

T = TypeVar("T")


def _truthy(value: object) -> bool:
    return bool(value)


async def eventually(
    fetch: Callable[[], Awaitable[T]],
    until: Callable[[T], object] = _truthy,
    *,
    timeout: float = 20,
    interval: float = 0.1,
    what: str = "the condition",
    retry_on: tuple[type[BaseException], ...] = (),
) -> T:
    """Await ``fetch()`` until ``until`` holds for its value; return that value.

    Args:
        fetch: What to observe (an API call, a query, a process's state).
        until: When the value is the one awaited (default: when it is truthy).
        timeout: Seconds before giving up.
        interval: Seconds between two calls.
        what: What is awaited, for the failure message.
        retry_on: Exceptions of ``fetch`` that mean "not yet" (others fail at once).

    Raises:
        AssertionError: ``until`` did not hold in time; the message shows the last value
            (or the last exception).
    """
    retrying = AsyncRetrying(
        stop=stop_after_delay(timeout),
        wait=wait_fixed(interval),
        retry=retry_if_result(lambda value: not until(value)) | retry_if_exception_type(retry_on),
    )

    async def attempt() -> T:  # tenacity calls a lambda that returns a coroutine without awaiting
        return await fetch()

    try:
        return await retrying(attempt)
    except RetryError as exc:
        raise AssertionError(_failure(what, timeout, exc)) from None


def eventually_sync(
    fetch: Callable[[], T],
    until: Callable[[T], object] = _truthy,
    *,
    timeout: float = 20,
    interval: float = 0.1,
    what: str = "the condition",
    retry_on: tuple[type[BaseException], ...] = (),
) -> T:
    """:func:`eventually` for code that cannot await (threads, subprocess helpers)."""
    retrying = Retrying(
        stop=stop_after_delay(timeout),
        wait=wait_fixed(interval),
        retry=retry_if_result(lambda value: not until(value)) | retry_if_exception_type(retry_on),
    )
    try:
        return retrying(fetch)
    except RetryError as exc:
        raise AssertionError(_failure(what, timeout, exc)) from None


def _failure(what: str, timeout: float, error: RetryError) -> str:
    last = error.last_attempt
    seen = repr(last.exception()) if last.failed else _shown(last.result())
    return f"{what} not reached in {timeout:g}s; last seen: {seen}"


def _shown(value: object) -> str:
    if isinstance(value, httpx.Response):  # its repr has the status only
        return f"{value.status_code} {value.text[:2000]}"
    return repr(value)
