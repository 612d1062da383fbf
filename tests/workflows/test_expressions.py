"""Templates: typing, interpolation, missing values, filters, the sandbox, secrets."""

from __future__ import annotations

from typing import Any

import pytest
from jinja2.parser import Parser

from temporal_workflows.expression_sandbox import ENVIRONMENT
from temporal_workflows.expressions import (
    SECRET_MARKER_PREFIX,
    SECRET_MARKER_SUFFIX,
    ExpressionError,
    UnknownSecretError,
    build_context,
    contains_secret_markers,
    evaluate,
    evaluate_condition,
    evaluate_expression,
    redact_secrets,
    referenced_names,
    referenced_steps,
    resolve_secret_markers,
    template_problems,
    uses_dynamic_step_reference,
)
from temporal_workflows.template_analysis import _analyse_tree, _quick_analysis

RUN_KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def context() -> dict[str, Any]:
    return build_context(
        input={"user_id": 7, "name": "Ann", "tags": ["a", "b"], "nothing": None},
        vars={"base": "https://api.example.com", "codes": [200, 404], "rate": 0.5},
        steps={
            "user": {
                "output": {
                    "status": 200,
                    "body": {
                        "tier": "vip",
                        "spend": 250,
                        "items": [1, 2, 3],
                        "orders": [{"id": 1, "paid": True}, {"id": 2, "paid": False}],
                    },
                },
                "status": "completed",
                "error": None,
            },
            "charge": {"status": "failed", "error": "card declined"},
        },
        execution_id="exec-1",
        workflow_id="wf-1",
        secret_key=RUN_KEY,
    )


def run(template: Any, context: dict[str, Any]) -> Any:
    return evaluate(template, context, location="steps.t.with.x")


class TestWholeValueTemplates:
    """A string that is exactly one {{ expr }} keeps the expression's JSON type."""

    @pytest.mark.parametrize(
        ("template", "expected"),
        [
            ("{{ input.user_id }}", 7),
            ("{{ steps.user.output.body.spend * 0.1 }}", 25.0),
            ("{{ vars.rate }}", 0.5),
            ("{{ steps.user.output.body.tier == 'vip' }}", True),
            ("{{ input.tags }}", ["a", "b"]),
            ("{{ steps.user.output.body.orders[0] }}", {"id": 1, "paid": True}),
            ("{{ input.nothing }}", None),
            ("{{ 'text' }}", "text"),
            ("  {{ input.user_id }}  ", 7),
            ("{{ {'a': {'b': [1, 2]}} }}", {"a": {"b": [1, 2]}}),
            ("{{ '}}' }}", "}}"),
            ("{{ (1, 2) }}", [1, 2]),
        ],
    )
    def test_native_type_is_kept(
        self, template: str, expected: Any, context: dict[str, Any]
    ) -> None:
        result = run(template, context)
        assert result == expected
        assert type(result) is type(expected) or isinstance(expected, tuple)

    def test_template_for_a_list_where_a_list_is_expected(self, context: dict[str, Any]) -> None:
        assert run({"expect_status": "{{ vars.codes }}"}, context) == {"expect_status": [200, 404]}


class TestInterpolation:
    @pytest.mark.parametrize(
        ("template", "expected"),
        [
            ("{{ vars.base }}/users/{{ input.user_id }}", "https://api.example.com/users/7"),
            ("x={{ input.nothing }}.", "x=."),
            ("flag={{ true }}", "flag=true"),
            ("off={{ 1 > 2 }}", "off=false"),
            ("tags={{ input.tags }}", 'tags=["a","b"]'),
            ("o={{ steps.user.output.body.orders[1] }}", 'o={"id":2,"paid":false}'),
            ("n={{ vars.rate }}", "n=0.5"),
            ("no templates here", "no templates here"),
            (
                "{% not a block %} {# nor a comment #} }}",
                "{% not a block %} {# nor a comment #} }}",
            ),
        ],
    )
    def test_renders_text(self, template: str, expected: str, context: dict[str, Any]) -> None:
        assert run(template, context) == expected

    def test_dicts_and_lists_are_walked_keys_are_literal(self, context: dict[str, Any]) -> None:
        value = {"{{ key }}": ["{{ input.user_id }}", {"n": "{{ input.name }}"}], "k": 3}
        assert run(value, context) == {"{{ key }}": [7, {"n": "Ann"}], "k": 3}

    def test_non_strings_pass_through(self, context: dict[str, Any]) -> None:
        assert run([1, 2.5, True, None], context) == [1, 2.5, True, None]


