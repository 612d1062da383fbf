"""What an operator configures on a worker: slots and pollers, drain time, health probes,
and the retention Schedule every worker keeps in step with its settings."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from temporalio.client import ScheduleActionStartWorkflow, ScheduleSpec
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import PollerBehaviorSimpleMaximum, WorkerTuner

from core.settings import Settings
from tests.conftest import SECRET_KEY
from tests.support.polling import eventually
from tests.support.ports import free_port
from worker.health import serve_health
from worker.main import WorkerTuning, build_worker, worker_resources
from worker.retention import RETENTION_SCHEDULE_ID, ensure_retention_schedule


def _settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(environment="test", secret_key=SECRET_KEY, data_dir=tmp_path, **values)  # type: ignore[arg-type]


class TestWorkerTuning:
    def test_unset_settings_keep_the_sdk_defaults_but_the_drain_time(self, tmp_path: Path) -> None:
        options = WorkerTuning.from_settings(_settings(tmp_path)).worker_options()
        assert options == {"graceful_shutdown_timeout": timedelta(seconds=30)}

    def test_slots_pollers_cache_and_drain_come_from_settings(self, tmp_path: Path) -> None:
        settings = _settings(
            tmp_path,
            worker_max_concurrent_workflow_tasks=20,
            worker_max_concurrent_activities=50,
            worker_workflow_task_pollers=3,
            worker_activity_task_pollers=8,
            worker_max_cached_workflows=200,
            worker_shutdown_grace=120,
        )
        options = WorkerTuning.from_settings(settings).worker_options()
        assert options["max_concurrent_workflow_tasks"] == 20
        assert options["max_concurrent_activities"] == 50
        assert options["workflow_task_poller_behavior"] == PollerBehaviorSimpleMaximum(3)
        assert options["activity_task_poller_behavior"] == PollerBehaviorSimpleMaximum(8)
        assert options["max_cached_workflows"] == 200
        assert options["graceful_shutdown_timeout"] == timedelta(seconds=120)

    def test_resource_targets_replace_fixed_slots_with_the_sdk_tuner(self, tmp_path: Path) -> None:
        settings = _settings(
            tmp_path,
            worker_max_concurrent_activities=50,
            worker_target_memory=0.8,
            worker_target_cpu=0.9,
        )
        options = WorkerTuning.from_settings(settings).worker_options()
        assert isinstance(options["tuner"], WorkerTuner)
        assert "max_concurrent_activities" not in options  # the SDK refuses both

    async def test_the_real_worker_accepts_the_options(
        self, settings: Settings, temporal_env: WorkflowEnvironment
    ) -> None:
        tuning = WorkerTuning(
            max_concurrent_activities=7, activity_task_pollers=2, max_cached_workflows=10
        )
        async with worker_resources(settings) as resources:
            worker = build_worker(
                temporal_env.client, f"tuned-{uuid.uuid4().hex[:6]}", resources, tuning=tuning
            )
        config = worker.config()
        assert config["max_concurrent_activities"] == 7
        assert config["max_cached_workflows"] == 10
        assert config["graceful_shutdown_timeout"] == timedelta(seconds=30)

    def test_an_out_of_range_resource_target_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="worker_target_cpu"):
            _settings(tmp_path, worker_target_cpu=1.5)


class TestHealthProbes:
    async def test_livez_answers_and_readyz_follows_the_worker(self) -> None:
        port = free_port()
        ready = False
        async with (
            serve_health("127.0.0.1", port, lambda: ready),
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http,
        ):
            assert (await _get_when_up(http, "/livez")).status_code == 200
            assert (await http.get("/readyz")).status_code == 503
            ready = True
            assert (await http.get("/readyz")).json() == {"status": "ok"}
            assert (await http.get("/metrics")).status_code == 404  # nothing else is served
        with pytest.raises(httpx.ConnectError):
            async with httpx.AsyncClient() as http:
                await http.get(f"http://127.0.0.1:{port}/livez")

    async def test_no_port_no_server(self) -> None:
        async with serve_health("127.0.0.1", None, lambda: True):
            pass


async def _get_when_up(http: httpx.AsyncClient, path: str) -> httpx.Response:
    async def get() -> httpx.Response:
        return await http.get(path)

    return await eventually(get, retry_on=(httpx.ConnectError,))


def _daily_at(spec: ScheduleSpec) -> tuple[int, int]:
    # The server stores a cron expression as a calendar spec.
    (calendar,) = spec.calendars
    return calendar.hour[0].start, calendar.minute[0].start


class TestRetentionSchedule:
    async def test_created_once_updated_by_later_workers_and_deleted_when_off(
        self, temporal_env: WorkflowEnvironment, tmp_path: Path
    ) -> None:
        client = temporal_env.client
        on = _settings(tmp_path, retention_days=30, task_queue="ops-retention")
        await ensure_retention_schedule(client, on)
        await ensure_retention_schedule(client, on)  # a second worker: no error, same schedule
        described = await client.get_schedule_handle(RETENTION_SCHEDULE_ID).describe()
        assert _daily_at(described.schedule.spec) == (3, 17)
        action = described.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert action.workflow == "HeadraceRetention" and action.task_queue == "ops-retention"

        # A new deployment on a new queue moves the schedule with it.
        moved = _settings(
            tmp_path, retention_days=7, retention_cron="0 1 * * *", task_queue="ops-retention-v2"
        )
        await ensure_retention_schedule(client, moved)
        described = await client.get_schedule_handle(RETENTION_SCHEDULE_ID).describe()
        assert _daily_at(described.schedule.spec) == (1, 0)
        assert isinstance(described.schedule.action, ScheduleActionStartWorkflow)
        assert described.schedule.action.task_queue == "ops-retention-v2"

        off = _settings(tmp_path)
        await ensure_retention_schedule(client, off)
        with pytest.raises(RPCError):
            await client.get_schedule_handle(RETENTION_SCHEDULE_ID).describe()
        await ensure_retention_schedule(client, off)  # already gone: nothing to do
