"""A definition's ``response``: what a ``?wait=true`` webhook call answers when the run ends.

``{"status": 201, "headers": {"X-Order": "{{ output.id }}"}, "body": {"id": "{{ output.id }}"}}``.
Templates see ``input``, ``vars``, ``execution`` (``id``, ``status``), ``workflow`` (``id``),
``output`` (the run's result, null unless it completed) and ``error`` (the run's error
message, null unless it failed). Step outputs are not reachable: the answer is built from
the run's result, so name what the caller should see in the definition's ``output``.

The anonymous caller of a webhook controls the run's input, so everything that ends up in
the HTTP answer's head is checked twice: header names are fixed at save time (no
templates) and may not be ones that change the connection, set cookies on Headrace's origin
or weaken the hardening headers; header values are checked again after evaluation (a value
with a CR, LF or other control character is never sent: the answer becomes a 500).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from temporal_workflows.definition_checks import DefinitionProblem
from temporal_workflows.expressions import ExpressionError, evaluate
from temporal_workflows.template_analysis import referenced_names, template_problems
from temporal_workflows.templates import escape_pointer, is_template, iter_template_strings

__all__ = [
    "FORBIDDEN_HEADERS",
    "MAX_HEADERS",
    "RESPONSE_NAMES",
    "RenderedResponse",
    "ResponseError",
    "render_response",
    "response_context",
    "response_problems",
]

RESPONSE_NAMES = frozenset({"input", "vars", "execution", "workflow", "output", "error"})
MIN_STATUS, MAX_STATUS = 200, 599
MAX_HEADERS = 50
MAX_HEADER_VALUE = 8192
# Headers a workflow may not set on an answer served from Headrace's own origin:
# hop-by-hop and framing headers (the server owns the connection and the body's length),
# cookies (they would land on the dashboard's origin), and the hardening headers that
# api.middleware.SecurityHeadersMiddleware adds (it keeps a header a response already has).
FORBIDDEN_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "content-encoding",
        "host",
        "date",
        "server",
        "set-cookie",
        "set-cookie2",
        "content-security-policy",
        "content-security-policy-report-only",
        "x-content-type-options",
        "x-frame-options",
        "referrer-policy",
        "strict-transport-security",
        "alt-svc",
    }
)
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 field-name
# Visible ASCII and Latin-1, space and tab inside (RFC 9110 field-value, as servers encode it).
_FIELD_VALUE = re.compile(r"[\x21-\x7e\x80-\xff](?:[\x20-\x7e\x80-\xff\t]*[\x21-\x7e\x80-\xff])?|")
_FIELDS = ("status", "headers", "body")


class ResponseError(Exception):
    """The response could not be built from the ended run (its status or a header is bad)."""


@dataclass(frozen=True)
class RenderedResponse:
    """A webhook answer ready to send; ``body`` is None for a status that has none."""

    status: int
    headers: dict[str, str]
    body: bytes | None
    media_type: str


# --- checks at save time ------------------------------------------------------------------


def response_problems(raw: object) -> list[DefinitionProblem]:
    """Every problem of a definition's ``response`` field (empty if it is absent or valid)."""
    if not isinstance(raw, dict):
        return []  # absent, or not an object: the model's own check reports that
    problems = [
        _problem(f"/{escape_pointer(key)}", _unknown_field(key), "unknown_field")
        for key in raw
        if key not in _FIELDS
    ]
    problems += _status_problems(raw.get("status"))
    problems += _header_problems(raw.get("headers"))
    problems += _template_problems(raw.get("body"), "/response/body")
    return problems


def _problem(pointer: str, message: str, code: str) -> DefinitionProblem:
    return DefinitionProblem(f"/response{pointer}", message, code)


def _unknown_field(key: str) -> str:
    return f"unknown field {key!r} in response; it takes status, headers and body"


def _status_problems(status: object) -> list[DefinitionProblem]:
    if status is None:
        return []
    if is_template(status):
        return _template_problems(status, "/response/status")
    if isinstance(status, bool) or not isinstance(status, int):
        message = "status must be an integer (or a template giving one)"
        return [_problem("/status", message, "invalid_status")]
    if not MIN_STATUS <= status <= MAX_STATUS:
        message = (
            f"status must be between {MIN_STATUS} and {MAX_STATUS} "
            "(1xx codes are interim answers, not a response)"
        )
        return [_problem("/status", message, "invalid_status")]
    return []