class TestMissingValues:
    def test_default_for_a_missing_path(self, context: dict[str, Any]) -> None:
        assert run("{{ steps.user.output.x.y | default(1) }}", context) == 1
        assert run("{{ input.missing | default('n/a') }}", context) == "n/a"

    def test_is_defined(self, context: dict[str, Any]) -> None:
        assert run("{{ input.missing is defined }}", context) is False
        assert run("{{ input.name is defined }}", context) is True

    def test_is_undefined_and_safe_access_through_a_chain(self, context: dict[str, Any]) -> None:
        assert run("{{ input.missing.deeper.still is undefined }}", context) is True
        assert run("{{ input.missing.deeper | default(none) }}", context) is None
        assert run("{{ input.missing | default('empty', true) }}", context) == "empty"

    @pytest.mark.parametrize(
        "template",
        [
            "{{ input.missing == 'x' }}",
            "{{ input.missing != 'x' }}",
            "{{ input.missing or 'fallback' }}",
            "{{ not input.missing }}",
            "{{ 'a' if input.missing else 'b' }}",
            "{{ input.missing in ['x'] }}",
            "{{ input.missing and true }}",
        ],
    )
    def test_comparing_or_testing_a_missing_value_is_an_error(
        self, template: str, context: dict[str, Any]
    ) -> None:
        with pytest.raises(ExpressionError, match=r"'input\.missing' is undefined"):
            run(template, context)

    def test_runs_recorded_before_strictness_compare_missing_values_as_before(
        self, context: dict[str, Any]
    ) -> None:
        assert evaluate("{{ input.missing or 'fallback' }}", context, strict=False) == "fallback"
        assert evaluate("{{ input.missing == 'x' }}", context, strict=False) is False

    def test_a_typo_offers_the_key_that_exists(self, context: dict[str, Any]) -> None:
        with pytest.raises(ExpressionError) as caught:
            run("{{ steps.user.output.body.teir != 'gold' }}", context)
        assert caught.value.message.startswith(
            "'steps.user.output.body.teir' is undefined; did you mean 'steps.user.output.body.tier'"
        )

    def test_without_a_close_key_the_keys_are_listed(self, context: dict[str, Any]) -> None:
        with pytest.raises(ExpressionError, match=r"\(input has name, nothing, tags, user_id\)"):
            run("{{ input.zzz == 1 }}", context)

    def test_secret_names_are_never_listed(self) -> None:
        ctx = {"secrets": {"api_token": "s3cr3t"}}
        with pytest.raises(ExpressionError) as caught:
            evaluate("{{ secrets.api_tokn == 1 }}", ctx)
        assert "api_token" not in str(caught.value)
        assert "s3cr3t" not in str(caught.value)

    def test_reading_a_skipped_step_says_why_it_was_skipped(self) -> None:
        reason = "skipped because 'pay' was skipped"
        ctx = build_context(
            input=None,
            vars={},
            steps={"charge": {"status": "skipped", "reason": reason}},
            execution_id="e",
            workflow_id="w",
        )
        with pytest.raises(ExpressionError) as caught:
            evaluate("{{ steps.charge.output.body }}", ctx)
        assert caught.value.message.startswith(
            "'steps.charge.output.body' is undefined (step 'charge' was skipped because 'pay' "
            "was skipped)"
        )

    @pytest.mark.parametrize(
        ("template", "path"),
        [
            ("{{ input.missing }}", "input.missing"),
            ("{{ steps.user.output.body.tierx }}", "steps.user.output.body.tierx"),
            ("{{ steps.user.output.body.nope.deeper * 2 }}", "steps.user.output.body.nope"),
            ("Hello {{ input.nickname }}", "input.nickname"),
            ("{{ [input.gone] }}", "input.gone"),
            ("{{ input.gone ~ 'x' }}", "input.gone"),
            ("{{ steps.user.output.body.items[7] }}", "steps.user.output.body.items[7]"),
            ("{{ nosuchname }}", "nosuchname"),
        ],
    )
    def test_a_missing_final_value_names_the_path(
        self, template: str, path: str, context: dict[str, Any]
    ) -> None:
        with pytest.raises(ExpressionError) as caught:
            run(template, context)
        assert caught.value.message.startswith(f"{path!r} is undefined")
        assert caught.value.location == "steps.t.with.x"

    def test_location_follows_keys_and_indexes(self, context: dict[str, Any]) -> None:
        with pytest.raises(ExpressionError) as caught:
            evaluate({"a": [{"b": "{{ input.gone }}"}]}, context, location="steps[vip].with")
        assert caught.value.location == "steps[vip].with.a[0].b"
        assert caught.value.expression == " input.gone "
        assert str(caught.value).startswith("steps[vip].with.a[0].b: 'input.gone' is undefined")


