"""Free ports for the child processes tests start (dev servers, `headrace dev`, moto, n8n).

A port the kernel gives for port 0 comes from the ephemeral range, which every outgoing
connection of the suite draws from too: between a test releasing such a port and its child
binding it, a client socket (of this worker or the other xdist worker) can take it, and the
child never listens (CI saw `headrace dev`'s Temporal server exit so). Ports below the
ephemeral range are only ever taken by a bind, and each xdist worker draws from its own slice.
"""

from __future__ import annotations

import os
import random
import socket
from pathlib import Path

LOWEST = 10_000


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


def _worker_slice() -> range:
    """This xdist worker's share of the ports below the ephemeral range."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    index = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    size = (_ephemeral_start() - LOWEST) // max(workers, 1)
    start = LOWEST + index * size
    return range(start, start + size)


def free_port() -> int:
    """A loopback port nobody listens on or holds now, outside the ephemeral range."""
    candidates = _worker_slice()
    for _ in range(100):
        port = random.choice(candidates)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port in {candidates}")
