"""The ``http`` step activity, run through ActivityEnvironment against a loopback server."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs, quote

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.http import HttpActivities, HttpRequestInput
from core.network_guard import GuardedBackend, build_guarded_client
from tests.activities.conftest import (
    BASIC_PASSWORD,
    BASIC_USER,
    BEARER_TOKEN,
    LoopbackServer,
)


def http_input(url: str, method: str = "GET", **fields: Any) -> HttpRequestInput:
    """An input for step ``s`` of execution ``e``."""
    return HttpRequestInput(step_id="s", execution_id="e", method=method, url=url, **fields)


async def run_ok(
    env: ActivityEnvironment, acts: HttpActivities, req: HttpRequestInput
) -> dict[str, Any]:
    result: dict[str, Any] = await env.run(acts.request, req)
    return result


async def run_failing(
    env: ActivityEnvironment, acts: HttpActivities, req: HttpRequestInput
) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await env.run(acts.request, req)
    return caught.value


def marker() -> str:
    return uuid.uuid4().hex


class TestRequestShape:
    """Method, headers, query and body reach the server as the step describes them."""

    @pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
    async def test_each_method_is_sent(
        self,
        env: ActivityEnvironment,
        acts: HttpActivities,
        http_server: LoopbackServer,
        method: str,
    ) -> None:
        out = await run_ok(env, acts, http_input(http_server.url("/echo"), method))
        assert out["status"] == 200
        assert out["body"]["method"] == method

    async def test_head_returns_status_and_headers_without_body(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer
    ) -> None:
        out = await run_ok(env, acts, http_input(http_server.url("/echo"), "HEAD"))
        assert out["status"] == 200
        assert out["body"] == ""
        assert out["headers"]["content-type"] == "application/json"

    async def test_method_is_case_insensitive(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer
    ) -> None:
        out = await run_ok(env, acts, http_input(http_server.url("/echo"), "post"))
        assert out["body"]["method"] == "POST"

    async def test_headers_are_sent(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer
    ) -> None:
        req = http_input(http_server.url("/echo"), headers={"X-Trace": "abc", "Accept": "a/b"})
        headers = (await run_ok(env, acts, req))["body"]["headers"]
        assert headers["x-trace"] == "abc"
        assert headers["accept"] == "a/b"

    async def test_header_values_that_templates_made_numbers_or_booleans_are_sent_as_text(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer
    ) -> None:
        # `"X-Count": "{{ input.n }}"` renders to the number itself, not to its text.
        sent: dict[str, Any] = {"X-Count": 3, "X-Ratio": 0.5, "X-Flag": True, "X-Ids": [1, 2]}
        req = http_input(http_server.url("/echo"), headers=sent)
        headers = (await run_ok(env, acts, req))["body"]["headers"]
        assert headers["x-count"] == "3"
        assert headers["x-ratio"] == "0.5"
        assert headers["x-flag"] == "true"
        assert headers["x-ids"] == "[1, 2]"

    async def test_query_is_merged_with_the_url_query(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer
    ) -> None:
        req = http_input(
            http_server.url("/echo?a=1"), query={"b": "two", "n": 3, "tags": ["x", "y"]}
        )
        query = (await run_ok(env, acts, req))["body"]["query"]
        assert query == [["a", "1"], ["b", "two"], ["n", "3"], ["tags", "x"], ["tags", "y"]]

    async def test_json_body(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer
    ) -> None:
        req = http_input(http_server.url("/echo"), "POST", json={"a": [1, 2], "b": None})
        echoed = (await run_ok(env, acts, req))["body"]
        assert echoed["headers"]["content-type"] == "application/json"
        assert httpx.Response(200, content=echoed["body"]).json() == {"a": [1, 2], "b": None}

    async def test_raw_body(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer
    ) -> None:
        req = http_input(
            http_server.url("/echo"),
            "PUT",
            body="<x>ü</x>",
            headers={"Content-Type": "application/xml"},
        )
        echoed = (await run_ok(env, acts, req))["body"]
        assert echoed["body"] == "<x>ü</x>"
        assert echoed["headers"]["content-type"] == "application/xml"

    async def test_form_body(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer
    ) -> None:
        req = http_input(http_server.url("/echo"), "POST", form={"name": "Ada L", "n": "1"})
        echoed = (await run_ok(env, acts, req))["body"]
        assert echoed["headers"]["content-type"] == "application/x-www-form-urlencoded"
        assert parse_qs(echoed["body"]) == {"name": ["Ada L"], "n": ["1"]}


class TestAuthentication:
    """``auth`` adds basic or bearer credentials."""

    async def test_basic_auth(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer
    ) -> None:
        auth = {"type": "basic", "username": BASIC_USER, "password": BASIC_PASSWORD}
        out = await run_ok(env, acts, http_input(http_server.url("/auth/basic"), auth=auth))
        assert out == {**out, "status": 200, "body": {"user": BASIC_USER}}

    async def test_bearer_auth(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer
    ) -> None:
        auth = {"type": "bearer", "token": BEARER_TOKEN}
        out = await run_ok(env, acts, http_input(http_server.url("/auth/bearer"), auth=auth))
        assert out["body"] == {"token": "ok"}

    async def test_wrong_credentials_are_a_client_error(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer
    ) -> None:
        auth = {"type": "bearer", "token": "wrong-token"}
        err = await run_failing(env, acts, http_input(http_server.url("/auth/bearer"), auth=auth))
        assert (err.type, err.non_retryable) == ("HttpClientError", True)
        assert "wrong-token" not in str(err)

    @pytest.mark.parametrize(
        "auth", [{"type": "digest"}, {"type": "basic", "username": "u"}, {"type": "bearer"}]
    )
    async def test_malformed_auth_is_an_invalid_request(
        self,
        env: ActivityEnvironment,
        acts: HttpActivities,
        http_server: LoopbackServer,
        auth: dict[str, str],
    ) -> None:
        err = await run_failing(env, acts, http_input(http_server.url("/json"), auth=auth))
        assert (err.type, err.non_retryable) == ("HttpInvalidRequest", True)


class TestResponseOutput:
    """The output is ``{status, headers, body}`` with the body decoded by content type."""

    async def test_json_is_parsed(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer
    ) -> None:
        out = await run_ok(env, acts, http_input(http_server.url("/json")))
        assert out["status"] == 200
        assert out["body"] == {"hello": "world", "n": 1}
        assert "body_encoding" not in out

    async def test_plus_json_media_types_are_parsed(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer
    ) -> None:
        out = await run_ok(env, acts, http_input(http_server.url("/problem")))
        assert out["body"] == {"title": "teapot"}

    async def test_mislabelled_json_falls_back_to_text(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer
    ) -> None:
        out = await run_ok(env, acts, http_input(http_server.url("/mislabelled")))
        assert out["body"] == "not json"

    async def test_text_is_decoded(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer
    ) -> None:
        out = await run_ok(env, acts, http_input(http_server.url("/text")))
        assert out["body"] == "héllo wörld"

    async def test_declared_charset_is_honoured(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer
    ) -> None:
        out = await run_ok(env, acts, http_input(http_server.url("/latin1")))
        assert out["body"] == "café"

    async def test_binary_is_base64(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer
    ) -> None:
        out = await run_ok(env, acts, http_input(http_server.url("/binary")))
        assert out["body_encoding"] == "base64"
        assert base64.b64decode(out["body"]) == bytes(range(256))

    async def test_header_names_are_lower_case_and_repeats_joined(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer
    ) -> None:
        out = await run_ok(env, acts, http_input(http_server.url("/repeated")))
        assert out["headers"]["x-multi"] == "a, b"
        assert all(name == name.lower() for name in out["headers"])

    async def test_no_content(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer
    ) -> None:
        out = await run_ok(env, acts, http_input(http_server.url("/status/204"), "DELETE"))
        assert (out["status"], out["body"]) == (204, "")


class TestStatusHandling:
    """2xx/3xx succeed; 5xx, 408 and 429 retry; other 4xx fail at once; expect_status wins."""

    @pytest.mark.parametrize("code", [404, 400, 401, 403, 409, 422])
    async def test_client_errors_are_not_retryable(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer, code: int
    ) -> None:
        err = await run_failing(env, acts, http_input(http_server.url(f"/status/{code}")))
        assert (err.type, err.non_retryable) == ("HttpClientError", True)
        assert err.details == ({"status": code, "body": f'{{"code": {code}}}'},)

    @pytest.mark.parametrize("code", [500, 502, 503, 504, 408])
    async def test_server_errors_are_retryable(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer, code: int
    ) -> None:
        err = await run_failing(env, acts, http_input(http_server.url(f"/status/{code}")))
        assert (err.type, err.non_retryable) == ("HttpServerError", False)
        assert err.details[0]["status"] == code

    async def test_429_honours_retry_after_seconds(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer
    ) -> None:
        err = await run_failing(env, acts, http_input(http_server.url("/too-many?after=12")))
        assert (err.type, err.non_retryable) == ("HttpTooManyRequests", False)
        assert err.next_retry_delay == timedelta(seconds=12)

    async def test_429_honours_retry_after_http_date(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer
    ) -> None:
        when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
        url = http_server.url(f"/too-many?after={quote(when)}")
        err = await run_failing(env, acts, http_input(url))
        assert err.next_retry_delay is not None
        assert timedelta(seconds=20) < err.next_retry_delay <= timedelta(seconds=30)

    async def test_429_with_an_unparseable_retry_after_leaves_the_delay_to_the_policy(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer
    ) -> None:
        err = await run_failing(env, acts, http_input(http_server.url("/too-many?after=soon")))
        assert err.type == "HttpTooManyRequests"
        assert err.next_retry_delay is None

    async def test_503_honours_retry_after(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer
    ) -> None:
        err = await run_failing(env, acts, http_input(http_server.url("/unavailable")))
        assert (err.type, err.next_retry_delay) == ("HttpServerError", timedelta(seconds=7))

    @pytest.mark.parametrize("code", [404, 500, 429, 418])
    async def test_expected_statuses_are_successes(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer, code: int
    ) -> None:
        req = http_input(http_server.url(f"/status/{code}"), expect_status=[code])
        out = await run_ok(env, acts, req)
        assert (out["status"], out["body"]) == (code, {"code": code})

    async def test_each_attempt_sends_exactly_one_request(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer
    ) -> None:
        # Retrying is Temporal's job: two failing attempts, then the third succeeds.
        req = http_input(http_server.url(f"/flaky/{marker()}?fails=2"))
        for _ in range(2):
            assert (await run_failing(env, acts, req)).type == "HttpServerError"
        assert (await run_ok(env, acts, req))["body"] == {"attempt": 3}

    async def test_messages_hide_query_strings_and_credentials(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer
    ) -> None:
        url = http_server.url("/status/500?api_key=QUERYSECRET").replace("//", "//u:USERINFO@")
        auth = {"type": "bearer", "token": "TOKENSECRET"}
        err = await run_failing(env, acts, http_input(url, "POST", auth=auth))
        text = f"{err} {err.details}"
        assert f"POST http://127.0.0.1:{http_server.port}/status/500 returned 500" in text
        for secret in ("QUERYSECRET", "USERINFO", "TOKENSECRET"):
            assert secret not in text


class TestRedirects:
    """Redirects are followed unless ``follow_redirects`` is false."""

    async def test_redirects_are_followed(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer
    ) -> None:
        out = await run_ok(env, acts, http_input(http_server.url("/redirect?to=/json")))
        assert (out["status"], out["body"]) == (200, {"hello": "world", "n": 1})

    async def test_307_keeps_method_and_body(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer
    ) -> None:
        url = http_server.url("/redirect?to=/echo&status=307")
        out = await run_ok(env, acts, http_input(url, "POST", body="payload"))
        assert (out["body"]["method"], out["body"]["body"]) == ("POST", "payload")

    async def test_unfollowed_redirect_is_the_result(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer
    ) -> None:
        req = http_input(http_server.url("/redirect?to=/json"), follow_redirects=False)
        out = await run_ok(env, acts, req)
        assert (out["status"], out["headers"]["location"]) == (302, "/json")

    async def test_redirect_loops_fail_without_retry(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer
    ) -> None:
        err = await run_failing(env, acts, http_input(http_server.url("/loop")))
        assert (err.type, err.non_retryable) == ("HttpTooManyRedirects", True)

    async def test_redirect_to_another_scheme_is_invalid(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer
    ) -> None:
        url = http_server.url("/redirect?to=ftp://example.com/file")
        err = await run_failing(env, acts, http_input(url))
        assert (err.type, err.non_retryable) == ("HttpInvalidRequest", True)

    async def test_a_hop_to_another_origin_drops_the_steps_own_headers(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer
    ) -> None:
        """An API key in a custom header must not follow a redirect to another host (here
        localhost vs 127.0.0.1: another origin); harmless headers do."""
        elsewhere = f"http://localhost:{http_server.port}/echo"
        url = http_server.url(f"/redirect?to={elsewhere}")
        headers = {"X-Api-Key": "KEYSECRET", "Accept": "application/json"}
        auth = {"type": "bearer", "token": "TOKENSECRET"}
        out = await run_ok(env, acts, http_input(url, headers=headers, auth=auth))
        received = {k.lower(): v for k, v in out["body"]["headers"].items()}
        assert "x-api-key" not in received and "authorization" not in received
        assert received["accept"] == "application/json"

    async def test_a_hop_within_the_origin_keeps_them(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer
    ) -> None:
        url = http_server.url("/redirect?to=/echo")
        out = await run_ok(env, acts, http_input(url, headers={"X-Api-Key": "KEY"}))
        assert {k.lower(): v for k, v in out["body"]["headers"].items()}["x-api-key"] == "KEY"


class TestNetworkFailures:
    """Failures without a response are retryable network errors."""

    async def test_connection_refused_is_retryable(
        self, env: ActivityEnvironment, acts: HttpActivities, closed_port: int
    ) -> None:
        url = f"http://127.0.0.1:{closed_port}/x?token=QUERYSECRET"
        err = await run_failing(env, acts, http_input(url))
        assert (err.type, err.non_retryable) == ("HttpNetworkError", False)
        assert "QUERYSECRET" not in str(err)

    async def test_timeout_is_retryable(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer
    ) -> None:
        req = http_input(http_server.url("/slow?seconds=2"), timeout_seconds=0.3)
        err = await run_failing(env, acts, req)
        assert (err.type, err.non_retryable) == ("HttpNetworkError", False)
        assert "timed out" in str(err)

    async def test_dns_failure_is_retryable(self, env: ActivityEnvironment) -> None:
        async def no_such_host(host: str, port: int) -> list[str]:
            raise OSError(f"cannot resolve {host}")

        client = build_guarded_client(GuardedBackend(resolve=no_such_host))
        async with client:
            err = await run_failing(env, HttpActivities(client), http_input("http://nx.test/"))
        assert (err.type, err.non_retryable) == ("HttpNetworkError", False)


class TestInvalidRequests:
    """Inputs no retry can fix fail at once, before anything is sent."""

    @pytest.mark.parametrize(
        "url", ["ftp://example.com/f", "file:///etc/passwd", "/relative", "http://", "not a url"]
    )
    async def test_only_absolute_http_urls(
        self, env: ActivityEnvironment, acts: HttpActivities, url: str
    ) -> None:
        err = await run_failing(env, acts, http_input(url))
        assert (err.type, err.non_retryable) == ("HttpInvalidRequest", True)

    async def test_at_most_one_body(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer
    ) -> None:
        req = http_input(http_server.url("/echo"), "POST", json={"a": 1}, body="x")
        err = await run_failing(env, acts, req)
        assert (err.type, err.non_retryable) == ("HttpInvalidRequest", True)

    async def test_bad_method(self, env: ActivityEnvironment, acts: HttpActivities) -> None:
        err = await run_failing(env, acts, http_input("http://127.0.0.1/", "GET /x HTTP/1.1"))
        assert err.type == "HttpInvalidRequest"

    async def test_header_values_that_cannot_be_sent(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer
    ) -> None:
        mark = marker()
        req = http_input(http_server.url(f"/echo?m={mark}"), headers={"X-Bad": "a\r\nX-I: b"})
        err = await run_failing(env, acts, req)
        assert (err.type, err.non_retryable) == ("HttpInvalidRequest", True)
        assert "X-I" not in str(err)
        assert not http_server.saw(mark)


class TestResponseSize:
    """Bodies are streamed, capped at ``max_response_bytes``, and reported as they arrive."""

    @pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
    async def test_bodies_over_the_cap_fail_without_retry(
        self,
        env: ActivityEnvironment,
        acts: HttpActivities,
        http_server: LoopbackServer,
        declared: bool,
    ) -> None:
        url = http_server.url("/big?size=300000" + ("&length=1" if declared else ""))
        err = await run_failing(env, acts, http_input(url, max_response_bytes=100_000))
        assert (err.type, err.non_retryable) == ("HttpResponseTooLarge", True)

    async def test_the_cap_applies_to_decompressed_bytes(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer
    ) -> None:
        req = http_input(http_server.url("/gzip-bomb"), max_response_bytes=100_000)
        assert (await run_failing(env, acts, req)).type == "HttpResponseTooLarge"

    async def test_a_body_at_the_cap_is_fine(
        self, env: ActivityEnvironment, acts: HttpActivities, http_server: LoopbackServer
    ) -> None:
        req = http_input(http_server.url("/big?size=100000"), max_response_bytes=100_000)
        assert len((await run_ok(env, acts, req))["body"]) == 100_000

    async def test_big_bodies_heartbeat_and_report_progress(
        self,
        env: ActivityEnvironment,
        open_client: httpx.AsyncClient,
        http_server: LoopbackServer,
        heartbeats: list[tuple[Any, ...]],
    ) -> None:
        progress: list[int] = []

        async def on_progress(bytes_read: int) -> None:
            progress.append(bytes_read)

        size = 3 * 1024 * 1024 + 10
        acts = HttpActivities(open_client, on_progress=on_progress)
        await run_ok(env, acts, http_input(http_server.url(f"/big?size={size}")))
        assert progress[-1] == size
        assert len(progress) >= 4
        assert progress == sorted(progress)
        assert heartbeats[-1] == (size,)

    async def test_a_failing_progress_sink_does_not_fail_the_request(
        self, env: ActivityEnvironment, open_client: httpx.AsyncClient, http_server: LoopbackServer
    ) -> None:
        async def broken(bytes_read: int) -> None:
            raise RuntimeError("event bus down")

        acts = HttpActivities(open_client, on_progress=broken)
        assert (await run_ok(env, acts, http_input(http_server.url("/json"))))["status"] == 200

    async def test_runs_outside_an_activity_too(
        self, acts: HttpActivities, http_server: LoopbackServer
    ) -> None:
        # No heartbeat without an activity context: handy for scripts and the CLI.
        out = await acts.request(http_input(http_server.url("/big?size=10")))
        assert out["body"] == "x" * 10
