"""``headrace dev`` as a real process group on free ports, for tests that need the whole product."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.support.polling import eventually_sync
from tests.support.ports import free_port

ADMIN = {"username": "admin@example.com", "password": "dev-admin-password"}


class DevStack:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port, self.temporal_port, self.ui_port = free_port(), free_port(), free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {
            **os.environ,
            "HEADRACE_DATA_DIR": str(self.data_dir),
            "HEADRACE_PORT": str(self.port),
            "HEADRACE_TEMPORAL_ADDRESS": f"127.0.0.1:{self.temporal_port}",
            "HEADRACE_TEMPORAL_UI_PORT": str(self.ui_port),
            "HEADRACE_ADMIN_EMAIL": ADMIN["username"],
            "HEADRACE_ADMIN_PASSWORD": ADMIN["password"],
        }
        env.pop("HEADRACE_SECRET_KEY", None)
        log = (self.data_dir / "dev.log").open("ab")
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "headrace"), "dev"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        process = self.process

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(self.logs())
            return httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200

        eventually_sync(
            ready,
            timeout=60,
            interval=0.2,
            retry_on=(httpx.HTTPError,),
            what="headrace dev's readiness",
        )

    def logs(self) -> str:
        """The ends of `headrace dev`'s log and of its Temporal server's log."""
        ends = []
        for name in ("dev.log", "temporal.log"):
            path = self.data_dir / name
            text = path.read_text(errors="replace")[-3000:] if path.exists() else "(none)"
            ends.append(f"--- {name}\n{text}")
        return "\n".join(ends)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        return self.process.wait(30)

    def children_alive(self) -> bool:
        assert self.process is not None
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def api(self, method: str, path: str, headers: dict[str, str], **kwargs: Any) -> httpx.Response:
        return httpx.request(
            method, f"{self.url}/api/v1{path}", headers=headers, timeout=30, **kwargs
        )

    def child_pid(self, command: str, timeout: float = 30) -> int:
        """The pid of the child whose command line contains ``command`` (waiting for it: a
        killed child may be restarting)."""
        assert self.process is not None
        parent = str(self.process.pid)

        def children() -> list[str]:
            return subprocess.run(
                ["pgrep", "-P", parent, "-f", command], capture_output=True, text=True
            ).stdout.split()

        found = eventually_sync(
            children, timeout=timeout, what=f"a child matching {command!r} under headrace dev"
        )
        assert len(found) == 1, f"{len(found)} children match {command!r}"
        return int(found[0])

    def worker_pid(self) -> int:
        return self.child_pid("cli.main worker")

    def temporal_pid(self) -> int:
        return self.child_pid("temporal server start-dev")

    def start_run(self, headers: dict[str, str], name: str, definition: dict[str, Any]) -> str:
        """Create a workflow and start it without waiting; the execution id."""
        workflow = self.api(
            "POST", "/workflows", headers, json={"name": name, "definition": definition}
        ).json()
        started = self.api(
            "POST", f"/workflows/{workflow['id']}/execute", headers, json={"async_mode": True}
        ).json()
        return str(started["execution_id"])

    def wait_for_status(
        self, execution_id: str, headers: dict[str, str], status: str, timeout: float = 30
    ) -> dict[str, Any]:
        execution: dict[str, Any] = eventually_sync(
            lambda: self.api("GET", f"/executions/{execution_id}", headers).json(),
            lambda execution: execution["status"] == status,
            timeout=timeout,
            interval=0.3,
            what=f"execution {execution_id} {status}",
        )
        return execution

    def login(self) -> dict[str, str]:
        token = httpx.post(f"{self.url}/api/v1/auth/token", data=ADMIN).json()["access_token"]
        return {"Authorization": f"Bearer {token}"}


@contextlib.contextmanager
def dev_stack_in(data_dir: Path) -> Iterator[DevStack]:
    """A DevStack (not started) whose process group is killed at the end, whatever happened."""
    stack = DevStack(data_dir)
    try:
        yield stack
    finally:
        if stack.process is not None and stack.process.poll() is None:
            os.killpg(stack.process.pid, signal.SIGKILL)
