"""docker-compose.yml validates (Debian's docker-compose, offline) and has the whole stack."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.settings import Settings
from tests.services import unavailable

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
STACK = {
    "postgres",
    "redis",
    "minio",
    "minio-buckets",
    "temporal",
    "temporal-ui",
    "migrate",
    "temporal-setup",
    "api",
    "worker",
    "prometheus",
    "grafana",
}


def docker_compose() -> str:
    binary = shutil.which("docker-compose")
    if binary is None:
        # `make test` installs it (Debian's package); CI fails rather than skip without it.
        unavailable("docker-compose", "not installed: apt-get install docker-compose")
    assert binary is not None
    return binary


def compose(*args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HEADRACE_")},
        "HEADRACE_SECRET_KEY": "compose-test-secret-key-0123456789",
        "GRAFANA_ADMIN_PASSWORD": "compose-test",
        "MINIO_ROOT_USER": "compose-test",
        "MINIO_ROOT_PASSWORD": "compose-test-password",
    }
    return subprocess.run(
        [docker_compose(), "-f", str(COMPOSE_FILE), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    result = compose("config")
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stderr}"
    return dict(yaml.safe_load(result.stdout))


class TestComposeFile:
    def test_it_validates_and_lists_the_whole_stack(self) -> None:
        result = compose("config", "--services")
        assert result.returncode == 0, result.stderr
        assert set(result.stdout.split()) == STACK

    def test_the_worker_scales(self, config: dict[str, Any]) -> None:
        worker = config["services"]["worker"]
        assert "container_name" not in worker
        assert "ports" not in worker
        assert worker["command"] == ["headrace", "worker"]

    def test_migrations_run_before_the_api_and_workers_start(self, config: dict[str, Any]) -> None:
        services = config["services"]
        assert services["migrate"]["command"] == ["headrace", "migrate"]
        for name in ("api", "worker"):
            condition = services[name]["depends_on"]["migrate"]["condition"]
            assert condition == "service_completed_successfully"

    def test_search_attributes_are_registered_before_the_api_and_workers_start(
        self, config: dict[str, Any]
    ) -> None:
        services = config["services"]
        assert services["temporal-setup"]["command"] == ["headrace", "temporal", "setup"]
        assert services["temporal-setup"]["depends_on"]["temporal"]["condition"] == (
            "service_healthy"
        )
        for name in ("api", "worker"):
            condition = services[name]["depends_on"]["temporal-setup"]["condition"]
            assert condition == "service_completed_successfully"

    def test_the_api_is_health_checked_on_healthz(self, config: dict[str, Any]) -> None:
        api = config["services"]["api"]
        assert api["command"] == ["headrace", "api"]
        assert any("/healthz" in part for part in api["healthcheck"]["test"])

    def test_temporal_persists_in_postgresql_and_its_ui_decodes_with_headrace(
        self, config: dict[str, Any]
    ) -> None:
        services = config["services"]
        assert services["temporal"]["image"].startswith("temporalio/auto-setup")
        assert services["temporal"]["environment"]["DB"] == "postgres12"
        codec = services["temporal-ui"]["environment"]["TEMPORAL_CODEC_ENDPOINT"]
        assert codec.endswith("/api/v1/temporal-codec")

    def test_the_bucket_is_created_by_a_one_shot_job(self, config: dict[str, Any]) -> None:
        job = config["services"]["minio-buckets"]
        assert "mc mb --ignore-existing" in " ".join(job["entrypoint"])

    def test_production_processes_get_the_production_settings(self, config: dict[str, Any]) -> None:
        env = config["services"]["api"]["environment"]
        assert env["HEADRACE_ENVIRONMENT"] == "production"
        assert env["HEADRACE_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert env["HEADRACE_REDIS_URL"].startswith("redis://")
        worker_env = config["services"]["worker"]["environment"]
        assert worker_env["HEADRACE_WORKER_METRICS_PORT"] == "9464"
        assert worker_env["HEADRACE_TEMPORAL_METRICS_PORT"] == "9465"

    @pytest.mark.parametrize(
        "missing", ["HEADRACE_SECRET_KEY", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"]
    )
    def test_a_missing_secret_is_refused(self, missing: str) -> None:
        """No default credentials: the object store's are required like the secret key."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HEADRACE_", "MINIO_"))}
        given = {
            "GRAFANA_ADMIN_PASSWORD": "x",
            "HEADRACE_SECRET_KEY": "compose-test-secret-key-0123456789",
            "MINIO_ROOT_USER": "u",
            "MINIO_ROOT_PASSWORD": "password-x",
        }
        del given[missing]
        result = subprocess.run(
            [docker_compose(), "-f", str(COMPOSE_FILE), "config"],
            cwd=ROOT,
            env={**env, **given},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode != 0
        assert missing in result.stderr

    def test_consoles_without_a_login_listen_on_loopback_only(self, config: dict[str, Any]) -> None:
        """The Temporal UI can terminate and signal any run; MinIO's console and Prometheus
        have no login: none is published beyond the host's loopback."""
        services = config["services"]
        for name in ("temporal-ui", "minio", "prometheus"):
            for port in services[name].get("ports", []):
                host_ip = port.get("host_ip") if isinstance(port, dict) else str(port)
                assert host_ip and str(host_ip).startswith("127.0.0.1"), (name, port)
        for name in ("postgres", "redis", "temporal", "worker"):
            assert "ports" not in services[name], name


class TestPinnedImages:
    def test_no_third_party_image_floats_on_latest(self, config: dict[str, Any]) -> None:
        for name, service in config["services"].items():
            image = service.get("image", "")
            if image.startswith("headrace:"):
                continue  # built from this repository
            assert ":" in image and not image.endswith(":latest"), (name, image)

    def test_the_worker_drains_longer_than_docker_would_wait(self, config: dict[str, Any]) -> None:
        worker = config["services"]["worker"]
        grace = Settings.model_fields["worker_shutdown_grace"].default
        assert float(worker["stop_grace_period"].rstrip("s")) > grace
        assert "/readyz" in " ".join(worker["healthcheck"]["test"])


class TestEnvExample:
    def test_every_setting_is_documented(self) -> None:
        text = (ROOT / ".env.example").read_text()
        documented = set(re.findall(r"^#? ?(HEADRACE_[A-Z0-9_]+)=", text, re.MULTILINE))
        settings = {f"HEADRACE_{name.upper()}" for name in Settings.model_fields}
        # A new field in core/settings.py needs its line (with the description) in .env.example.
        assert settings - documented == set()
        assert documented - settings == set()


class TestDockerfile:
    def test_it_builds_the_dashboard_then_runs_slim_as_a_non_root_user(self) -> None:
        text = (ROOT / "Dockerfile").read_text()
        stages = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
        assert stages[0].startswith("node:") and stages[-1].startswith("python:3.11-slim")
        assert "npm ci" in text and "npm run build" in text
        assert re.search(r"^USER headrace$", text, re.MULTILINE)
