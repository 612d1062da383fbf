"""The ``code`` step's sandbox: what a script can do, what it cannot, and its limits.

``run_script`` is the engine call the activity runs on a thread; these tests call it directly
(with small limits so each attack ends fast) and the activity for what it adds: the thread,
so the event loop keeps running while a script spins.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from activities.code import CodeActivities, CodeLimits, CodeResult, run_script
from temporal_workflows.javascript import check_syntax
from temporal_workflows.run_types import CodeStepInput
from temporal_workflows.secret_markers import secret_marker

LIMITS = CodeLimits(memory_bytes=16 * 1024 * 1024, max_output_bytes=64 * 1024, max_log_lines=5)
# ECMAScript's built-ins and the few QuickJS-ng adds, plus the sandbox's console.
ALLOWED_GLOBALS = {
    *[
        "Object",
        "Function",
        "Error",
        "EvalError",
        "RangeError",
        "ReferenceError",
        "SyntaxError",
        "TypeError",
        "URIError",
        "InternalError",
        "AggregateError",
        "SuppressedError",
        "Iterator",
        "Array",
        "parseInt",
        "parseFloat",
        "isNaN",
        "isFinite",
        "queueMicrotask",
        "decodeURI",
        "decodeURIComponent",
        "encodeURI",
        "encodeURIComponent",
        "escape",
        "unescape",
        "Infinity",
        "NaN",
        "undefined",
        "eval",
        "Number",
        "Boolean",
        "String",
        "Math",
        "Reflect",
        "Symbol",
        "DisposableStack",
        "globalThis",
        "BigInt",
        "Date",
        "RegExp",
        "JSON",
        "Proxy",
        "Map",
        "Set",
        "WeakMap",
        "WeakSet",
        "ArrayBuffer",
        "SharedArrayBuffer",
        "Uint8ClampedArray",
        "Int8Array",
        "Uint8Array",
        "Int16Array",
        "Uint16Array",
        "Int32Array",
        "Uint32Array",
        "BigInt64Array",
        "BigUint64Array",
        "Float16Array",
        "Float32Array",
        "Float64Array",
        "DataView",
        "Atomics",
        "Promise",
        "AsyncDisposableStack",
        "WeakRef",
        "FinalizationRegistry",
        "DOMException",
        "btoa",
        "atob",
        "performance",
        "console",
    ]
}


def run(code: str, input_data: Any = None, timeout: float = 1.0) -> CodeResult:
    return run_script(code, input_data, LIMITS, timeout)


def output(code: str, input_data: Any = None) -> Any:
    result = run(code, input_data)
    assert result.error is None, result.error
    return result.output


def failure(code: str, timeout: float = 1.0) -> ApplicationError:
    result = run(code, timeout=timeout)
    assert result.error is not None, result.output
    assert result.error.non_retryable
    return result.error


class TestScripts:
    def test_the_body_receives_input_and_returns_the_output(self) -> None:
        code = "return {total: input.items.reduce((s, i) => s + i.price, 0)}"
        assert output(code, {"items": [{"price": 2}, {"price": 3}]}) == {"total": 5}

    def test_a_script_may_await(self) -> None:
        assert output("const v = await Promise.resolve(41); return v + 1") == 42

    def test_undefined_is_null_and_any_json_value_is_an_output(self) -> None:
        assert output("") is None
        assert output("return [1, 'a', true, null]") == [1, "a", True, None]

    def test_date_and_math_random_are_available(self) -> None:
        value = output("return [typeof Date.now(), Math.random() < 1, new Date(0).toISOString()]")
        assert value == ["number", True, "1970-01-01T00:00:00.000Z"]

    def test_a_thrown_error_is_code_error_with_the_line(self) -> None:
        error = failure("const a = 1;\n\nnull.x")
        assert error.type == "CodeError"
        assert "cannot read property 'x' of null" in error.message
        assert "line 3" in error.message
        assert error.details[0] == {"line": 3, "column": 1}

    def test_a_rejected_promise_and_a_thrown_value_are_code_errors(self) -> None:
        assert "boom" in failure("await null; throw new Error('boom')").message
        assert failure("throw {reason: 'no'}").message == 'Uncaught {"reason":"no"}'

    def test_a_promise_nothing_resolves_fails_the_step(self) -> None:
        assert failure("await new Promise(() => {})").type == "CodeNotSettled"

    def test_a_result_that_is_not_json_fails_cleanly(self) -> None:
        assert failure("return 10n").type == "CodeError"


class TestConsole:
    def test_lines_are_kept_with_their_level(self) -> None:
        result = run("console.log('a', {b: 1}); console.warn('w'); console.error(new Error('e'))")
        assert result.logs == [("info", 'a {"b":1}'), ("warning", "w"), ("error", "{}")]

    def test_lines_keep_any_text(self) -> None:
        result = run("console.log('two\\nlines 🚀', '\"quoted\"'); console.info('é')")
        assert result.logs == [("info", 'two\nlines 🚀 "quoted"'), ("info", "é")]

    def test_lines_are_bounded_in_count_and_length(self) -> None:
        result = run("for (let i = 0; i < 1000; i++) console.log('x'.repeat(5000))")
        assert len(result.logs) == LIMITS.max_log_lines + 1
        assert all(len(text) <= LIMITS.max_log_line + 1 for _, text in result.logs[:-1])
        assert result.logs[-1] == ("warning", "console: 995 more lines were dropped")

    def test_lines_written_before_a_failure_are_kept(self) -> None:
        result = run("console.log('before'); while (true) {}")
        assert result.error is not None and result.error.type == "CodeTimeout"
        assert result.logs == [("info", "before")]

    def test_replacing_console_or_json_does_not_break_reading(self) -> None:
        code = "console.log('kept'); JSON.stringify = () => 'forged'; console = null; return 1"
        result = run(code)
        assert (result.output, result.logs) == (1, [("info", "kept")])


class TestLimits:
    def test_an_infinite_loop_is_a_timeout(self) -> None:
        assert failure("while (true) {}", timeout=0.5).type == "CodeTimeout"

    def test_an_endless_chain_of_promises_is_a_timeout(self) -> None:
        code = "const spin = () => queueMicrotask(spin); spin(); await new Promise(() => {})"
        assert failure(code, timeout=0.5).type == "CodeTimeout"

    def test_a_catastrophic_regular_expression_is_a_timeout(self) -> None:
        code = "return /^(a+)+$/.test('a'.repeat(40) + 'b')"
        assert failure(code, timeout=0.5).type == "CodeTimeout"

    def test_an_allocation_loop_is_a_memory_limit(self) -> None:
        code = "const a = []; while (true) a.push('x'.repeat(1000) + a.length)"
        assert failure(code).type == "CodeMemoryLimit"

    def test_a_chain_of_promises_that_grows_fails_cleanly(self) -> None:
        code = (
            "const grow = () => Promise.resolve().then(grow); grow(); await new Promise(() => {})"
        )
        assert failure(code).type in {"CodeMemoryLimit", "CodeTimeout", "CodeNotSettled"}

    def test_null_thrown_by_the_engine_is_the_memory_limit(self) -> None:
        """A full heap can fail a promise job so early that QuickJS throws null (seen once
        in CI from the growing chain above, reported as ``CodeError: null``)."""
        from activities.code import _engine_error

        assert _engine_error("null", 1.0).type == "CodeMemoryLimit"

    def test_one_huge_string_is_a_memory_limit(self) -> None:
        assert failure("return 'x'.repeat(2 ** 28)").type == "CodeMemoryLimit"

    def test_a_result_over_the_output_limit_is_refused(self) -> None:
        error = failure("return 'x'.repeat(100 * 1024)")
        assert error.type == "CodeOutputTooLarge"

    def test_deep_recursion_is_a_code_error_not_a_crash(self) -> None:
        error = failure("function f() { return f() + 1 } return f()")
        assert error.type == "CodeError" and "stack" in error.message


class TestEscapes:
    """A script reaches nothing outside its own fresh context."""

    def test_no_host_global_is_reachable(self) -> None:
        names = set(output("return Object.getOwnPropertyNames(globalThis)"))
        assert names <= ALLOWED_GLOBALS
        for name in ("require", "process", "module", "std", "os", "fetch", "setTimeout"):
            assert output(f"return typeof {name}") == "undefined"

    def test_the_function_constructor_reaches_nothing(self) -> None:
        error = failure("return this.constructor.constructor('return process')()")
        assert error.type == "CodeError" and "process is not defined" in error.message
        assert output("return typeof Function('return this')().process") == "undefined"
        assert output("return typeof (async () => {}).constructor('return require')") == (
            "function"
        )
        error = failure("return await (async () => {}).constructor('return require')()")
        assert "require is not defined" in error.message

    def test_modules_cannot_be_imported(self) -> None:
        for module in ("std", "os", "fs", "child_process"):
            assert failure(f"return await import('{module}')").type == "CodeError"

    def test_globals_and_prototypes_do_not_leak_into_the_next_run(self) -> None:
        polluter = (
            "Object.prototype.polluted = 'yes'; Array.prototype.push = () => 0;"
            "globalThis.leak = 1; JSON.parse = () => ({forged: true}); return 1"
        )
        assert output(polluter) == 1
        probe = "return [typeof ({}).polluted, typeof leak, [1].concat([2]).length, input]"
        assert output(probe, {"real": True}) == ["undefined", "undefined", 2, {"real": True}]

    def test_a_microtask_queued_after_the_result_does_not_outlive_the_call(self) -> None:
        code = "queueMicrotask(() => { while (true) {} }); return 'done'"
        result = run(code, timeout=0.5)
        # Either the spin runs before the result is read (a timeout) or never: the call ends.
        assert result.output == "done" or (result.error and result.error.type == "CodeTimeout")

    def test_code_cannot_close_its_function_to_run_at_save_time(self) -> None:
        escape = "}); while (true) {} (function () {"
        problem = check_syntax(escape)
        assert problem is not None and "closes its function" in problem.message

    def test_the_syntax_check_runs_nothing(self) -> None:
        assert check_syntax("while (true) {}") is None  # compiled, not run: returns at once

    def test_a_secret_marker_in_the_input_is_inert_text(self) -> None:
        marker = secret_marker("token", "k" * 32)
        assert output("return input.t", {"t": marker}) == marker


class TestActivity:
    async def test_a_spinning_script_leaves_the_event_loop_free(self) -> None:
        activities = CodeActivities(None, CodeLimits(timeout_seconds=1.0))
        try:
            request = CodeStepInput(step_id="s", execution_id="e", code="while (true) {}")
            task = asyncio.create_task(activities.run_code_step(request))
            ticks = 0
            while not task.done() and ticks < 5:
                await asyncio.sleep(0.01)
                ticks += 1
            assert ticks == 5 and not task.done()  # the loop ran while the script spun
            with pytest.raises(ApplicationError) as raised:
                await task
            assert raised.value.type == "CodeTimeout"
        finally:
            activities.close()

    async def test_the_step_timeout_replaces_the_default(self) -> None:
        activities = CodeActivities(None, CodeLimits(timeout_seconds=60.0))
        try:
            request = CodeStepInput(
                step_id="s", execution_id="e", code="while (true) {}", timeout_seconds=0.3
            )
            with pytest.raises(ApplicationError) as raised:
                await activities.run_code_step(request)
            assert "0.3s" in raised.value.message
        finally:
            activities.close()