class TestAttributeAndItemAccess:
    def test_keys_by_attribute_and_by_item(self, context: dict[str, Any]) -> None:
        assert run("{{ steps.user.output.body.tier }}", context) == "vip"
        assert run("{{ steps['user']['output']['body']['tier'] }}", context) == "vip"

    def test_keys_win_over_dict_methods(self) -> None:
        ctx = build_context(
            input={"items": [1], "keys": "k"}, vars={}, steps={}, execution_id="e", workflow_id="w"
        )
        assert evaluate("{{ input.items }}", ctx) == [1]
        assert evaluate("{{ input.keys }}", ctx) == "k"

    def test_execution_and_workflow_ids(self, context: dict[str, Any]) -> None:
        assert run("{{ execution.id }}/{{ workflow.id }}", context) == "exec-1/wf-1"

    def test_step_status_and_error(self, context: dict[str, Any]) -> None:
        assert run("{{ steps.charge.status }}: {{ steps.charge.error }}", context) == (
            "failed: card declined"
        )
        assert run("{{ steps.charge.output }}", context) is None

    def test_item_index_output_only_when_given(self) -> None:
        ctx = build_context(
            input=None, vars={}, steps={}, execution_id="e", workflow_id="w", item={"n": 1}, index=0
        )
        assert evaluate("{{ item.n }}-{{ index }}", ctx) == "1-0"
        assert "output" not in ctx
        assert evaluate("{{ output.done }}", {**ctx, "output": {"done": True}}) is True


class TestFilters:
    @pytest.mark.parametrize(
        ("template", "expected"),
        [
            ("{{ input.name | upper }}", "ANN"),
            ("{{ input.name | lower }}", "ann"),
            ("{{ input.name | replace('A', 'E') }}", "Enn"),
            ("{{ input.tags | join(', ') }}", "a, b"),
            ("{{ [1, true, none] | join(',') }}", "1,true,"),
            ("{{ input.tags | length }}", 2),
            ("{{ steps.user.output.body.items | sum }}", 6),
            ("{{ steps.user.output.body.items | max }}", 3),
            (
                "{{ steps.user.output.body.orders | selectattr('paid') | list }}",
                [{"id": 1, "paid": True}],
            ),
            ("{{ steps.user.output.body.orders | map(attribute='id') | list }}", [1, 2]),
            ("{{ steps.user.output.body.orders | map(attribute='id') }}", [1, 2]),
            (
                "{{ steps.user.output.body.orders | rejectattr('paid') | map(attribute='id') | first }}",
                2,
            ),
            ("{{ steps.user.output.body.items | select('odd') | list }}", [1, 3]),
            (
                "{{ input | tojson }}",
                '{"user_id": 7, "name": "Ann", "tags": ["a", "b"], "nothing": null}',
            ),
            ("{{ input.tags | string }}", '["a","b"]'),
            ("{{ '3' | int + 1 }}", 4),
            ("{{ 2.567 | round(1) }}", 2.6),
            ("{{ '%.2f' | format(3.14159) }}", "3.14"),
            ("{{ input.name.lower() }}", "ann"),
            ("{{ 'a,b'.split(',') }}", ["a", "b"]),
            ("{{ input.name.startswith('A') }}", True),
            ("{{ [3, 1, 2] | sort }}", [1, 2, 3]),
            ("{{ [1, 1, 2] | unique | list }}", [1, 2]),
            ("{{ 'x' ~ 1 }}", "x1"),
            ("{{ 7 // 2 }}, {{ 7 % 3 }}, {{ 2 ** 10 }}", "3, 1, 1024"),
            ("{{ 'b' in input.tags }}", True),
            ("{{ input.user_id if input.user_id > 5 else 0 }}", 7),
        ],
    )
    def test_filter(self, template: str, expected: Any, context: dict[str, Any]) -> None:
        assert run(template, context) == expected


