"""The object store interface shared by the API and the worker.

Errors::

    StorageError                 a backend failed (disk, network, S3 error)
    ├── ObjectNotFound           no object under that key
    └── InvalidKey               the key is not a safe relative path
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

MAX_KEY_LENGTH = 1024
_FORBIDDEN = re.compile(r"[\x00-\x1f\\]")


class StorageError(RuntimeError):
    """The object store could not do what was asked."""


class ObjectNotFound(StorageError):
    """No object is stored under the key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"no object under {key!r}")
        self.key = key


class InvalidKey(StorageError, ValueError):
    """The key is empty, absolute, too long, or has ``.``/``..``/empty segments."""


@dataclass(frozen=True)
class ObjectRef:
    """What ``put`` stored: enough to find and describe the object again."""

    key: str
    size: int
    content_type: str
    sha256: str


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object as ``list`` and ``stat`` describe it."""

    key: str
    size: int
    content_type: str
    last_modified: datetime | None = None


@runtime_checkable
class ObjectStore(Protocol):
    """Bytes under ``/``-separated keys, on local disk or in an S3 bucket."""

    async def put(self, key: str, data: bytes, content_type: str) -> ObjectRef:
        """Store ``data`` under ``key``, replacing what was there."""
        ...

    async def get(self, key: str) -> bytes:
        """The object's bytes; :class:`ObjectNotFound` if there is none."""
        ...

    async def stat(self, key: str) -> ObjectInfo:
        """The object's size and content type; :class:`ObjectNotFound` if there is none."""
        ...

    async def delete(self, key: str) -> bool:
        """Remove the object; False if there was none."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every object whose key starts with ``prefix``; how many were removed."""
        ...

    async def list(self, prefix: str = "", limit: int = 1000) -> list[ObjectInfo]:
        """Objects whose key starts with ``prefix``, sorted by key, at most ``limit``."""
        ...

    async def presigned_url(self, key: str, expires_seconds: int = 900) -> str:
        """A URL anyone holding it may GET the object from until it expires."""
        ...


def execution_prefix(execution_id: str) -> str:
    """Where the artifacts of one execution live (``storage`` steps write below it)."""
    return f"executions/{execution_id}/"


def check_key(key: str) -> str:
    """Return ``key`` if it is a safe relative path of non-empty segments, else raise.

    Raises:
        InvalidKey: If a backend could be made to write outside its root with it.
    """
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidKey(f"a key has 1 to {MAX_KEY_LENGTH} characters")
    if _FORBIDDEN.search(key):
        raise InvalidKey("a key may not contain control characters or backslashes")
    if key.startswith("/"):
        raise InvalidKey("a key is relative: it may not start with '/'")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidKey("a key's segments may not be empty, '.' or '..'")
    return key


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` (empty, or a key optionally ending in ``/``) if it is safe."""
    if prefix:
        check_key(prefix.removesuffix("/"))
    return prefix
