from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.integrations.fake_n8n import FakeN8n, running_fake_n8n


@pytest.fixture(scope="session")
def fake_n8n_server() -> Iterator[FakeN8n]:
    with running_fake_n8n() as server:
        yield server


@pytest.fixture
def fake_n8n(fake_n8n_server: FakeN8n) -> Iterator[FakeN8n]:
    """The local n8n, emptied for each test."""
    fake_n8n_server.reset()
    yield fake_n8n_server
    fake_n8n_server.reset()


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