class TestSandbox:
    @pytest.mark.parametrize(
        "template",
        [
            "{{ ''.__class__ }}",
            "{{ input.__init__ }}",
            "{{ ''.__class__.__mro__[1].__subclasses__() }}",
            "{{ input.tags.append(1) }}",
            "{{ input.update({}) }}",
            "{{ 'x'.format() }}",
            "{{ '{0:>999999999}'.format(1) }}",
            "{{ 'x'.center(10) }}",
            "{{ input | attr('__class__') }}",
        ],
    )
    def test_attribute_walking_and_unsafe_methods_refused(
        self, template: str, context: dict[str, Any]
    ) -> None:
        with pytest.raises(ExpressionError, match="not allowed"):
            run(template, context)

    @pytest.mark.parametrize(
        "template",
        [
            "{{ 9 ** (9 ** 9) }}",
            "{{ 10 ** 1001 }}",
            "{{ (10 ** 1000) ** 1000 }}",
            "{{ 'a' * 10**9 }}",
            "{{ [0] * 10**6 }}",
            "{{ '%0999999999d' % 1 }}",
            "{{ '%*d' % (5, 1) }}",
            "{{ '%099999999d' | format(1) }}",
            "{{ 'x' | center(10**9) }}",
            "{{ 'x' | indent(10**9) }}",
            "{{ [1] | batch(10**9, 0) | list }}",
            "{{ [1] | slice(10**9) | list }}",
            "{{ ('a' * 100000) | replace('a', 'b' * 1000) }}",
            "{{ ('a' * 100000) | list | join('b' * 100000) }}",
        ],
    )
    def test_unbounded_work_refused(self, template: str, context: dict[str, Any]) -> None:
        with pytest.raises(ExpressionError, match="too much work"):
            run(template, context)

    def test_left_associative_power_is_small_enough(self, context: dict[str, Any]) -> None:
        # Jinja reads 9**9**9 as (9**9)**9, a 79-digit number: bounded, so allowed.
        assert run("{{ 9**9**9 }}", context) == (9**9) ** 9

    @pytest.mark.parametrize(
        "template", ["{{ range(10) }}", "{{ lipsum() }}", "{{ cycler }}", "{{ namespace() }}"]
    )
    def test_no_globals(self, template: str, context: dict[str, Any]) -> None:
        with pytest.raises(ExpressionError, match="is undefined"):
            run(template, context)

    def test_no_random_filter(self, context: dict[str, Any]) -> None:
        with pytest.raises(ExpressionError, match="no filter named 'random'"):
            run("{{ input.tags | random }}", context)

    def test_context_cannot_be_mutated(self, context: dict[str, Any]) -> None:
        with pytest.raises(ExpressionError):
            run("{{ input.tags.pop() }}", context)
        assert context["input"]["tags"] == ["a", "b"]

    @pytest.mark.parametrize(
        ("template", "message"),
        [
            ("{{ 1 / 0 }}", "division by zero"),
            ("{{ 'a' + 1 }}", "str"),
            ("{{ input.items }}", "a method is not a value"),
            ("{{ input.name.lower }}", "a method is not a value"),
        ],
    )
    def test_runtime_errors_become_expression_errors(
        self, template: str, message: str, context: dict[str, Any]
    ) -> None:
        with pytest.raises(ExpressionError, match=message):
            run(template, context)


class TestSyntax:
    @pytest.mark.parametrize(
        ("template", "message"),
        [
            ("{{ a + }}", "cannot parse"),
            ("{{ a", "never closed"),
            ("text {{ x | nosuchfilter }}", "no filter named 'nosuchfilter'"),
            ("{{ x is nosuchtest }}", "no test named 'nosuchtest'"),
            ("{{ x y }}", "cannot parse"),
        ],
    )
    def test_evaluation_reports_syntax(
        self, template: str, message: str, context: dict[str, Any]
    ) -> None:
        with pytest.raises(ExpressionError, match=message):
            run(template, context)

    def test_template_problems_point_at_each_broken_string(self) -> None:
        value = {"ok": "{{ a.b }}", "bad": ["x", "{{ a + }}"], "a/b": "{{ a", "n": 1}
        problems = template_problems(value, "/steps/0/with")
        assert [pointer for pointer, _ in problems] == ["/steps/0/with/bad/1", "/steps/0/with/a~1b"]
        assert "cannot parse '{{ a + }}'" in problems[0][1]

    def test_template_problems_empty_for_good_templates(self) -> None:
        assert template_problems({"a": "{{ x | default(1) }} and {{ y }}"}, "") == []


