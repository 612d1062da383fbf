"""Steps that wait for people or outside events, resumed through workflow Updates."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from temporal_workflows.run_types import ApprovalDecision, EventDelivery
from temporal_workflows.runtime import Runtime


class WaitTimedOut(Exception):
    """Nobody answered in time."""


@dataclass
class Waiter:
    step_id: str
    kind: str  # "event" or "approval"
    event: str | None = None
    approvers: list[str] = field(default_factory=list)
    message: str | None = None  # an approval's question to its approvers
    deadline: datetime | None = None  # when the wait times out (workflow time)
    detailed: bool = False  # message and deadline are shown (see APPROVAL_DETAILS)
    answer: Any = None
    answered: bool = False

    def details(self) -> dict[str, Any]:
        """What ``waiting_for`` and the ``execution.waiting`` event show of this wait."""
        shown: dict[str, Any] = {
            "kind": self.kind,
            "event": self.event,
            "approvers": self.approvers,
        }
        if self.detailed:
            shown["message"] = self.message
            shown["deadline"] = self.deadline.isoformat() if self.deadline else None
        return shown


class Waits:
    """Open waits, keyed by a per-run token; Updates answer them in arrival order."""

    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime
        self._open: dict[str, Waiter] = {}
        self._tokens = 0

    def describe(self) -> dict[str, dict[str, Any]]:
        return {w.step_id: w.details() for w in self._open.values()}

    async def wait(self, waiter: Waiter, timeout: timedelta | None) -> Any:
        self._tokens += 1
        token = f"w{self._tokens}"
        self._open[token] = waiter
        try:
            await self._rt.wait_condition(lambda: waiter.answered, timeout=timeout)
        except TimeoutError as exc:
            raise WaitTimedOut(f"no answer within {timeout}") from exc
        finally:
            self._open.pop(token, None)
        return waiter.answer

    def event_waiter(self, name: str) -> Waiter | None:
        return next(
            (
                w
                for w in self._open.values()
                if w.kind == "event" and w.event == name and not w.answered
            ),
            None,
        )

    def approval_waiter(self, step_id: str | None) -> Waiter | None:
        return next(
            (
                w
                for w in self._open.values()
                if w.kind == "approval"
                and not w.answered
                and (step_id is None or w.step_id == step_id)
            ),
            None,
        )

    def deliver(self, delivery: EventDelivery) -> str:
        waiter = self.event_waiter(delivery.name)
        if waiter is None:
            raise ValueError(f"no step is waiting for event {delivery.name!r}")
        waiter.answer, waiter.answered = delivery.payload, True
        return waiter.step_id

    def decide(self, decision: ApprovalDecision) -> str:
        waiter = self.approval_waiter(decision.step_id)
        if waiter is None:
            raise ValueError("no step is waiting for an approval")
        waiter.answer = {
            "approved": decision.approved,
            "by": decision.by,
            "comment": decision.comment,
        }
        waiter.answered = True
        return waiter.step_id