def _header_problems(headers: object) -> list[DefinitionProblem]:
    if headers is None:
        return []
    if not isinstance(headers, dict):
        return [_problem("/headers", "headers must be an object of name: value", "type")]
    problems: list[DefinitionProblem] = []
    if len(headers) > MAX_HEADERS:
        problems.append(_problem("/headers", f"at most {MAX_HEADERS} headers", "too_many"))
    seen: set[str] = set()
    for name, value in headers.items():
        pointer = f"/headers/{escape_pointer(name)}"
        message = _name_problem(name, seen)
        if message:
            problems.append(_problem(pointer, message, "invalid_header_name"))
        seen.add(name.lower())
        if is_template(value):
            problems += _template_problems(value, f"/response{pointer}")
        elif not isinstance(value, str | int | float) or isinstance(value, bool):
            problems.append(_problem(pointer, "a header value is a string", "invalid_header"))
        elif (problem := value_problem(str(value))) is not None:
            problems.append(_problem(pointer, problem, "invalid_header"))
    return problems


def _name_problem(name: str, seen: set[str]) -> str | None:
    if "{{" in name:
        return "header names cannot be templates"
    if not _TOKEN.fullmatch(name):
        return f"{name!r} is not a valid header name (letters, digits and !#$%&'*+.^_`|~-)"
    if name.lower() in FORBIDDEN_HEADERS:
        return f"a workflow's response may not set {name} (Headrace sets it, or it is unsafe)"
    if name.lower() in seen:
        return f"header {name} is given twice (names are case-insensitive)"
    return None


def value_problem(value: str) -> str | None:
    """Why ``value`` cannot be sent as a header value, or None if it can."""
    if len(value) > MAX_HEADER_VALUE:
        return f"a header value is at most {MAX_HEADER_VALUE} characters"
    if not _FIELD_VALUE.fullmatch(value):
        return (
            "a header value holds no line breaks or other control characters, no leading "
            "or trailing space, and only Latin-1 characters"
        )
    return None


def _template_problems(value: Any, pointer: str) -> list[DefinitionProblem]:
    problems: list[DefinitionProblem] = []
    for where, text in iter_template_strings(value, pointer):
        broken = template_problems(text, where)
        problems += [DefinitionProblem(p, m, "template_syntax") for p, m in broken]
        if broken:
            continue
        for name in sorted(referenced_names(text) - RESPONSE_NAMES):
            hint = (
                "; put what the answer needs in the definition's output and use output.<key>"
                if name == "steps"
                else ""
            )
            message = (
                f"unknown name {name!r} in response; it can use "
                f"{', '.join(sorted(RESPONSE_NAMES))}{hint}"
            )
            problems.append(DefinitionProblem(where, message, "unknown_name"))
    return problems


# --- building the answer when the run has ended --------------------------------------------


def response_context(
    *,
    input: Any,
    vars: Mapping[str, Any],
    execution_id: str,
    workflow_id: str,
    status: str,
    output: Any,
    error: str | None,
) -> dict[str, Any]:
    """The names a response's templates see (see the module docstring)."""
    return {
        "input": input,
        "vars": dict(vars),
        "execution": {"id": execution_id, "status": status},
        "workflow": {"id": workflow_id},
        "output": output,
        "error": error,
    }


def render_response(
    spec: Mapping[str, Any], context: Mapping[str, Any], *, default_body: Any, succeeded: bool
) -> RenderedResponse:
    """Evaluate a validated ``response`` against an ended run.

    Args:
        spec: The definition's ``response``.
        context: From :func:`response_context`.
        default_body: The body when ``spec`` has none (JSON).
        succeeded: Whether the run completed (the default status is 200, else 500).

    Raises:
        ResponseError: If a template fails, the status is not a code in range, or a header
            value could not be sent safely.
    """
    try:
        status = evaluate(spec.get("status"), context, location="response.status")
        headers = evaluate(spec.get("headers") or {}, context, location="response.headers")
        body = (
            evaluate(spec["body"], context, location="response.body")
            if "body" in spec
            else default_body
        )
    except ExpressionError as exc:
        raise ResponseError(str(exc)) from None
    code = _status(status, succeeded)
    sent = {name: _header_value(name, value) for name, value in headers.items()}
    content_type = next((v for k, v in sent.items() if k.lower() == "content-type"), None)
    if code in (204, 304):
        return RenderedResponse(code, sent, None, content_type or "application/json")
    if isinstance(body, str) and content_type is not None:
        return RenderedResponse(code, sent, body.encode(), content_type)
    if isinstance(body, str):
        return RenderedResponse(code, sent, body.encode(), "text/plain; charset=utf-8")
    encoded = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return RenderedResponse(code, sent, encoded, content_type or "application/json")


def _status(value: Any, succeeded: bool) -> int:
    if value is None:
        return 200 if succeeded else 500
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise ResponseError(f"response.status evaluated to {value!r}, not an HTTP status code")
    if not MIN_STATUS <= value <= MAX_STATUS:
        raise ResponseError(
            f"response.status evaluated to {value}, outside {MIN_STATUS}..{MAX_STATUS}"
        )
    return value


def _header_value(name: str, value: Any) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        text = json.dumps(value, separators=(",", ":"))
    else:
        text = str(value)
    problem = value_problem(text)
    if problem is not None:
        raise ResponseError(f"response header {name} cannot be sent: {problem}")
    return text
