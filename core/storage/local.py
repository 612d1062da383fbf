"""Objects as files under a directory (``HEADRACE_DATA_DIR/artifacts`` by default).

Layout: ``objects/<key>`` holds the bytes, ``meta/<sha256 of key>.json`` the content type
(so no key can collide with metadata), ``tmp/`` the half-written files of ``put``, which
renames them into place so a reader never sees a partial object.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from core.storage.base import (
    ObjectInfo,
    ObjectNotFound,
    ObjectRef,
    StorageError,
    check_key,
    check_prefix,
)
from core.storage.signing import DownloadSigner

DEFAULT_CONTENT_TYPE = "application/octet-stream"
# The class defines a `list` method, which would shadow the builtin in its annotations.
ObjectInfos = list[ObjectInfo]


class LocalObjectStore:
    """An :class:`~core.storage.base.ObjectStore` on the local file system."""

    def __init__(self, root: Path, signer: DownloadSigner | None = None) -> None:
        """Use ``root`` (created on first write); ``signer`` makes download links."""
        self.root = root
        self._signer = signer

    # --- paths ---------------------------------------------------------------------------

    def _data(self, key: str) -> Path:
        return self.root / "objects" / check_key(key)

    def _meta(self, key: str) -> Path:
        return self.root / "meta" / f"{hashlib.sha256(key.encode()).hexdigest()}.json"

    # --- the interface -------------------------------------------------------------------

    async def put(self, key: str, data: bytes, content_type: str) -> ObjectRef:
        return await asyncio.to_thread(self._put, key, data, content_type)

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._get, key)

    async def stat(self, key: str) -> ObjectInfo:
        return await asyncio.to_thread(self._stat, key)

    async def delete(self, key: str) -> bool:
        return await asyncio.to_thread(self._delete, key)

    async def delete_prefix(self, prefix: str) -> int:
        return await asyncio.to_thread(self._delete_prefix, prefix)

    async def list(self, prefix: str = "", limit: int = 1000) -> ObjectInfos:
        return await asyncio.to_thread(self._list, prefix, limit)

    async def presigned_url(self, key: str, expires_seconds: int = 900) -> str:
        if self._signer is None:
            raise StorageError("download links need HEADRACE_SECRET_KEY")
        return self._signer.url(check_key(key), expires_seconds)

    # --- blocking parts, run in a thread --------------------------------------------------

    def _put(self, key: str, data: bytes, content_type: str) -> ObjectRef:
        target = self._data(key)
        digest = hashlib.sha256(data).hexdigest()
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write(self.root / "tmp", target, data)
            meta = {"key": key, "content_type": content_type, "sha256": digest}
            self._meta(key).parent.mkdir(parents=True, exist_ok=True)
            _atomic_write(self.root / "tmp", self._meta(key), json.dumps(meta).encode())
        except OSError as exc:
            raise StorageError(f"cannot store {key!r}: {exc.strerror or exc}") from exc
        return ObjectRef(key=key, size=len(data), content_type=content_type, sha256=digest)

    def _get(self, key: str) -> bytes:
        try:
            return self._data(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFound(key) from None
        except OSError as exc:
            raise StorageError(f"cannot read {key!r}: {exc.strerror or exc}") from exc

    def _stat(self, key: str) -> ObjectInfo:
        path = self._data(key)
        if not path.is_file():
            raise ObjectNotFound(key)
        return self._info(key, path)

    def _info(self, key: str, path: Path) -> ObjectInfo:
        status = path.stat()
        try:
            content_type = json.loads(self._meta(key).read_text())["content_type"]
        except (OSError, ValueError, KeyError):
            content_type = DEFAULT_CONTENT_TYPE
        return ObjectInfo(
            key=key,
            size=status.st_size,
            content_type=str(content_type),
            last_modified=datetime.fromtimestamp(status.st_mtime, UTC),
        )

    def _delete(self, key: str) -> bool:
        path = self._data(key)
        if not path.is_file():
            return False
        path.unlink(missing_ok=True)
        self._meta(key).unlink(missing_ok=True)
        self._prune(path.parent)
        return True

    def _delete_prefix(self, prefix: str) -> int:
        removed = 0
        while batch := self._list(prefix, 1000):
            deleted = sum(self._delete(info.key) for info in batch)
            if not deleted:  # gone meanwhile (another deleter); nothing left to do
                break
            removed += deleted
        return removed

    def _list(self, prefix: str, limit: int) -> ObjectInfos:
        check_prefix(prefix)
        objects = self.root / "objects"
        # Walk only below the last complete segment of the prefix.
        start = objects / prefix.rsplit("/", 1)[0] if "/" in prefix else objects
        found: list[str] = []
        for directory, _, files in os.walk(start):
            base = Path(directory).relative_to(objects).as_posix()
            for name in files:
                key = name if base == "." else f"{base}/{name}"
                if key.startswith(prefix):
                    found.append(key)
        return [self._info(key, objects / key) for key in sorted(found)[:limit]]

    def _prune(self, directory: Path) -> None:
        """Remove directories left empty by a delete, up to the objects root."""
        objects = self.root / "objects"
        while directory != objects and objects in directory.parents:
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent


def _atomic_write(tmp_dir: Path, target: Path, data: bytes) -> None:
    tmp_dir.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=tmp_dir)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(name, target)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
