"""The ``code`` step: a user's JavaScript, run in a QuickJS sandbox with hard limits.

Each attempt gets a new QuickJS context (its own heap and globals, nothing kept between
runs) holding only ECMAScript built-ins: no ``require``, ``process``, file system, network,
timers or host object; nothing of Python is reachable from inside. The engine enforces the
memory limit (every allocation) and the time limit (an interrupt check in the bytecode loop
and in regular expressions), so the script runs on a thread of its own and the worker's event
loop stays free: QuickJS releases the GIL while it runs. Failures:

    ApplicationError type       cause                                          retryable
    CodeError                   the script threw (message and line)            no
    CodeTimeout                 it ran past the step's timeout                 no
    CodeMemoryLimit             it allocated more than the memory limit        no
                                (or threw ``null``: what the engine throws when
                                the heap is too full to build an error)
    CodeOutputTooLarge          its result is over the output limit            no
    CodeNotSettled              it awaited a promise nothing can resolve       no

``console.log/info/warn/error/debug`` lines are kept inside the script (a bounded count and
length, no host callback) and recorded as ``log`` events of the run, also when it fails.
Secrets never reach a script: a definition cannot reference them in a ``code`` step (422),
and the activity resolves no secret marker, so one arriving in the input stays inert text.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import quickjs
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.events import EventRecorder
from temporal_workflows.javascript import position, wrap
from temporal_workflows.run_types import CodeStepInput, EventRecord, StepOutcome

logger = logging.getLogger(__name__)

# Runs before the user's script; it captures what it needs, so a script that replaces
# JSON, String or console later cannot change how its logs and result are read.
_PRELUDE: Final = r"""
(function (maxLines, maxLineLength, maxOutput) {
  "use strict";
  const stringify = JSON.stringify, parse = JSON.parse, toText = String;
  const apply = Reflect.apply, then = Promise.prototype.then, resolve = Promise.resolve;
  // The Python binding cannot read QuickJS-ng's rope strings (what `a + b` builds): slicing
  // gives a flat copy.
  const slice = String.prototype.slice, flat = (text) => apply(slice, text, [0]);
  let logs = "", lines = 0, dropped = 0, outcome = "";
  const show = (value) => {
    if (typeof value === "string") return value;
    try { const text = stringify(value); return text === undefined ? toText(value) : text; }
    catch (e) { return toText(value); }
  };
  const emit = (level) => (...args) => {
    if (lines >= maxLines) { dropped++; return; }
    let text = "";
    for (let i = 0; i < args.length && text.length <= maxLineLength; i++) {
      text += (i ? " " : "") + show(args[i]);
    }
    if (text.length > maxLineLength) text = text.slice(0, maxLineLength) + "…";
    lines++;
    // One JSON string a line: newlines inside are escaped, and a string has no toJSON.
    logs += level + stringify(text) + "\n";
  };
  globalThis.console = {
    log: emit("i"), info: emit("i"), debug: emit("d"), warn: emit("w"), error: emit("e"),
  };
  const describe = (error) => {
    try {
      if (error instanceof Error) return toText(error.name) + ": " + toText(error.message)
        + "\n" + toText(error.stack || "");
      return "Uncaught " + show(error);
    } catch (e) { return "Uncaught exception"; }
  };
  const settle = (kind) => (value) => {
    if (outcome) return;
    if (kind === "ok") {
      let text;
      try { text = stringify(value === undefined ? null : value); }
      catch (e) { outcome = "e" + describe(e); return; }
      if (text === undefined) text = "null";
      outcome = text.length > maxOutput ? "o" + toText(text.length) : "k" + text;
    } else {
      // An allocation that fails while the heap is full cannot build its InternalError
      // either: QuickJS then throws null. Tested before anything here allocates.
      outcome = value === null ? "m" : "e" + describe(value);
    }
  };
  const table = {
    start(fn, inputText) {
      let promise;
      try { promise = fn(parse(inputText)); }
      catch (e) { settle("error")(e); return; }
      apply(then, apply(resolve, Promise, [promise]), [settle("ok"), settle("error")]);
    },
    outcome() { return flat(outcome); },
    logs() { return flat(logs); },
    dropped() { return dropped; },
  };
  return (name) => table[name];
})
"""


@dataclass(frozen=True)
class CodeLimits:
    """What one script may use; the defaults are Settings' (``HEADRACE_CODE_*``)."""

    timeout_seconds: float = 5.0  # when the step has no `timeout`
    memory_bytes: int = 64 * 1024 * 1024
    max_output_bytes: int = 1024 * 1024
    max_log_lines: int = 100
    max_log_line: int = 2000
    max_concurrency: int = 2  # scripts running at once on one worker (one thread each)


@dataclass
class CodeResult:
    """One script run: its output (JSON text) or its failure, and its console lines."""

    output: Any = None
    error: ApplicationError | None = None
    logs: list[tuple[str, str]] = field(default_factory=list)


_LEVELS: Final = {"i": "info", "d": "debug", "w": "warning", "e": "error"}


