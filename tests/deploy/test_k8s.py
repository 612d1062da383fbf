"""The Kubernetes manifests (deploy/k8s): every overlay renders with `kubectl kustomize`, each
object validates offline against the Kubernetes schemas (kubernetes-validate, strict: an
unknown field is an error), and the pieces fit together and fit the code (settings, probe
routes, ports, drain times). No cluster is needed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from core.settings import FILE_SETTINGS, Settings
from tests.services import unavailable

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "production")
KUBERNETES_VERSION = "1.32"  # the oldest minor still supported upstream when written
SECRETS_MOUNT = "/var/run/secrets/headrace"

Manifest = dict[str, Any]


def render(path: Path) -> list[Manifest]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        unavailable("kubectl", "not installed (it embeds kustomize)")
    assert kubectl is not None
    result = subprocess.run(
        [kubectl, "kustomize", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[Manifest]]:
    return request.param, render(K8S / "overlays" / request.param)


def one(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    found = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def config(manifests: list[Manifest]) -> dict[str, str]:
    (config_map,) = [m for m in manifests if m["kind"] == "ConfigMap"]
    return dict(config_map["data"])


def pod_spec(manifest: Manifest) -> Manifest:
    return dict(manifest["spec"]["template"]["spec"])


def workloads(manifests: list[Manifest]) -> list[Manifest]:
    return [m for m in manifests if m["kind"] in ("Deployment", "Job")]


class TestRendering:
    def test_the_base_and_every_overlay_render(self) -> None:
        kinds = sorted(m["kind"] for m in render(K8S / "base"))
        assert kinds == sorted(
            [
                "ConfigMap",
                "Deployment",
                "Deployment",
                "Service",
                "Service",
                "PodDisruptionBudget",
                "PodDisruptionBudget",
                "HorizontalPodAutoscaler",
                "Job",
            ]
        )

    def test_every_object_is_valid_against_the_kubernetes_schemas(
        self, overlay: tuple[str, list[Manifest]]
    ) -> None:
        _, manifests = overlay
        for manifest in manifests:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)

    def test_every_overlay_patch_hits_an_object(self, overlay: tuple[str, list[Manifest]]) -> None:
        # kustomize applies a patch whose target matches nothing silently.
        name, manifests = overlay
        kustomization = yaml.safe_load((K8S / "overlays" / name / "kustomization.yaml").read_text())
        for patch in kustomization.get("patches", []):
            target = patch["target"]
            one(manifests, target["kind"], target["name"])

    def test_a_strict_validation_catches_a_misspelled_field(self) -> None:
        deployment = one(render(K8S / "base"), "Deployment", "headrace-api")
        deployment["spec"]["replica"] = 2
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


class TestWiring:
    def test_services_pdbs_and_the_hpa_select_existing_pods(
        self, overlay: tuple[str, list[Manifest]]
    ) -> None:
        _, manifests = overlay
        pod_labels = [
            m["spec"]["template"]["metadata"]["labels"]
            for m in manifests
            if m["kind"] == "Deployment"
        ]

        def selects_some_pod(selector: dict[str, str]) -> bool:
            return any(selector.items() <= labels.items() for labels in pod_labels)

        for m in manifests:
            if m["kind"] == "Service":
                assert selects_some_pod(m["spec"]["selector"]), m["metadata"]["name"]
            if m["kind"] == "PodDisruptionBudget":
                assert selects_some_pod(m["spec"]["selector"]["matchLabels"])
            if m["kind"] == "HorizontalPodAutoscaler":
                one(manifests, "Deployment", m["spec"]["scaleTargetRef"]["name"])

    def test_every_variable_is_a_setting_and_secrets_come_from_the_existing_secret(
        self, overlay: tuple[str, list[Manifest]]
    ) -> None:
        _, manifests = overlay
        settings = {f"HEADRACE_{name.upper()}" for name in Settings.model_fields}
        file_variables = {f"HEADRACE_{name.upper()}_FILE" for name in FILE_SETTINGS}
        data = config(manifests)
        for key, value in data.items():
            assert key in settings | file_variables, key
            if key in file_variables:
                assert value.startswith(SECRETS_MOUNT + "/"), key
        # No secret value is in the ConfigMap: each is read from the mounted Secret.
        for name in ("secret_key", "database_url", "s3_secret_key"):
            assert f"HEADRACE_{name.upper()}" not in data
            assert f"HEADRACE_{name.upper()}_FILE" in data
        config_map_name = next(m for m in manifests if m["kind"] == "ConfigMap")["metadata"]["name"]
        for workload in workloads(manifests):
            spec = pod_spec(workload)
            (container,) = spec["containers"]
            assert container["envFrom"] == [{"configMapRef": {"name": config_map_name}}]
            volumes = {v["name"]: v for v in spec["volumes"]}
            assert volumes["secrets"]["secret"]["secretName"] == "headrace-secrets"
            mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
            assert mounts[SECRETS_MOUNT]["readOnly"] is True

    def test_the_settings_load_from_the_config_map_and_mounted_secret_files(
        self,
        overlay: tuple[str, list[Manifest]],
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        _, manifests = overlay
        for key, value in config(manifests).items():
            if key.endswith("_FILE"):
                path = tmp_path / Path(value).name
                path.write_text(
                    "postgresql+asyncpg://u:p@db/headrace" if "DATABASE" in key else "s" * 32
                )
                value = str(path)
            monkeypatch.setenv(key, value)
        settings = Settings()
        assert settings.environment == "production"
        assert settings.migrate_on_start is False  # the Job migrates; the app role needs no DDL
        assert settings.database_url is not None

    def test_probes_use_routes_and_ports_the_processes_serve(
        self, overlay: tuple[str, list[Manifest]]
    ) -> None:
        from api.routers import health
        from worker.health import health_app

        _, manifests = overlay
        data = config(manifests)
        api_paths = {getattr(route, "path", None) for route in health.router.routes}
        worker_paths = {getattr(route, "path", None) for route in health_app(lambda: True).routes}
        for name, paths, port_setting in (
            ("headrace-api", api_paths, "HEADRACE_PORT"),
            ("headrace-worker", worker_paths, "HEADRACE_WORKER_HEALTH_PORT"),
        ):
            (container,) = pod_spec(one(manifests, "Deployment", name))["containers"]
            ports = {p["name"]: p["containerPort"] for p in container["ports"]}
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                get = container[probe]["httpGet"]
                assert get["path"] in paths, (name, probe)
                assert ports[get["port"]] == int(data[port_setting]), (name, probe)

    def test_pods_outlive_their_drain_and_have_requests_and_limits(
        self, overlay: tuple[str, list[Manifest]]
    ) -> None:
        _, manifests = overlay
        data = config(manifests)
        worker = pod_spec(one(manifests, "Deployment", "headrace-worker"))
        api = pod_spec(one(manifests, "Deployment", "headrace-api"))
        assert worker["terminationGracePeriodSeconds"] > float(
            data["HEADRACE_WORKER_SHUTDOWN_GRACE"]
        )
        assert api["terminationGracePeriodSeconds"] > float(data["HEADRACE_API_SHUTDOWN_GRACE"]) + 5
        for workload in workloads(manifests):
            (container,) = pod_spec(workload)["containers"]
            assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
            assert "memory" in container["resources"]["limits"]
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert pod_spec(workload)["securityContext"]["runAsNonRoot"] is True

    def test_the_migration_job_runs_headrace_migrate_once(
        self, overlay: tuple[str, list[Manifest]]
    ) -> None:
        _, manifests = overlay
        job = one(manifests, "Job", "headrace-migrate")
        (container,) = pod_spec(job)["containers"]
        assert container["command"] == ["headrace", "migrate"]
        assert pod_spec(job)["restartPolicy"] == "Never"

    def test_the_runtime_user_matches_the_image(self) -> None:
        dockerfile = (ROOT / "Dockerfile").read_text()
        for workload in workloads(render(K8S / "base")):
            uid = pod_spec(workload)["securityContext"]["runAsUser"]
            assert f"--uid {uid}" in dockerfile


class TestKedaExample:
    def test_it_scales_the_rendered_worker_on_the_configured_task_queue(self) -> None:
        example = yaml.safe_load((K8S / "examples" / "keda-worker-scaledobject.yaml").read_text())
        assert example["apiVersion"] == "keda.sh/v1alpha1" and example["kind"] == "ScaledObject"
        manifests = render(K8S / "base")
        target = example["spec"]["scaleTargetRef"]
        assert one(manifests, target["kind"], target["name"])
        (trigger,) = example["spec"]["triggers"]
        assert trigger["type"] == "temporal"
        assert trigger["metadata"]["taskQueue"] == config(manifests)["HEADRACE_TASK_QUEUE"]
        assert example["spec"]["minReplicaCount"] >= 1  # never zero: schedules need a worker
