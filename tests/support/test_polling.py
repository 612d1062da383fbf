"""The tests' one way of waiting: poll until a condition holds, fail showing the last value."""

from __future__ import annotations

import httpx
import pytest

from tests.support.polling import eventually, eventually_sync


class TestEventually:
    async def test_returns_the_first_value_the_condition_accepts(self) -> None:
        calls = 0

        async def count() -> int:
            nonlocal calls
            calls += 1
            return calls

        assert await eventually(count, lambda n: n >= 3, interval=0.01) == 3

    async def test_fails_naming_what_was_awaited_and_the_last_value(self) -> None:
        async def state() -> dict[str, str]:
            return {"status": "running"}

        with pytest.raises(AssertionError, match=r"the run's end not reached .*'running'"):
            await eventually(
                state, lambda _: False, timeout=0.2, interval=0.05, what="the run's end"
            )

    async def test_a_response_is_shown_with_its_body(self) -> None:
        async def answer() -> httpx.Response:
            return httpx.Response(409, text="nothing waits for go")

        with pytest.raises(AssertionError, match="409 nothing waits for go"):
            await eventually(answer, lambda r: r.status_code == 202, timeout=0.1, interval=0.05)

    async def test_exceptions_fail_at_once_unless_they_mean_not_yet(self) -> None:
        async def broken() -> None:
            raise ValueError("broken")

        with pytest.raises(ValueError, match="broken"):
            await eventually(broken, timeout=5)


class TestEventuallySync:
    def test_retries_the_exceptions_it_is_told_mean_not_yet(self) -> None:
        attempts = 0

        def connect() -> bool:
            nonlocal attempts
            attempts += 1
            if attempts < 3:
                raise ConnectionRefusedError
            return True

        assert eventually_sync(connect, interval=0.01, retry_on=(ConnectionRefusedError,))
        assert attempts == 3

    async def test_a_lambda_returning_a_coroutine_is_awaited(self) -> None:
        async def answer() -> int:
            return 7

        assert await eventually(lambda: answer(), lambda n: n == 7) == 7
