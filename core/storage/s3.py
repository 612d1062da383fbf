"""Objects in an S3 bucket (MinIO, AWS S3, moto) through the ``minio`` client.

The client is synchronous (urllib3), so every call runs in a thread. The bucket is created
on first use if it does not exist.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar
from urllib.parse import urlsplit

import urllib3
from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import MinioException, S3Error

from core.storage.base import (
    ObjectInfo,
    ObjectNotFound,
    ObjectRef,
    StorageError,
    check_key,
    check_prefix,
)

_MISSING = frozenset({"NoSuchKey", "NoSuchObject", "NotFound", "ResourceNotFound"})
_T = TypeVar("_T")


def minio_client(
    endpoint: str, access_key: str | None, secret_key: str | None, secure: bool | None
) -> Minio:
    """A client for ``endpoint`` (``host:port`` or a URL; an ``http://`` URL means no TLS)."""
    if "://" in endpoint:
        parts = urlsplit(endpoint)
        host, scheme_secure = parts.netloc, parts.scheme == "https"
    else:
        host, scheme_secure = endpoint, True
    return Minio(
        host,
        access_key=access_key,
        secret_key=secret_key,
        secure=scheme_secure if secure is None else secure,
    )


class S3ObjectStore:
    """An :class:`~core.storage.base.ObjectStore` in one S3 bucket."""

    def __init__(self, client: Minio, bucket: str) -> None:
        """Use ``bucket`` through ``client``; the bucket is made on first use if missing."""
        self._client = client
        self.bucket = bucket
        self._ready = False
        self._ready_lock = threading.Lock()

    async def put(self, key: str, data: bytes, content_type: str) -> ObjectRef:
        check_key(key)
        digest = hashlib.sha256(data).hexdigest()

        def put() -> None:
            self._client.put_object(
                self.bucket, key, io.BytesIO(data), len(data), content_type=content_type
            )

        await self._run(put, key)
        return ObjectRef(key=key, size=len(data), content_type=content_type, sha256=digest)

    async def get(self, key: str) -> bytes:
        check_key(key)

        def get() -> bytes:
            response = self._client.get_object(self.bucket, key)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

        return await self._run(get, key)

    async def stat(self, key: str) -> ObjectInfo:
        check_key(key)
        return await self._run(lambda: self._stat(key), key)

    async def delete(self, key: str) -> bool:
        check_key(key)

        def delete() -> bool:
            try:
                self._client.stat_object(self.bucket, key)
            except S3Error as exc:
                if exc.code in _MISSING:
                    return False
                raise
            self._client.remove_object(self.bucket, key)
            return True

        return await self._run(delete, key)

    async def delete_prefix(self, prefix: str) -> int:
        check_prefix(prefix)

        def delete_all() -> int:
            names = [
                item.object_name
                for item in self._client.list_objects(self.bucket, prefix=prefix, recursive=True)
                if item.object_name
            ]
            if names:
                errors = list(
                    self._client.remove_objects(self.bucket, [DeleteObject(n) for n in names])
                )
                if errors:
                    raise StorageError(f"could not delete {len(errors)} objects under {prefix!r}")
            return len(names)

        return await self._run(delete_all, prefix)

    async def list(self, prefix: str = "", limit: int = 1000) -> list[ObjectInfo]:
        check_prefix(prefix)

        def list_objects() -> list[ObjectInfo]:
            found: list[ObjectInfo] = []
            for item in self._client.list_objects(self.bucket, prefix=prefix, recursive=True):
                if item.object_name is None or item.is_dir:
                    continue
                # Listings do not carry the content type; one HEAD per object does.
                found.append(self._stat(item.object_name))
                if len(found) >= limit:
                    break
            return found

        return await self._run(list_objects, prefix)

    async def presigned_url(self, key: str, expires_seconds: int = 900) -> str:
        check_key(key)
        expires = timedelta(seconds=expires_seconds)
        return await self._run(
            lambda: self._client.presigned_get_object(self.bucket, key, expires=expires), key
        )

    # --- helpers -------------------------------------------------------------------------

    def _stat(self, key: str) -> ObjectInfo:
        found = self._client.stat_object(self.bucket, key)
        return ObjectInfo(
            key=key,
            size=found.size or 0,
            content_type=found.content_type or "application/octet-stream",
            last_modified=found.last_modified,
        )

    def _ensure_bucket(self) -> None:
        if self._ready:
            return
        with self._ready_lock:
            if not self._ready:
                if not self._client.bucket_exists(self.bucket):
                    try:
                        self._client.make_bucket(self.bucket)
                    except S3Error as exc:  # another process made it meanwhile
                        if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                            raise
                self._ready = True

    async def _run(self, call: Callable[[], _T], key: str) -> _T:
        def run() -> _T:
            self._ensure_bucket()
            return call()

        try:
            return await asyncio.to_thread(run)
        except S3Error as exc:
            if exc.code in _MISSING:
                raise ObjectNotFound(key) from None
            raise StorageError(f"S3 refused {key!r}: {exc.code}") from exc
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise StorageError(f"S3 bucket {self.bucket!r} is unreachable: {exc}") from exc
