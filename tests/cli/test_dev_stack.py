"""`headrace dev`: the whole product in one process group, stopped cleanly, resumed on restart."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from cli.devstack import DevServerProcess, DevStackError, dev_server_command
from tests.support.dev_stack import DevStack, dev_stack_in
from tests.support.polling import eventually_sync
from tests.support.ports import free_port


@pytest.fixture
def dev_stack(tmp_path: Path) -> Iterator[DevStack]:
    with dev_stack_in(tmp_path) as stack:
        yield stack


class TestDevStack:
    def test_serves_api_and_temporal_ui_stops_on_sigterm_and_resumes_runs(
        self, dev_stack: DevStack
    ) -> None:
        dev_stack.start()
        ui = httpx.get(f"http://127.0.0.1:{dev_stack.ui_port}/", timeout=5)
        assert ui.status_code == 200
        headers = dev_stack.login()
        definition = {
            "steps": [
                {"id": "nap", "type": "sleep", "with": {"duration": "4s"}},
                {"id": "done", "type": "transform", "depends_on": ["nap"], "with": {"ok": True}},
            ]
        }
        execution_id = dev_stack.start_run(headers, "resume", definition)
        assert dev_stack.stop() == 0
        assert not dev_stack.children_alive(), "the Temporal dev server outlived headrace dev"

        dev_stack.start()  # same data dir: same secret key, same runs
        execution = dev_stack.wait_for_status(execution_id, headers, "completed")
        assert execution["output_data"] == {"nap": {"slept_seconds": 4.0}, "done": {"ok": True}}
        assert (dev_stack.data_dir / "secret_key").exists()
        assert dev_stack.stop(signal.SIGINT) == 0

    def test_the_temporal_child_dies_with_a_killed_headrace_dev(self, dev_stack: DevStack) -> None:
        dev_stack.start()
        assert dev_stack.process is not None
        children = subprocess.run(
            ["pgrep", "-P", str(dev_stack.process.pid)], capture_output=True, text=True
        ).stdout.split()
        assert children, "no Temporal child process found"
        dev_stack.process.kill()  # SIGKILL: no chance to clean up
        dev_stack.process.wait(10)
        eventually_sync(
            lambda: [c for c in children if Path(f"/proc/{c}").exists()],
            lambda alive: not alive,
            timeout=10,
            what="the end of headrace dev's children",
        )

    def test_a_killed_worker_process_is_replaced_and_its_run_completes(
        self, dev_stack: DevStack
    ) -> None:
        dev_stack.start()
        headers = dev_stack.login()
        definition = {
            "steps": [
                {"id": "nap", "type": "sleep", "with": {"duration": "3s"}},
                {"id": "done", "type": "transform", "depends_on": ["nap"], "with": {"ok": True}},
            ]
        }
        execution_id = dev_stack.start_run(headers, "survivor", definition)
        first_worker = dev_stack.worker_pid()
        os.kill(first_worker, signal.SIGKILL)

        execution = dev_stack.wait_for_status(execution_id, headers, "completed")
        assert execution["output_data"] == {"nap": {"slept_seconds": 3.0}, "done": {"ok": True}}
        assert dev_stack.worker_pid() != first_worker
        assert "the worker process exited (code -9)" in (dev_stack.data_dir / "dev.log").read_text()

    def test_a_killed_temporal_server_is_restarted_and_its_run_completes(
        self, dev_stack: DevStack
    ) -> None:
        dev_stack.start()
        headers = dev_stack.login()
        definition = {
            "steps": [
                {"id": "nap", "type": "sleep", "with": {"duration": "3s"}},
                {"id": "done", "type": "transform", "depends_on": ["nap"], "with": {"ok": True}},
            ]
        }
        execution_id = dev_stack.start_run(headers, "outlives", definition)
        os.kill(dev_stack.temporal_pid(), signal.SIGKILL)

        execution = dev_stack.wait_for_status(execution_id, headers, "completed", 60)
        assert execution["output_data"] == {"nap": {"slept_seconds": 3.0}, "done": {"ok": True}}
        log = (dev_stack.data_dir / "dev.log").read_text()
        assert "the Temporal dev server exited (code -9)" in log

    def test_an_inline_worker_runs_the_runs_in_the_api_process(
        self, dev_stack: DevStack, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("HEADRACE_DEV_WORKER", "inline")
        dev_stack.start()
        headers = dev_stack.login()
        definition = {
            "steps": [
                {"id": "nap", "type": "sleep", "with": {"duration": "500ms"}},
                {"id": "done", "type": "transform", "depends_on": ["nap"], "with": {"ok": True}},
            ]
        }
        execution_id = dev_stack.start_run(headers, "inline", definition)
        execution = dev_stack.wait_for_status(execution_id, headers, "completed")
        assert execution["output_data"] == {"nap": {"slept_seconds": 0.5}, "done": {"ok": True}}
        assert dev_stack.process is not None
        workers = subprocess.run(
            ["pgrep", "-P", str(dev_stack.process.pid), "-f", "cli.main worker"],
            capture_output=True,
            text=True,
        ).stdout.split()
        assert workers == []  # no worker child: the API's process ran it
        assert dev_stack.stop() == 0

    def test_step_events_reach_a_live_stream_from_the_worker_process(
        self, dev_stack: DevStack
    ) -> None:
        dev_stack.start()
        headers = dev_stack.login()
        definition = {
            "steps": [
                {"id": "wait", "type": "sleep", "with": {"duration": "500ms"}},
                {"id": "done", "type": "transform", "depends_on": ["wait"], "with": {"ok": 1}},
            ]
        }
        execution_id = dev_stack.start_run(headers, "streamed", definition)
        url = f"{dev_stack.url}/api/v1/executions/{execution_id}/events"
        arrivals: dict[str, tuple[datetime, datetime]] = {}  # type → (emitted, received)
        with httpx.stream("GET", url, headers=headers, timeout=30) as response:
            for line in response.iter_lines():
                if line.startswith("data:"):
                    event = json.loads(line.removeprefix("data:"))
                    emitted = datetime.fromisoformat(event["ts"])
                    arrivals[event["type"]] = (emitted, datetime.now(UTC))
        assert {"step.started", "step.completed", "execution.completed"} <= set(arrivals)
        # Live, not found by the stream's idle database check (5 s after the last event):
        # the terminal event arrives right after the worker stored it.
        emitted, received = arrivals["execution.completed"]
        assert (received - emitted).total_seconds() < 2.0

        # The worker's metrics are served by the API process too (multiprocess mode).
        metrics = httpx.get(f"{dev_stack.url}/metrics", timeout=10).text
        finished = [
            line
            for line in metrics.splitlines()
            if line.startswith("headrace_executions_finished_total{")
            and 'outcome="completed"' in line
        ]
        assert finished and float(finished[0].rsplit(" ", 1)[1]) >= 1, metrics[:2000]


class TestDevStackTemporalUi:
    def test_runs_are_found_by_workflow_name_on_the_dev_server(self, dev_stack: DevStack) -> None:
        dev_stack.start()
        headers = dev_stack.login()
        definition = {"steps": [{"id": "ok", "type": "transform", "with": {"ok": True}}]}
        execution_id = dev_stack.start_run(headers, "ui-visible", definition)

        async def listed() -> list[str]:
            client = await Client.connect(f"127.0.0.1:{dev_stack.temporal_port}")
            query = 'HeadraceWorkflowName = "ui-visible" AND HeadraceTrigger = "manual"'
            return [run.id async for run in client.list_workflows(query)]

        found = eventually_sync(
            lambda: asyncio.run(listed()), what="the run in the dev server's visibility"
        )
        assert found == [execution_id]
        assert dev_stack.stop() == 0


class TestTemporalChild:
    async def test_a_server_that_cannot_bind_its_port_fails_the_start_at_once(
        self, tmp_path: Path
    ) -> None:
        with socket.socket() as taken:  # bound, not listening: connections are refused
            taken.bind(("127.0.0.1", free_port()))
            address = f"127.0.0.1:{taken.getsockname()[1]}"
            command = dev_server_command(tmp_path, address, free_port(), None)
            with (tmp_path / "temporal.log").open("ab") as log:
                server = DevServerProcess(command, address, log)
                with pytest.raises(DevStackError, match="exited") as raised:
                    await server.start()
                await server.stop()
        assert f"before it answered at {address}" in str(raised.value)