def run_script(code: str, input_data: Any, limits: CodeLimits, timeout: float) -> CodeResult:
    """Run one script to completion in a fresh context (blocking; call it on a thread).

    Args:
        code: The function body.
        input_data: The JSON value the script receives as ``input``.
        limits: Memory, output and log limits.
        timeout: Seconds of wall time for everything the script does, awaits included.
    """
    deadline = time.monotonic() + timeout
    context = quickjs.Context()
    context.set_memory_limit(limits.memory_bytes)
    # Deep recursion fails as a RangeError long before the thread's own stack runs out.
    context.set_max_stack_size(256 * 1024)
    result = CodeResult()
    logs: Any = None
    dropped: Any = None

    def call(function: Callable[[], Any]) -> Any:
        context.set_time_limit(max(deadline - time.monotonic(), 0.001))
        return function()

    try:
        helpers = call(lambda: context.eval(_PRELUDE))
        runtime = call(
            lambda: helpers(limits.max_log_lines, limits.max_log_line, limits.max_output_bytes)
        )
        start, outcome, logs, dropped = (
            runtime(name) for name in ("start", "outcome", "logs", "dropped")
        )
        text = json.dumps(input_data, allow_nan=False)
        call(lambda: start(call(lambda: context.eval(wrap(code))), text))
        while not outcome() and call(context.execute_pending_job):
            if time.monotonic() >= deadline:
                raise _timeout(timeout)
        result.output, result.error = _read_outcome(str(call(outcome)), limits)
    except quickjs.JSException as exc:
        result.error = _engine_error(str(exc), timeout)
    except ApplicationError as error:
        result.error = error
    try:
        # A fresh budget: reading the lines runs none of the user's code.
        context.set_time_limit(1.0)
        if logs is not None:
            result.logs = _read_logs(str(logs()))
            if dropped():
                result.logs.append(("warning", f"console: {dropped()} more lines were dropped"))
    except quickjs.JSException:
        logger.debug("the console lines of a failed script could not be read", exc_info=True)
    return result


def _read_outcome(text: str, limits: CodeLimits) -> tuple[Any, ApplicationError | None]:
    kind, rest = text[:1], text[1:]
    if kind == "k":
        return json.loads(rest), None
    if kind == "o":
        return None, _fail(
            f"the code's result is {rest} characters of JSON, over the limit of "
            f"{limits.max_output_bytes} (HEADRACE_CODE_MAX_OUTPUT)",
            "CodeOutputTooLarge",
        )
    if kind == "e":
        return None, _thrown(rest)
    if kind == "m":
        return None, _memory()
    return None, _fail(
        "the code awaited a promise that never settled (there are no timers or I/O to resolve it)",
        "CodeNotSettled",
    )


def _thrown(text: str) -> ApplicationError:
    if "out of memory" in text.split("\n", 1)[0]:
        return _memory()
    line, column = position(text)
    first = text.split("\n", 1)[0]
    where = f" (line {line}, column {column})" if line else ""
    details = {"line": line, "column": column} if line else {}
    return _fail(f"{first}{where}", "CodeError", details)


def _engine_error(text: str, timeout: float) -> ApplicationError:
    first = text.split("\n", 1)[0]
    if "interrupted" in first:
        return _timeout(timeout)
    # The engine itself threw null: an allocation failed while the heap was full (in a
    # promise job, past the prelude's own check), as the prelude's "m" outcome says.
    if "out of memory" in first or first.strip() == "null":
        return _memory()
    return _thrown(text)


def _timeout(timeout: float) -> ApplicationError:
    return _fail(f"the code ran longer than {timeout:g}s (the step's timeout)", "CodeTimeout")


def _memory() -> ApplicationError:
    return _fail(
        "the code used more memory than allowed (HEADRACE_CODE_MEMORY_MB), or threw null",
        "CodeMemoryLimit",
    )


def _fail(message: str, error_type: str, details: dict[str, Any] | None = None) -> ApplicationError:
    return ApplicationError(message, details or {}, type=error_type, non_retryable=True)


def _read_logs(text: str) -> list[tuple[str, str]]:
    """``<level><JSON string>`` lines, as the prelude writes them."""
    return [
        (_LEVELS.get(line[:1], "info"), str(json.loads(line[1:])))
        for line in text.split("\n")
        if line
    ]


class CodeActivities:
    """The ``code`` step's activity: scripts on a small pool of threads, events recorded."""

    def __init__(self, recorder: EventRecorder | None, limits: CodeLimits | None = None) -> None:
        self._recorder = recorder
        self._limits = limits or CodeLimits()
        self._pool = ThreadPoolExecutor(
            max_workers=self._limits.max_concurrency, thread_name_prefix="headrace-code"
        )

    @activity.defn(name="run_code_step")
    async def run_code_step(self, req: CodeStepInput) -> StepOutcome:
        """Run the step's script once; its console lines become the run's ``log`` events."""
        timeout = req.timeout_seconds or self._limits.timeout_seconds
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(
            self._pool, run_script, req.code, req.input, self._limits, timeout
        )
        await self._record_logs(req, result.logs)
        if result.error is not None:
            raise result.error
        attempt = activity.info().attempt if activity.in_activity() else 1
        return StepOutcome(output=result.output, attempt=attempt)

    def close(self) -> None:
        """Stop the threads (scripts end at their own time limit)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _record_logs(self, req: CodeStepInput, lines: list[tuple[str, str]]) -> None:
        if not lines or self._recorder is None:
            return
        info = activity.info() if activity.in_activity() else None
        prefix = f"act:{info.activity_id}:{info.attempt}" if info else f"code:{req.step_id}"
        now = datetime.now(UTC)
        events = [
            EventRecord(
                type="log",
                dedupe_key=f"{prefix}:console:{index}",
                step_id=req.step_id,
                attempt=info.attempt if info else None,
                level=level,
                message=message,
                data={"source": "console"},
                ts=now,
            )
            for index, (level, message) in enumerate(lines)
        ]
        try:
            await self._recorder.record(req.execution_id, events)
        except Exception:  # logs are best effort: the step's own outcome matters more
            logger.warning("could not record console lines of %s", req.execution_id, exc_info=True)
