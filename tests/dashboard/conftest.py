"""End-to-end fixtures of the dashboard: the real backend and Debian's Chromium.

One ``headrace dev`` (Temporal dev server, API, worker and the built dashboard) is started per
test process on free ports with a temporary data dir; each test gets a fresh browser context
and its own workflows. Without Chromium or a built dashboard the tests are skipped with the
reason, unless ``HEADRACE_REQUIRE_SERVICES=1`` (CI), which makes that a failure.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.services import unavailable

ROOT = Path(__file__).resolve().parents[2]
DIST_INDEX = ROOT / "dashboard" / "dist" / "index.html"
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("HEADRACE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "dashboard-e2e-password"
STARTUP_TIMEOUT = 90.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every test here drives a browser, and they share one backend per process: keep them on
    # one xdist worker (`--dist loadgroup`).
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
            if item.config.pluginmanager.hasplugin("xdist"):
                item.add_marker(pytest.mark.xdist_group("dashboard"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _headrace_command() -> list[str]:
    script = Path(sys.executable).parent / "headrace"
    if script.exists():
        return [str(script), "dev"]
    # Not installed as a console script (an editable install in progress): same entry point.
    return [
        sys.executable,
        "-c",
        "import sys; from cli.main import main; sys.argv = ['headrace', 'dev']; main()",
    ]


@dataclass
class Backend:
    url: str
    temporal_ui: str
    log: Path

    def token(self) -> str:
        response = httpx.post(
            f"{self.url}/api/v1/auth/token",
            data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
            timeout=10,
        )
        response.raise_for_status()
        return str(response.json()["access_token"])


@pytest.fixture(scope="session")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    """``headrace dev`` as a child process group, stopped with SIGTERM at the end."""
    if not DIST_INDEX.exists():
        unavailable("The built dashboard", f"{DIST_INDEX} is missing; run `make install`")
    data_dir = tmp_path_factory.mktemp("headrace-dev")
    port, temporal_port, ui_port = _free_port(), _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEADRACE_")}
    env.update(
        HEADRACE_DATA_DIR=str(data_dir),
        HEADRACE_PORT=str(port),
        HEADRACE_TEMPORAL_ADDRESS=f"127.0.0.1:{temporal_port}",
        HEADRACE_TEMPORAL_UI_PORT=str(ui_port),
        HEADRACE_ADMIN_EMAIL=ADMIN_EMAIL,
        HEADRACE_ADMIN_PASSWORD=ADMIN_PASSWORD,
    )
    log = data_dir / "headrace-dev.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            _headrace_command(), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(process, url, log)
        yield Backend(url=url, temporal_ui=f"http://127.0.0.1:{ui_port}", log=log)
    finally:
        _stop(process)


def _wait_healthy(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:]
            pytest.fail(f"headrace dev exited with {process.returncode}:\n{tail}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    pytest.fail(
        f"headrace dev did not answer /healthz in {STARTUP_TIMEOUT}s:\n{log.read_text()[-3000:]}"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def api(backend: Backend) -> Iterator[httpx.Client]:
    """An admin API client, for setting up what a test is not about."""
    with httpx.Client(
        base_url=backend.url, headers={"Authorization": f"Bearer {backend.token()}"}, timeout=30
    ) as client:
        yield client


# Module scope: sync Playwright keeps an event loop running in this thread while it is
# open, which would break the async tests that xdist schedules on the same worker later.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        unavailable("Chromium", f"{CHROMIUM} is missing; `apt-get install chromium`")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - a dev dependency
        unavailable("Python playwright", str(exc))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, backend: Backend) -> Iterator[Any]:
    """A fresh context (no session) on the backend; uncaught page errors fail the test."""
    context = browser.new_context(
        base_url=backend.url, viewport={"width": 1440, "height": 900}, color_scheme="light"
    )
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


@pytest.fixture
def logged_in(page: Any) -> Any:
    """The page, logged in as the admin and on the dashboard."""
    login(page, ADMIN_EMAIL, ADMIN_PASSWORD)
    page.wait_for_url("**/dashboard")
    return page


def login(page: Any, email: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


@pytest.fixture
def screenshot() -> Callable[[Any, str], None]:
    """Save a screenshot of the page to docs/screenshots/<name>.png (for the docs)."""

    def save(page: Any, name: str, full_page: bool = False) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.wait_for_timeout(300)  # let transitions settle
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)

    return save


@pytest.fixture
def create_workflow(api: httpx.Client) -> Callable[..., dict[str, Any]]:
    """Create a workflow through the API (for tests about running, not about editing)."""

    def create(name: str, definition: dict[str, Any], **extra: Any) -> dict[str, Any]:
        body = {"name": name, "definition": definition, "triggers": [], **extra}
        response = api.post("/api/v1/workflows", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    return create
