"""Encryption at rest for credentials and secrets, keyed from ``HEADRACE_SECRET_KEY``."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class DecryptionError(Exception):
    """A stored value cannot be decrypted (wrong secret key or tampered data)."""


class Encryptor:
    """Fernet (AES-128-CBC + HMAC-SHA256) with a key derived by HKDF from the secret key."""

    def __init__(self, secret_key: str, *, purpose: bytes = b"headrace-at-rest-v1") -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
            secret_key.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise DecryptionError("stored value cannot be decrypted") from exc
