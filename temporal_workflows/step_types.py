"""Step types and the schema of each type's ``with`` block.

The models check a definition as written (template strings allowed wherever a value is
expected, because their type is only known once evaluated) and the evaluated ``with`` an
activity receives (no templates left), so both sides share one description of each type.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal, Self, TypeVar, get_args
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    PlainValidator,
    model_validator,
)
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from temporal_workflows.durations import parse_duration
from temporal_workflows.javascript import MAX_CODE_LENGTH, check_syntax
from temporal_workflows.template_analysis import analyse
from temporal_workflows.templates import is_template

__all__ = [
    "LITERAL_WITH_FIELDS",
    "PURE_STEP_TYPES",
    "STEP_TYPES",
    "WITH_MODELS",
    "AgentTool",
    "AgentWith",
    "ApprovalWith",
    "CodeWith",
    "Duration",
    "FailWith",
    "HttpAuth",
    "HttpPaginate",
    "HttpWith",
    "LlmWith",
    "LogWith",
    "N8nWith",
    "PositiveDuration",
    "SleepWith",
    "StepType",
    "StorageWith",
    "WaitForEventWith",
    "WorkflowWith",
    "is_pure",
    "parse_with",
]

StepType = Literal[
    "http",
    "transform",
    "sleep",
    "wait_for_event",
    "approval",
    "workflow",
    "n8n",
    "storage",
    "log",
    "fail",
    "code",
    "llm",
    "agent",
]
STEP_TYPES: tuple[str, ...] = get_args(StepType)
# Evaluated by the interpreter itself (no activity): no I/O, deterministic, or a durable wait.
PURE_STEP_TYPES = frozenset({"transform", "log", "fail", "sleep", "wait_for_event", "approval"})
# Fields that are text as written, never templates: a script's `{{` is JavaScript.
# An agent's tools are templates over the model's arguments (`args`), rendered per tool
# call; a response schema is JSON Schema, whose text is never a template.
LITERAL_WITH_FIELDS: Mapping[str, frozenset[str]] = {
    "code": frozenset({"code"}),
    "llm": frozenset({"response_schema"}),
    "agent": frozenset({"tools"}),
}


def is_pure(step_type: str) -> bool:
    """Tell whether a step type runs inside the workflow rather than as an activity/child.

    Args:
        step_type: One of :data:`STEP_TYPES`.

    Returns:
        True for transform, log, fail, sleep, wait_for_event and approval; False for http,
        n8n, storage (activities) and workflow (a child workflow).
    """
    return step_type in PURE_STEP_TYPES


# --- field types -------------------------------------------------------------------------


def _check_duration(value: str) -> str:
    try:
        parse_duration(value)
    except ValueError as exc:
        raise PydanticCustomError("invalid_duration", str(exc)) from None
    return value


def _check_positive_duration(value: str) -> str:
    if parse_duration(_check_duration(value)).total_seconds() <= 0:
        raise PydanticCustomError("invalid_duration", "the duration must be longer than zero")
    return value


Duration = Annotated[str, AfterValidator(_check_duration)]
PositiveDuration = Annotated[str, AfterValidator(_check_positive_duration)]


class _TemplateOr:
    """``Annotated[T | str, _TemplateOr()]``: a ``{{ }}`` string, or a value checked as ``T``.

    The union is replaced by one wrap validator so a wrong value gets the errors of ``T``
    alone, at its own location, instead of one error per union member.
    """

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        members = [member for member in get_args(source) if member is not str]
        inner = members[0] if len(members) == 1 else source
        return core_schema.no_info_wrap_validator_function(
            _template_or_inner,
            handler.generate_schema(inner),
            serialization=core_schema.simple_ser_schema("any"),
        )


def _template_or_inner(value: Any, validate: core_schema.ValidatorFunctionWrapHandler) -> Any:
    return value if is_template(value) else validate(value)


T = TypeVar("T")
Templated = Annotated[T | str, _TemplateOr()]


def _check_scalar(value: Any) -> Any:
    if isinstance(value, str | int | float | bool):
        return value
    raise PydanticCustomError("invalid_type", "expected a string, number or boolean")


def _check_scalar_or_list(value: Any) -> Any:
    if isinstance(value, list):
        return [_check_scalar(item) for item in value]
    return _check_scalar(value)


def _check_duration_or_template(value: str) -> str:
    return value if is_template(value) else _check_duration(value)


def _check_timestamp(value: str) -> str:
    if is_template(value):
        return value
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise PydanticCustomError(
            "invalid_timestamp",
            "expected an ISO 8601 date-time with a time zone, e.g. 2025-01-31T09:00:00Z",
        )
    return value


def _check_url(value: str) -> str:
    if is_template(value):
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PydanticCustomError("invalid_url", "expected an http:// or https:// URL")
    return value


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) and not is_template(value) else value


Scalar = Annotated[str | int | float | bool, PlainValidator(_check_scalar)]
ScalarOrList = Annotated[
    str | int | float | bool | list[str | int | float | bool],
    PlainValidator(_check_scalar_or_list),
]
TemplatedDuration = Annotated[str, AfterValidator(_check_duration_or_template)]
Timestamp = Annotated[str, AfterValidator(_check_timestamp)]
Url = Annotated[str, AfterValidator(_check_url)]
HttpMethod = Annotated[
    Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"], BeforeValidator(_upper)
]
StatusCode = Annotated[int, Field(ge=100, le=599)]
NonEmpty = Annotated[str, Field(min_length=1)]


def _conflict(field: str, message: str) -> PydanticCustomError:
    # ``field`` travels in the error context so validation can point at it, not at `with`.
    return PydanticCustomError("conflicting_fields", message, {"field": field})


def _missing(field: str, message: str) -> PydanticCustomError:
    return PydanticCustomError("missing_field", message, {"field": field})


class _With(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --- the `with` of each step type --------------------------------------------------------


class HttpAuth(_With):
    """``{"type": "basic", "username", "password"}`` or ``{"type": "bearer", "token"}``."""

    type: Literal["basic", "bearer"]
    username: str | None = None
    password: str | None = None
    token: str | None = None

    @model_validator(mode="after")
    def _fields_of_type(self) -> HttpAuth:
        wanted = ("username", "password") if self.type == "basic" else ("token",)
        for name in wanted:
            if getattr(self, name) is None:
                raise _missing(name, f"{self.type} auth needs {' and '.join(wanted)}")
        for name in ("username", "password", "token"):
            if name not in wanted and getattr(self, name) is not None:
                raise _conflict(name, f"{name!r} does not belong to {self.type} auth")
        return self


MAX_PAGES = 1000


def _response_expression(value: str) -> str:
    """A bare expression over ``response`` (one page's ``{status, headers, body}``): it is
    evaluated on every page in the worker, so it cannot be a ``{{ }}`` template (those are
    evaluated once, before the request)."""
    if is_template(value):
        raise PydanticCustomError(
            "invalid_value",
            "write a bare expression such as 'response.body.next', without {{ }}: it is "
            "evaluated on each page's response",
        )
    try:
        names = analyse(value).names
    except Exception as exc:  # jinja2's TemplateSyntaxError, without importing it here
        raise PydanticCustomError(
            "invalid_value", "cannot parse {source!r}: {why}", {"source": value, "why": str(exc)}
        ) from None
    if names - {"response"}:
        raise PydanticCustomError(
            "invalid_value",
            "a pagination expression can only read 'response' (the page's status, headers "
            "and body), not {names}",
            {"names": ", ".join(sorted(names - {"response"}))},
        )
    return value


ResponseExpression = Annotated[str, Field(min_length=1), AfterValidator(_response_expression)]


class HttpPaginate(_With):
    """Paging through an API in one ``http`` step: requests follow the next-page URL or
    cursor each response gives, up to ``max_pages``, and the pages' items are concatenated."""

    next_url: ResponseExpression | None = None
    cursor: ResponseExpression | None = None
    cursor_param: NonEmpty = "cursor"
    items: ResponseExpression = "response.body"
    max_pages: int = Field(10, ge=1, le=MAX_PAGES)

    @model_validator(mode="after")
    def _one_way_to_the_next_page(self) -> HttpPaginate:
        if self.next_url is None and self.cursor is None:
            raise _missing("next_url", "give next_url (or cursor): how to find the next page")
        if self.next_url is not None and self.cursor is not None:
            raise _conflict("cursor", "give either next_url or cursor, not both")
        return self


class _HttpRequest(_With):
    """What every http request names: where it goes, and what it sends."""

    method: Templated[HttpMethod] = "GET"
    url: Url | None = None
    connection: NonEmpty | None = None
    path: str | None = None
    headers: Templated[dict[str, Scalar]] | None = None
    query: Templated[dict[str, ScalarOrList]] | None = None
    json_: Any = Field(default=None, alias="json")
    body: str | None = None

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        if self.url is None and self.connection is None:
            raise _missing("url", "give a url (or the name of a connection)")
        if self.url is not None and self.connection is not None:
            raise _conflict("connection", "give either url or connection, not both")
        return self


class HttpWith(_HttpRequest):
    """An HTTP request. Output: ``{status, headers, body}``."""

    form: Templated[dict[str, Scalar]] | None = None
    auth: Templated[HttpAuth] | None = None
    expect_status: Templated[list[Templated[StatusCode]]] | None = None
    timeout: TemplatedDuration | None = None
    follow_redirects: Templated[bool] = True
    paginate: HttpPaginate | None = None

    @model_validator(mode="after")
    def _one_body(self) -> HttpWith:
        if self.path is not None and self.connection is None:
            raise _conflict("path", "path is relative to a connection; use url instead")
        # `json: null` means "no JSON body", as the http activity reads it.
        given = {"json": self.json_, "body": self.body, "form": self.form}
        bodies = [name for name, value in given.items() if value is not None]
        if len(bodies) > 1:
            raise _conflict(bodies[1], "give only one of json, body and form")
        return self


class SleepWith(_With):
    """A durable timer: ``duration`` (``"5m"``) or ``until`` (an ISO 8601 date-time)."""

    duration: TemplatedDuration | None = None
    until: Timestamp | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SleepWith:
        if self.duration is None and self.until is None:
            raise _missing("duration", "give a duration or an until date-time")
        if self.duration is not None and self.until is not None:
            raise _conflict("until", "give either duration or until, not both")
        return self


class WaitForEventWith(_With):
    """Wait for ``POST /executions/{id}/signal`` with this ``event`` name."""

    event: NonEmpty
    timeout: TemplatedDuration | None = None


class ApprovalWith(_With):
    """Wait for an approve/reject. Output: ``{approved, by, comment}``."""

    approvers: Templated[list[str]] | None = None
    timeout: TemplatedDuration | None = None
    message: str | None = None
    on_reject: Literal["fail", "continue"] = "fail"


class WorkflowWith(_With):
    """Run another Headrace workflow as a child workflow."""

    workflow_id: NonEmpty
    input: Any = None
    version: Templated[Annotated[int, Field(ge=1)]] | None = None


class N8nWith(_With):
    """Run an n8n workflow through its webhook URL, or by id through a configured integration."""

    webhook_url: Url | None = None
    workflow_id: NonEmpty | None = None
    payload: Any = None
    method: Templated[HttpMethod] = "POST"
    integration: NonEmpty | None = None

    @model_validator(mode="after")
    def _one_target(self) -> N8nWith:
        if self.webhook_url is None and self.workflow_id is None:
            raise _missing("webhook_url", "give a webhook_url or a workflow_id")
        if self.webhook_url is not None and self.workflow_id is not None:
            raise _conflict("workflow_id", "give either webhook_url or workflow_id, not both")
        return self


class StorageWith(_With):
    """Put, get, delete or list artifacts in object storage (``key`` is a prefix for list)."""

    op: Literal["put", "get", "delete", "list"]
    key: NonEmpty | None = None
    content: Any = None
    content_type: str | None = None

    @model_validator(mode="after")
    def _fields_of_op(self) -> StorageWith:
        if self.op != "list" and self.key is None:
            raise _missing("key", f"{self.op} needs a key")
        if self.op == "put" and "content" not in self.model_fields_set:
            raise _missing("content", "put needs content")
        for name in ("content", "content_type"):
            if self.op != "put" and name in self.model_fields_set:
                raise _conflict(name, f"{name} only goes with op 'put'")
        return self


class LogWith(_With):
    """Write a line to the execution's log and event stream."""

    message: Any
    level: Templated[Literal["debug", "info", "warning", "error"]] = "info"


class FailWith(_With):
    """End the step (and, with ``on_error: fail``, the run) failed with this message."""

    message: Any
    error_type: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$")] | None = None


def _check_javascript(value: str) -> str:
    problem = check_syntax(value)
    if problem is not None:
        raise PydanticCustomError(
            "javascript_syntax",
            "{problem}",
            {"problem": str(problem), "line": problem.line, "column": problem.column},
        )
    return value


# ``contentMediaType`` (JSON Schema) tells the dashboard's builder to edit it as JavaScript.
JavaScript = Annotated[
    str,
    Field(max_length=MAX_CODE_LENGTH, json_schema_extra={"contentMediaType": "text/javascript"}),
    AfterValidator(_check_javascript),
]


class CodeWith(_With):
    """A JavaScript function body run in a sandbox; ``input`` (templates) is its argument."""

    language: Literal["javascript"] = "javascript"
    code: JavaScript
    input: Any = None


# --- AI steps (temporal_workflows/agent.py, activities/llm.py) -----------------------------


def _check_json_schema(value: dict[str, Any]) -> dict[str, Any]:
    # Imported here: jsonschema is only needed when a definition has a schema to check.
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    try:
        validator_for(value).check_schema(value)
    except SchemaError as exc:
        raise PydanticCustomError(
            "invalid_json_schema", "not a valid JSON Schema: {why}", {"why": exc.message}
        ) from None
    return value


JsonSchema = Annotated[dict[str, Any], AfterValidator(_check_json_schema)]


class ChatMessage(_With):
    """One message of a conversation, as OpenAI's chat completions API takes it."""

    role: Literal["system", "user", "assistant"]
    content: Any


class _ModelCall(_With):
    connection: NonEmpty = Field(description="The name of an integration of type llm.")
    model: NonEmpty | None = Field(
        None, description="The model; absent: the connection's default model."
    )
    messages: Templated[Annotated[list[ChatMessage], Field(min_length=1)]]
    temperature: Templated[Annotated[float, Field(ge=0, le=2)]] | None = None
    max_tokens: Templated[Annotated[int, Field(ge=1)]] | None = Field(
        None, description="The most tokens one answer may have."
    )
    stream: bool = Field(
        False, description="Send the answer's tokens to the run's event stream as they come."
    )


class LlmWith(_ModelCall):
    """One model call. Output: ``{text, usage, finish_reason, model}``, or with
    ``response_schema`` the answer parsed as JSON and valid against the schema."""

    response_schema: JsonSchema | None = None


TOOL_NAME = r"^[A-Za-z0-9_-]{1,64}$"


class AgentHttpTool(_HttpRequest):
    """An http request the model may make; its templates see the model's ``args``."""

    expect_status: Templated[list[Templated[StatusCode]]] | None = None

    @model_validator(mode="after")
    def _one_body(self) -> AgentHttpTool:
        if self.json_ is not None and self.body is not None:
            raise _conflict("body", "give only one of json and body")
        return self


class AgentTool(_With):
    """A tool of an ``agent``: another Headrace workflow (its ``input_schema`` is the tool's
    parameters) or an http request template (``parameters`` describes its ``args``)."""

    name: Annotated[str, Field(pattern=TOOL_NAME)]
    description: str | None = None
    workflow_id: NonEmpty | None = None
    http: AgentHttpTool | None = None
    parameters: JsonSchema | None = Field(
        None, description="JSON Schema of the arguments of an http tool."
    )

    @model_validator(mode="after")
    def _one_kind(self) -> AgentTool:
        if self.workflow_id is None and self.http is None:
            raise _missing("workflow_id", "give a workflow_id or an http request template")
        if self.workflow_id is not None and self.http is not None:
            raise _conflict("http", "give either workflow_id or http, not both")
        if self.workflow_id is not None and self.parameters is not None:
            raise _conflict(
                "parameters", "a workflow tool's parameters are its workflow's input_schema"
            )
        return self


class AgentWith(_ModelCall):
    """A tool-using loop: model, tool calls, their results, model again, until the model
    answers without calling a tool. Output: the transcript and the final answer."""

    tools: list[AgentTool] = Field(default_factory=list)
    max_turns: int = Field(10, ge=1, le=100, description="Model calls at most.")
    max_total_tokens: int | None = Field(
        None, ge=1, description="Token budget of the whole loop (prompt and completion)."
    )
    time_limit: PositiveDuration | None = Field(
        None, description="How long the loop may take, checked before each call."
    )

    @model_validator(mode="after")
    def _unique_tool_names(self) -> AgentWith:
        seen: set[str] = set()
        for tool in self.tools:
            if tool.name in seen:
                raise _conflict("tools", f"two tools are named {tool.name!r}")
            seen.add(tool.name)
        return self


WITH_MODELS: Mapping[str, type[_With]] = {
    "http": HttpWith,
    "sleep": SleepWith,
    "wait_for_event": WaitForEventWith,
    "approval": ApprovalWith,
    "workflow": WorkflowWith,
    "n8n": N8nWith,
    "storage": StorageWith,
    "log": LogWith,
    "fail": FailWith,
    "code": CodeWith,
    "llm": LlmWith,
    "agent": AgentWith,
}


def templated_with(step_type: str, with_: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a ``with`` block that is evaluated as templates (all but literal fields)."""
    literal = LITERAL_WITH_FIELDS.get(step_type, frozenset())
    return {name: value for name, value in with_.items() if name not in literal}


def parse_with(step_type: str, with_: Mapping[str, Any]) -> BaseModel | dict[str, Any]:
    """Check a ``with`` block against its type's model.

    Args:
        step_type: One of :data:`STEP_TYPES`.
        with_: The block as written, or as evaluated.

    Returns:
        The typed model; for ``transform`` (whose ``with`` is free JSON) a plain dict.

    Raises:
        pydantic.ValidationError: If the block does not fit the type.
    """
    model = WITH_MODELS.get(step_type)
    if model is None:
        return dict(with_)
    return model.model_validate(with_)
