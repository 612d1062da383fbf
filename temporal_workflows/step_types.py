"""Step types and the schema of each type's ``with`` block.

The models check a definition as written (template strings allowed wherever a value is
expected, because their type is only known once evaluated) and the evaluated ``with`` an
activity receives (no templates left), so both sides share one description of each type.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar, get_args
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
from temporal_workflows.templates import is_template

__all__ = [
    "PURE_STEP_TYPES",
    "STEP_TYPES",
    "WITH_MODELS",
    "ApprovalWith",
    "Duration",
    "FailWith",
    "HttpAuth",
    "HttpWith",
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
]
STEP_TYPES: tuple[str, ...] = get_args(StepType)
# Evaluated by the interpreter itself (no activity): no I/O, deterministic, or a durable wait.
PURE_STEP_TYPES = frozenset({"transform", "log", "fail", "sleep", "wait_for_event", "approval"})


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


class HttpWith(_With):
    """An HTTP request. Output: ``{status, headers, body}``."""

    method: Templated[HttpMethod] = "GET"
    url: Url | None = None
    connection: NonEmpty | None = None
    path: str | None = None
    headers: Templated[dict[str, Scalar]] | None = None
    query: Templated[dict[str, ScalarOrList]] | None = None
    json_: Any = Field(default=None, alias="json")
    body: str | None = None
    form: Templated[dict[str, Scalar]] | None = None
    auth: Templated[HttpAuth] | None = None
    expect_status: Templated[list[Templated[StatusCode]]] | None = None
    timeout: TemplatedDuration | None = None
    follow_redirects: Templated[bool] = True

    @model_validator(mode="after")
    def _one_target_one_body(self) -> HttpWith:
        if self.url is None and self.connection is None:
            raise _missing("url", "give a url (or the name of a connection)")
        if self.url is not None and self.connection is not None:
            raise _conflict("connection", "give either url or connection, not both")
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
}


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
