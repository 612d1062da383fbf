"""Shared schema pieces: request and response bases, pages and their parameters, problems."""

from __future__ import annotations

from typing import Annotated, Generic, Self, TypeVar

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.schemas.storable import refuse_unstorable_fields

T = TypeVar("T")

# The largest integer an INTEGER column holds on every backend: the bound of offsets, ids
# and versions taken from requests (a larger one was a 500, not a 422).
MAX_DB_INTEGER = 2**31 - 1


class RequestModel(BaseModel):
    """Base of every request body.

    Unknown fields are errors, not silently dropped; text that cannot be stored (U+0000,
    lone surrogates) in any field not marked ``RUN_DATA`` is a 422 pointing at it.
    """

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _storable(self) -> Self:
        refuse_unstorable_fields(self)
        return self


class PublicModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


PageOffset = Annotated[
    int, Query(ge=0, le=MAX_DB_INTEGER, description="How many items to skip (0 is the first page).")
]
PageLimit = Annotated[int, Query(ge=1, le=500, description="How many items at most.")]


class Page(PublicModel, Generic[T]):
    """A page of results: ``data``, the total ``count``, and where the next page starts."""

    data: list[T]
    count: int
    limit: int
    offset: int
    next_offset: int | None = None

    @classmethod
    def of(cls, data: list[T], *, count: int, limit: int, offset: int) -> Page[T]:
        following = offset + len(data)
        return cls(
            data=data,
            count=count,
            limit=limit,
            offset=offset,
            next_offset=following if following < count else None,
        )


class ProblemEntry(BaseModel):
    """One problem of a 422: where it is and what is wrong."""

    pointer: str = Field(
        description="RFC 6901 JSON pointer: into the body (`/definition/steps/0/id`), or "
        "`/query/<name>`, `/path/<name>`, `/header/<name>` for parameters."
    )
    detail: str
    code: str = Field(description="A stable, machine-readable kind (`missing`, `unstorable_text`).")


class Problem(BaseModel):
    """An error answer (RFC 9457 problem details), served as `application/problem+json`."""

    type: str = Field(description="A URI naming the kind of problem.")
    title: str
    status: int
    detail: str
    errors: list[ProblemEntry] = Field(
        default_factory=list, description="422 only: one entry per problem in the input."
    )
