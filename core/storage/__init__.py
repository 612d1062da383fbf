"""Object storage for artifacts and large payloads: local disk in dev, S3/MinIO in production.

The API and the worker both build their store with :func:`build_object_store`, so they read
and write the same objects.
"""

from __future__ import annotations

from core.settings import Settings
from core.storage.base import (
    InvalidKey,
    ObjectInfo,
    ObjectNotFound,
    ObjectRef,
    ObjectStore,
    StorageError,
    check_key,
    check_prefix,
    execution_prefix,
)
from core.storage.local import LocalObjectStore
from core.storage.s3 import S3ObjectStore, minio_client
from core.storage.signing import DownloadSigner

__all__ = [
    "DownloadSigner",
    "InvalidKey",
    "LocalObjectStore",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectRef",
    "ObjectStore",
    "S3ObjectStore",
    "StorageError",
    "build_object_store",
    "check_key",
    "check_prefix",
    "execution_prefix",
]


def build_object_store(settings: Settings) -> ObjectStore:
    """S3/MinIO when ``HEADRACE_S3_ENDPOINT`` is set, else ``HEADRACE_DATA_DIR/artifacts``."""
    if settings.s3_endpoint:
        secret = settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else None
        client = minio_client(
            settings.s3_endpoint, settings.s3_access_key, secret, settings.s3_secure
        )
        return S3ObjectStore(client, settings.s3_bucket)
    signer = (
        DownloadSigner(settings.base_url, settings.signing_key) if settings.secret_key else None
    )
    return LocalObjectStore(settings.data_dir / "artifacts", signer)
