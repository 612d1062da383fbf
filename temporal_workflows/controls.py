"""Operator control of a live run: the pause gate and parked steps.

Both are plain workflow state changed by Updates (so the operator gets a validation error
back at once) and awaited with the runtime's ``wait_condition``.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporal_workflows.run_types import StepResolution
from temporal_workflows.runtime import Runtime


class PauseGate:
    """While paused, no new step (or foreach item, or until iteration) starts."""

    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime
        self.paused = False

    def check_pause(self) -> None:
        if self.paused:
            raise ValueError("the run is already paused")

    def check_resume(self) -> None:
        if not self.paused:
            raise ValueError("the run is not paused")

    async def wait_open(self) -> None:
        if self.paused:
            await self._rt.wait_condition(lambda: not self.paused)


@dataclass
class Parked:
    error: str
    resolution: StepResolution | None = None


class ParkingLot:
    """Failed steps with ``on_error: park`` waiting for an operator's decision."""

    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime
        self._parked: dict[str, Parked] = {}

    def describe(self) -> dict[str, str]:
        return {step_id: p.error for step_id, p in self._parked.items() if p.resolution is None}

    def check(self, resolution: StepResolution) -> None:
        parked = self._parked.get(resolution.step_id)
        if parked is None or parked.resolution is not None:
            raise ValueError(f"step {resolution.step_id!r} is not parked")

    def resolve(self, resolution: StepResolution) -> str:
        self.check(resolution)
        self._parked[resolution.step_id].resolution = resolution
        return resolution.action

    async def wait(self, step_id: str, error: str) -> StepResolution:
        parked = self._parked[step_id] = Parked(error)
        await self._rt.wait_condition(lambda: parked.resolution is not None)
        del self._parked[step_id]
        assert parked.resolution is not None
        return parked.resolution
