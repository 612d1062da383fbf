"""The ``storage`` step: put, get, delete or list artifacts of the running execution.

Keys are relative to the execution (``executions/<execution_id>/<key>``), so one run cannot
read or clobber another's artifacts; ``GET /api/v1/executions/{id}/artifacts`` lists them.
Failures tell Temporal whether a retry can help:

    ApplicationError type       cause                                      retryable
    StorageInvalidKey           empty, absolute, ``..`` or too long key    no
    StorageNotFound             ``get`` of a key that holds nothing        no
    StorageSecretRefused        ``put`` content holding a secret           no
    StorageNotConfigured        the worker has no object store             no
    StorageError                disk or S3 failure                         yes
"""

from __future__ import annotations

import base64
import json
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from core.storage import (
    InvalidKey,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    StorageError,
    check_key,
    execution_prefix,
)
from temporal_workflows.run_types import StepOutcome, StorageRequest
from temporal_workflows.secret_markers import contains_secret_markers

TEXT = "text/plain; charset=utf-8"
JSON = "application/json"


class StorageActivities:
    """Activities of the ``storage`` step, around the worker's object store."""

    def __init__(self, store: ObjectStore | None) -> None:
        """Keep ``store`` (``None`` when the worker has none: every call then fails)."""
        self._store = store

    @activity.defn(name="run_storage_step")
    async def run_storage_step(self, request: StorageRequest) -> StepOutcome:
        """Do the operation; the output is described in ``docs/storage.md``.

        Raises:
            ApplicationError: See the module docstring for types and retryability.
        """
        if self._store is None:
            raise _error("object storage is not configured on this worker", "StorageNotConfigured")
        prefix = execution_prefix(request.execution_id)
        try:
            output = await self._run(self._store, request, prefix)
        except InvalidKey as exc:
            raise _error(f"invalid key {request.key!r}: {exc}", "StorageInvalidKey") from None
        except ObjectNotFound:
            raise _error(f"no artifact under {request.key!r}", "StorageNotFound") from None
        except StorageError as exc:
            raise _error(str(exc), "StorageError", retryable=True) from None
        return StepOutcome(output=output, attempt=activity.info().attempt)

    async def _run(
        self, store: ObjectStore, request: StorageRequest, prefix: str
    ) -> dict[str, Any]:
        relative = request.key or ""
        if request.op == "list":
            objects = await store.list(prefix + relative)
            described = [_describe(info, prefix) for info in objects]
            return {"prefix": relative, "objects": described, "count": len(described)}
        key = prefix + check_key(relative)
        if request.op == "put":
            if contains_secret_markers(request.content):
                raise _error("secrets cannot be stored as artifacts", "StorageSecretRefused")
            data, content_type = _encode(request.content, request.content_type)
            ref = await store.put(key, data, content_type)
            return {"key": relative, "size": ref.size, "content_type": ref.content_type,
                    "sha256": ref.sha256}  # fmt: skip
        if request.op == "get":
            info = await store.stat(key)
            content = _decode(await store.get(key), info.content_type)
            return {"key": relative, "size": info.size, "content_type": info.content_type,
                    **content}  # fmt: skip
        return {"key": relative, "deleted": await store.delete(key)}


def _encode(content: Any, content_type: str | None) -> tuple[bytes, str]:
    """Text is stored as UTF-8 (``text/plain``), anything else as JSON."""
    if isinstance(content, str):
        return content.encode(), content_type or TEXT
    return json.dumps(content, separators=(",", ":")).encode(), content_type or JSON


def _decode(data: bytes, content_type: str) -> dict[str, Any]:
    """``{"content": …}``: parsed JSON, text, or base64 with ``content_encoding``."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == JSON or media.endswith("+json"):
        try:
            return {"content": json.loads(data)}
        except ValueError:
            pass
    try:
        return {"content": data.decode()}
    except UnicodeDecodeError:
        return {"content": base64.b64encode(data).decode(), "content_encoding": "base64"}


def _describe(info: ObjectInfo, prefix: str) -> dict[str, Any]:
    return {
        "key": info.key.removeprefix(prefix),
        "size": info.size,
        "content_type": info.content_type,
        "last_modified": info.last_modified.isoformat() if info.last_modified else None,
    }


def _error(message: str, error_type: str, *, retryable: bool = False) -> ApplicationError:
    # The attempt travels in the details so the run records how many attempts it took.
    return ApplicationError(
        message, {"attempt": activity.info().attempt}, type=error_type, non_retryable=not retryable
    )
