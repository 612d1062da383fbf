"""Signed download links for the local store: what presigned URLs are to S3.

A link carries the key, an expiry (Unix seconds) and an HMAC-SHA256 of both under a key
derived from ``HEADRACE_SECRET_KEY``; the download route checks it in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlencode

DOWNLOAD_ROUTE = "/api/v1/artifacts/download"


class DownloadSigner:
    """Makes and checks signed download links to :data:`DOWNLOAD_ROUTE`."""

    def __init__(self, base_url: str, secret: str) -> None:
        """Keep the API's public base URL and derive the signing key from ``secret``."""
        self._base_url = base_url.rstrip("/")
        # A key of its own, so a link's MAC is never valid as anything else (e.g. a JWT).
        self._key = hmac.new(secret.encode(), b"headrace-artifact-download", "sha256").digest()

    def signature(self, key: str, expires: int) -> str:
        message = f"{key}\n{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def url(self, key: str, expires_seconds: int) -> str:
        """A link to ``key`` valid for ``expires_seconds`` from now."""
        expires = int(time.time()) + expires_seconds
        query = urlencode(
            {"key": key, "expires": expires, "signature": self.signature(key, expires)}
        )
        return f"{self._base_url}{DOWNLOAD_ROUTE}?{query}"

    def verify(self, key: str, expires: int, signature: str) -> bool:
        """True if the link was made by this signer and has not expired."""
        if expires < time.time() or not signature.isascii():
            return False  # (compare_digest refuses non-ASCII text: no signature has any)
        return hmac.compare_digest(self.signature(key, expires), signature)
