"""Start a real n8n 1.x for ``test_real_n8n.py`` and print the settings the test reads.

    .venv/bin/python -m tests.integrations.real_n8n start [--install /opt/n8n] [--port 5678]
    .venv/bin/python -m tests.integrations.real_n8n stop [--data DIR]

``start`` runs ``<install>/node_modules/.bin/n8n start`` in the background (its own process
group, output in ``<data>/n8n.log``), on PostgreSQL (``HEADRACE_N8N_DB_*`` or the local
defaults: 127.0.0.1, user postgres, database ``n8n``), waits until it answers, creates the
owner (or logs in as it on a later start), makes a public API key, and prints::

    export HEADRACE_N8N_URL=http://127.0.0.1:5678
    export HEADRACE_N8N_API_KEY=...

so ``eval "$(python -m tests.integrations.real_n8n start)"`` sets them. ``stop`` ends the
process group recorded in ``<data>/n8n.pid``.

Install n8n first (Node 20 needs 1.x; 2.x needs Node 24)::

    mkdir -p /opt/n8n && cd /opt/n8n
    echo '{"private":true,"dependencies":{"n8n":"1.123.81"},"overrides":{"xlsx":"0.18.5"}}' \\
        > package.json
    npm install --ignore-scripts
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tests.support.polling import eventually_sync

OWNER = {
    "email": "owner@headrace.test",
    "firstName": "Head",
    "lastName": "Race",
    "password": "Headrace-n8n-1",
}
DEFAULT_DATA = Path(os.environ.get("TMPDIR", "/tmp")) / "headrace-real-n8n"


def n8n_environment(port: int, data: Path) -> dict[str, str]:
    """n8n's settings: PostgreSQL, loopback only, no telemetry, the legacy expression engine."""
    env = dict(os.environ)
    env.update(
        N8N_USER_FOLDER=str(data),
        N8N_PORT=str(port),
        N8N_LISTEN_ADDRESS="127.0.0.1",
        N8N_HOST="127.0.0.1",
        N8N_PROTOCOL="http",
        WEBHOOK_URL=f"http://127.0.0.1:{port}/",
        N8N_EXPRESSION_ENGINE="legacy",
        N8N_DIAGNOSTICS_ENABLED="false",
        N8N_PERSONALIZATION_ENABLED="false",
        N8N_VERSION_NOTIFICATIONS_ENABLED="false",
        N8N_TEMPLATES_ENABLED="false",
        N8N_SECURE_COOKIE="false",
        N8N_RUNNERS_BROKER_PORT=str(port + 1),
        DB_TYPE="postgresdb",
        DB_POSTGRESDB_HOST=os.environ.get("HEADRACE_N8N_DB_HOST", "127.0.0.1"),
        DB_POSTGRESDB_PORT=os.environ.get("HEADRACE_N8N_DB_PORT", "5432"),
        DB_POSTGRESDB_USER=os.environ.get("HEADRACE_N8N_DB_USER", "postgres"),
        DB_POSTGRESDB_PASSWORD=os.environ.get("HEADRACE_N8N_DB_PASSWORD", ""),
        DB_POSTGRESDB_DATABASE=os.environ.get("HEADRACE_N8N_DB_NAME", "n8n"),
    )
    return env


def start(install: Path, port: int, data: Path, timeout: float) -> tuple[str, str]:
    """Start n8n, wait for it, and return its URL and a fresh API key."""
    binary = install / "node_modules" / ".bin" / "n8n"
    if not binary.exists():
        raise SystemExit(f"no n8n at {binary}: install it first (see this module's docstring)")
    data.mkdir(parents=True, exist_ok=True)
    env = n8n_environment(port, data)
    _ensure_database(env)
    log = (data / "n8n.log").open("ab")
    process = subprocess.Popen(
        [str(binary), "start"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: `stop` ends n8n and its children
    )
    (data / "n8n.pid").write_text(str(process.pid))
    url = f"http://127.0.0.1:{port}"
    _wait_ready(url, process, timeout, data / "n8n.log")
    return url, _api_key(url)


def _ensure_database(env: dict[str, str]) -> None:
    """n8n does not create its PostgreSQL database: on a fresh machine, create it here."""
    name = env["DB_POSTGRESDB_DATABASE"]
    if not name.replace("_", "").isalnum():
        raise SystemExit(f"n8n database name {name!r}: letters, digits and _ only")

    async def create() -> None:
        connection = await asyncpg.connect(
            host=env["DB_POSTGRESDB_HOST"],
            port=int(env["DB_POSTGRESDB_PORT"]),
            user=env["DB_POSTGRESDB_USER"],
            password=env["DB_POSTGRESDB_PASSWORD"] or None,
            database="postgres",
        )
        try:
            if not await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    # Its own thread and loop: callers may be inside a running event loop (bench/express.py).
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, create()).result()


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float, log: Path) -> None:

    def ready() -> bool:
        if process.poll() is not None:
            raise SystemExit(f"n8n exited with {process.returncode}; see {log}")
        # /healthz answers during the migrations, before the REST routes exist
        return httpx.get(f"{url}/rest/settings", timeout=2).status_code == 200

    try:
        eventually_sync(ready, timeout=timeout, interval=0.5, retry_on=(httpx.HTTPError,))
    except AssertionError:
        raise SystemExit(f"n8n did not answer on {url} within {timeout:.0f}s; see {log}") from None


def _api_key(url: str) -> str:
    """Log in as the owner (creating it on a fresh database) and make a public API key."""
    with httpx.Client(base_url=url, timeout=30) as http:
        setup = http.post("/rest/owner/setup", json=OWNER)
        if setup.status_code != 200:  # the owner exists already: log in
            login = http.post(
                "/rest/login",
                json={"emailOrLdapLoginId": OWNER["email"], "password": OWNER["password"]},
            )
            _check(login, "log in as the owner")
        scopes = _check(http.get("/rest/api-keys/scopes"), "read API key scopes")["data"]
        created = http.post(
            "/rest/api-keys",
            json={"label": f"headrace-{int(time.time())}", "scopes": scopes, "expiresAt": None},
        )
        return str(_check(created, "create an API key")["data"]["rawApiKey"])


def _check(response: httpx.Response, what: str) -> Any:
    if response.status_code != 200:
        raise SystemExit(f"could not {what}: {response.status_code} {response.text[:300]}")
    return response.json()


def stop(data: Path) -> None:
    pid_file = data / "n8n.pid"
    if not pid_file.exists():
        raise SystemExit(f"no {pid_file}: nothing to stop")
    pid = int(pid_file.read_text())
    with contextlib.suppress(ProcessLookupError):  # it ended already
        os.killpg(pid, signal.SIGTERM)
    pid_file.unlink()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["start", "stop"])
    parser.add_argument("--install", type=Path, default=Path("/opt/n8n"))
    parser.add_argument("--port", type=int, default=5678)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--timeout", type=float, default=180)
    args = parser.parse_args(argv)
    if args.command == "stop":
        stop(args.data)
        return
    url, key = start(args.install, args.port, args.data, args.timeout)
    print(f"export HEADRACE_N8N_URL={url}")
    print(f"export HEADRACE_N8N_API_KEY={key}")


if __name__ == "__main__":
    main(sys.argv[1:])
