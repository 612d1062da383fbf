"""Structured logs of the production processes: JSON lines with ids, and no secrets."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator

import pytest
from temporalio.exceptions import ApplicationError

from core.logging_config import configure_logging, log_context, request_id_var
from core.settings import Settings
from tests.conftest import SECRET_KEY
from tests.support.runner import Runner
from tests.support.target_server import TargetServer


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(err: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


@pytest.mark.usefixtures("restore_root_logger")
class TestJsonLogs:
    def test_production_logs_are_json_lines_carrying_the_ids(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        configure_logging(Settings(environment="production", secret_key=SECRET_KEY))
        token = request_id_var.set("req-7")
        try:
            with log_context(execution_id="exec-1", step_id="fetch"):
                logging.getLogger("headrace.test").info("step %s ran", "fetch", extra={"ms": 12})
            logging.getLogger("headrace.test").warning("after the step")
        finally:
            request_id_var.reset(token)
        inside, after = lines(capsys.readouterr().err)
        assert inside["message"] == "step fetch ran"
        assert inside["level"] == "info"
        assert inside["logger"] == "headrace.test"
        assert (inside["request_id"], inside["execution_id"], inside["step_id"]) == (
            "req-7",
            "exec-1",
            "fetch",
        )
        assert inside["ms"] == 12
        assert "step_id" not in after and after["request_id"] == "req-7"

    def test_secrets_never_reach_a_line(self, capsys: pytest.CaptureFixture[str]) -> None:
        configure_logging(Settings(environment="production", secret_key=SECRET_KEY))
        log = logging.getLogger("headrace.test")
        log.info("calling with Authorization: Bearer eyJhbGciOi.payload.sig")
        log.info("key hr_abcdefghijklmnop used; url postgresql://app:hunter2@db/x?token=abc")
        log.info("login", extra={"password": "hunter2", "api_key": "k", "user": "ada"})
        try:
            raise ValueError("password=hunter2 rejected")
        except ValueError:
            log.exception("failed")
        err = capsys.readouterr().err
        for secret in ("eyJhbGciOi", "hr_abcdefghijklmnop", "hunter2", "token=abc"):
            assert secret not in err
        login = next(line for line in lines(err) if line["message"] == "login")
        assert login["password"] == "[redacted]" and login["user"] == "ada"


@pytest.mark.usefixtures("restore_root_logger")
class TestTextLogs:
    def test_dev_logs_are_readable_text_with_the_ids(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        configure_logging(Settings(environment="dev", secret_key=SECRET_KEY))
        with log_context(execution_id="exec-2"):
            logging.getLogger("headrace.test").info("hello")
        err = capsys.readouterr().err.strip()
        assert err.endswith("INFO headrace.test [exec=exec-2]: hello")


@pytest.mark.usefixtures("restore_root_logger")
class TestNoisyLibraries:
    def test_http_client_request_lines_with_query_strings_are_not_logged(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        configure_logging(Settings(environment="production", secret_key=SECRET_KEY))
        logging.getLogger("httpx").info('HTTP Request: GET https://x.test/?token=s3cr3t "200 OK"')
        assert "s3cr3t" not in capsys.readouterr().err


@pytest.mark.usefixtures("restore_root_logger")
class TestExpectedRetries:
    """A step's target answering 503 is retried by design: one WARNING line per attempt."""

    async def test_a_503_retry_logs_one_line_and_no_traceback(
        self, capsys: pytest.CaptureFixture[str], runner: Runner, target: TargetServer
    ) -> None:
        configure_logging(Settings(environment="production", secret_key=SECRET_KEY))
        key = f"logs-{uuid.uuid4().hex[:8]}"
        definition = {
            "steps": [
                {
                    "id": "call",
                    "type": "http",
                    "with": {"url": target.url(f"/flaky/{key}?fail=1")},
                    "retry": {"max_attempts": 2, "initial_interval": "100ms"},
                }
            ]
        }
        execution = await runner.run(definition)
        assert execution["status"] == "completed", execution
        failed = [
            entry
            for entry in lines(capsys.readouterr().err)
            if str(entry["message"]).startswith("Completing activity as failed")
        ]
        assert len(failed) == 1, failed
        assert failed[0]["level"] == "warning"
        assert "to be retried: HttpServerError" in str(failed[0]["message"])
        assert "returned 503" in str(failed[0]["message"])
        assert "exception" not in failed[0]

    def test_an_unexpected_failure_keeps_its_traceback(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        configure_logging(Settings(environment="production", secret_key=SECRET_KEY))
        try:
            raise ApplicationError("bad request", type="HttpClientError", non_retryable=True)
        except ApplicationError:
            logging.getLogger("temporalio.activity").warning(
                "Completing activity as failed", exc_info=True
            )
        [entry] = lines(capsys.readouterr().err)
        assert "Traceback" in str(entry["exception"])
