"""Services of a test's own that it may stop and start again: a Temporal dev server
persisted to a file, and a Redis without persistence (the machine's shared ones must not be
touched)."""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import time
from pathlib import Path

import redis

from cli.devstack import dev_server_command, wait_for_temporal
from tests.support.ports import free_port


class ChildService:
    """One subprocess, started and stopped on demand, logging to a file."""

    def __init__(self, name: str, command: list[str], log_dir: Path) -> None:
        self.name = name
        self.command = command
        self.log = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


class TemporalServer(ChildService):
    """``temporal server start-dev`` on a free port, persisted to ``temporal.db``."""

    def __init__(self, log_dir: Path) -> None:
        self.address = f"127.0.0.1:{free_port()}"
        command = dev_server_command(log_dir, self.address, free_port(), None)
        command.append("--headless")
        super().__init__("temporal", command, log_dir)

    async def start_and_wait(self) -> None:
        self.start()
        await wait_for_temporal(self.address, timeout=60)


class RedisServer(ChildService):
    """``redis-server`` on a free port, nothing saved to disk."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        binary = shutil.which("redis-server") or "redis-server"
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no"]
        super().__init__("redis", command, log_dir)

    def start_and_wait(self) -> None:
        self.start()
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        for _ in range(100):
            with contextlib.suppress(redis.RedisError):
                client.ping()
                return
            time.sleep(0.05)
        raise AssertionError(f"redis-server did not answer on {self.url}")