class TestConditions:
    @pytest.mark.parametrize(
        ("expr", "expected"),
        [
            ("{{ steps.user.status == 'completed' }}", True),
            ("steps.user.status == 'completed'", True),
            ("steps.charge.status == 'completed' or steps.user.status == 'completed'", True),
            ("{{ input.tags | length > 3 }}", False),
            ("input.nothing", False),
            ("[]", False),
            ("input.tags", True),
            ("0", False),
        ],
    )
    def test_truthiness(self, expr: str, expected: bool, context: dict[str, Any]) -> None:
        assert evaluate_condition(expr, context) is expected

    def test_mixed_text_is_refused(self, context: dict[str, Any]) -> None:
        with pytest.raises(ExpressionError, match="single expression"):
            evaluate_condition("{{ a }} and {{ b }}", context)

    def test_missing_condition_value_is_an_error(self, context: dict[str, Any]) -> None:
        with pytest.raises(ExpressionError, match=r"'input\.flag' is undefined"):
            evaluate_condition("input.flag", context, location="steps.a.when")

    def test_evaluate_expression_gives_values(self, context: dict[str, Any]) -> None:
        assert evaluate_expression("input.tags", context) == ["a", "b"]
        assert evaluate_expression("{{ input.tags | map('upper') }}", context) == ["A", "B"]


class TestReferences:
    def test_names_and_steps(self) -> None:
        value = {
            "a": "{{ steps.fetch.output.body + input.x }}",
            "b": ["{{ steps['my-step'].status }}", "{{ item }}"],
            "c": "{{ vars.k | default(steps.other.output) }}",
        }
        assert referenced_names(value) == {"steps", "input", "item", "vars"}
        assert referenced_steps(value) == {"fetch", "my-step", "other"}
        assert not uses_dynamic_step_reference(value)

    def test_bare_expressions(self) -> None:
        assert referenced_steps("steps.a.status == 'failed'", bare=True) == {"a"}
        assert referenced_steps("steps.a.status == 'failed'") == set()

    @pytest.mark.parametrize(
        "template", ["{{ steps[input.k] }}", "{{ steps }}", "{{ steps | length }}"]
    )
    def test_dynamic_step_use(self, template: str) -> None:
        assert uses_dynamic_step_reference(template)

    def test_unparseable_templates_are_ignored(self) -> None:
        assert referenced_names("{{ a + }}") == set()

    @pytest.mark.parametrize(
        "source",
        [
            "a",
            " steps.a.output.x ",
            "steps",
            "true",
            "none == x",
            "steps.a.status == 'failed'",
            'x.y ~ "z"',
            "a.b * 0.1",
            "a - -1",
            "x and y",
            "x or steps.b.status",
            "a.if",
            "1 + 2",
        ],
    )
    def test_quick_analysis_agrees_with_jinja(self, source: str) -> None:
        parser = Parser(ENVIRONMENT, source, state="variable")
        assert _quick_analysis(source) == _analyse_tree(parser.parse_expression())


