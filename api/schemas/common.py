"""Shared schema pieces."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")


class RequestModel(BaseModel):
    """Base of every request body: unknown fields are errors, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class PublicModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


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