class TestSecretMarkers:
    def test_secret_becomes_a_marker_with_the_runs_key(self, context: dict[str, Any]) -> None:
        marker = f"{SECRET_MARKER_PREFIX}{RUN_KEY}:token{SECRET_MARKER_SUFFIX}"
        assert run("{{ secrets.token }}", context) == marker
        assert run("Bearer {{ secrets.token }}", context) == f"Bearer {marker}"
        assert run("{{ secrets['api_key'] }}", context) == (
            f"{SECRET_MARKER_PREFIX}{RUN_KEY}:api_key{SECRET_MARKER_SUFFIX}"
        )

    def test_a_name_that_no_secret_can_have_is_missing(self, context: dict[str, Any]) -> None:
        with pytest.raises(ExpressionError):
            run("{{ secrets['api-key'] }}", context)

    def test_only_markers_with_the_runs_key_are_references(self, context: dict[str, Any]) -> None:
        genuine = run("{{ secrets.token }}", context)
        forged = [
            f"{SECRET_MARKER_PREFIX}token{SECRET_MARKER_SUFFIX}",  # the unkeyed form
            f"{SECRET_MARKER_PREFIX}{'f' * 32}:token{SECRET_MARKER_SUFFIX}",  # a guessed key
        ]
        value = {"real": genuine, "forged": forged}
        assert resolve_secret_markers(value, RUN_KEY, {"token": "s3cr3t"}.__getitem__) == {
            "real": "s3cr3t",
            "forged": forged,
        }
        assert resolve_secret_markers(value, "", {"token": "s3cr3t"}.__getitem__) == value

    def test_secrets_lists_nothing(self, context: dict[str, Any]) -> None:
        assert run("{{ secrets }}", context) == {}

    def test_end_to_end(self, context: dict[str, Any]) -> None:
        evaluated = run(
            {"headers": {"Authorization": "Bearer {{ secrets.token }}"}, "n": 1}, context
        )
        assert contains_secret_markers(evaluated)
        assert "s3cr3t" not in repr(evaluated)
        resolved = resolve_secret_markers(evaluated, RUN_KEY, {"token": "s3cr3t"}.__getitem__)
        assert resolved == {"headers": {"Authorization": "Bearer s3cr3t"}, "n": 1}
        assert not contains_secret_markers(resolved)
        assert redact_secrets(resolved, ["s3cr3t"]) == {
            "headers": {"Authorization": "Bearer ***"},
            "n": 1,
        }

    def test_unknown_secret(self, context: dict[str, Any]) -> None:
        evaluated = run("{{ secrets.nope }}", context)
        with pytest.raises(UnknownSecretError) as caught:
            no_secrets: dict[str, str] = {}
            resolve_secret_markers(
                evaluated, RUN_KEY, no_secrets.__getitem__, location="steps.a.with"
            )
        assert isinstance(caught.value, KeyError)
        assert isinstance(caught.value, ExpressionError)
        assert str(caught.value) == (
            "steps.a.with: there is no secret named 'nope' (in {{ secrets.nope }})"
        )

    def test_real_secrets_in_context_give_values(self) -> None:
        ctx = build_context(
            input=None,
            vars={},
            steps={},
            execution_id="e",
            workflow_id="w",
            secrets={"token": "abc"},
        )
        assert evaluate("{{ secrets.token }}", ctx) == "abc"

    def test_redaction(self) -> None:
        value = {"log": ["token abcdef and abc", {"k": "abc"}], "n": 3}
        assert redact_secrets(value, ["abc", "abcdef", ""]) == {
            "log": ["token *** and ***", {"k": "***"}],
            "n": 3,
        }

    def test_redaction_hides_markers(self, context: dict[str, Any]) -> None:
        assert redact_secrets(run("x {{ secrets.t }}", context), []) == "x ***"

    def test_no_markers(self) -> None:
        assert not contains_secret_markers({"a": ["b", 1, None]})


class TestDeterminism:
    def test_same_input_same_output(self, context: dict[str, Any]) -> None:
        template = {
            "a": "{{ steps.user.output.body.orders | map(attribute='id') | list }}",
            "b": "{{ input | tojson }}",
            "c": "{{ input.tags | unique | list }}",
        }
        results = [run(template, context) for _ in range(3)]
        assert results[0] == results[1] == results[2]

    def test_error_messages_are_stable(self, context: dict[str, Any]) -> None:
        messages = set()
        for _ in range(3):
            with pytest.raises(ExpressionError) as caught:
                run("{{ input.a.b + steps.user.output.c.d }}", context)
            messages.add(str(caught.value))
        assert len(messages) == 1


class TestDateFilters:
    @pytest.mark.parametrize(
        ("template", "expected"),
        [
            ("{{ '2026-12-04T20:00:00Z' | date_format('%d/%m/%Y %H:%M') }}", "04/12/2026 20:00"),
            ("{{ '2026-12-04' | date_add('1d') }}", "2026-12-05T00:00:00Z"),
            ("{{ '2026-12-04T20:00:00+01:00' | date_sub('PT30M') }}", "2026-12-04T18:30:00Z"),
            ("{{ '1970-01-01T00:01:00Z' | timestamp }}", 60.0),
            ("{{ 86400 | date_format('%Y-%m-%d') }}", "1970-01-02"),
        ],
    )
    def test_format_and_arithmetic(self, template: str, expected: Any) -> None:
        assert evaluate(template, {}) == expected

    @pytest.mark.parametrize(
        ("template", "message"),
        [
            ("{{ 'yesterday' | date_add('1d') }}", "not an ISO 8601 date-time"),
            ("{{ '2026-12-04' | date_add('1 month') }}", "1 month"),
            ("{{ '9999-12-31' | date_add('2d') }}", "date value out of range"),
            ("{{ '2026-12-04' | date_format('%Y' * 200) }}", "at most 200 characters"),
        ],
    )
    def test_bad_dates_and_durations_are_expression_errors(
        self, template: str, message: str
    ) -> None:
        with pytest.raises(ExpressionError, match=message):
            evaluate(template, {})
