"""The claim-check payload codec: large payloads live in object storage, not in history.

Every payload Temporal would carry (workflow and activity inputs and results, query and
update answers, failure details) passes through :class:`ClaimCheckCodec`. One larger than
``HEADRACE_INLINE_LIMIT`` is stored, as its serialized protobuf, under
``payloads/<workflow id>/<sha256>`` (``payloads/<sha256>`` when no workflow is known, e.g. for
the Web UI's codec calls) and replaced by a small reference payload whose ``encoding`` is
``binary/headrace-claim-check``. Decoding swaps the reference back, so workflow code and
templates only ever see real values. Keys are content-addressed: the same bytes in one run
are one object. Keying by workflow id (the execution id) lets retention delete a run's
payloads with it.

Also here: the JSON side of Temporal's codec-server protocol, for the Web UI.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
from collections.abc import Sequence
from typing import Any, Self

from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
)

from core.settings import Settings
from core.storage import ObjectNotFound, ObjectStore, StorageError, build_object_store
from core.storage.base import InvalidKey, check_key

CLAIM_CHECK_ENCODING = b"binary/headrace-claim-check"
PAYLOAD_PREFIX = "payloads/"
_PROTOBUF = "application/x-protobuf"


class ClaimCheckError(StorageError):
    """A reference could not be resolved (object missing or altered)."""


def payload_prefix(workflow_id: str) -> str:
    """Where the large payloads of one workflow run (one execution) are kept."""
    return f"{PAYLOAD_PREFIX}{workflow_id}/"


class ClaimCheckCodec(PayloadCodec, WithSerializationContext):
    """Stores payloads over ``inline_limit`` bytes in ``store``; see the module docstring."""

    def __init__(self, store: ObjectStore, inline_limit: int, scope: str | None = None) -> None:
        """Args:
        store: Where large payloads go; the API and every worker must share it.
        inline_limit: Largest payload (serialized bytes) kept in history as it is.
        scope: The workflow id the payloads belong to (set by :meth:`with_context`).
        """
        self.store = store
        self.inline_limit = inline_limit
        self.scope = scope

    def with_context(self, context: SerializationContext) -> Self:
        """The same codec, keying new objects under the context's workflow id."""
        workflow_id = getattr(context, "workflow_id", None)
        if not isinstance(workflow_id, str):
            return self
        try:
            check_key(workflow_id)
        except InvalidKey:  # an id that is not a safe path segment: keep the global prefix
            return self
        if "/" in workflow_id:
            return self
        return type(self)(self.store, self.inline_limit, workflow_id)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [await self._encode_one(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [await self._decode_one(payload) for payload in payloads]

    async def _encode_one(self, payload: Payload) -> Payload:
        if payload.ByteSize() <= self.inline_limit or is_claim_check(payload):
            return payload
        data = payload.SerializeToString(deterministic=True)
        digest = hashlib.sha256(data).hexdigest()
        key = f"{payload_prefix(self.scope) if self.scope else PAYLOAD_PREFIX}{digest}"
        await self.store.put(key, data, _PROTOBUF)
        reference = {"key": key, "sha256": digest, "size": len(data)}
        return Payload(
            metadata={"encoding": CLAIM_CHECK_ENCODING},
            data=json.dumps(reference, separators=(",", ":")).encode(),
        )

    async def _decode_one(self, payload: Payload) -> Payload:
        if not is_claim_check(payload):
            return payload
        try:
            reference = json.loads(payload.data)
            key = check_key(str(reference["key"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ClaimCheckError(f"malformed claim-check reference: {exc}") from None
        data = await self.store.get(key)
        if hashlib.sha256(data).hexdigest() != reference.get("sha256"):
            raise ClaimCheckError(f"payload {key!r} does not match its reference's sha256")
        return Payload.FromString(data)


def is_claim_check(payload: Payload) -> bool:
    """True for a reference payload made by :class:`ClaimCheckCodec`."""
    return payload.metadata.get("encoding") == CLAIM_CHECK_ENCODING


def claim_check_data_converter(store: ObjectStore, inline_limit: int) -> DataConverter:
    """The project's pydantic data converter with the claim-check codec over ``store``."""
    return dataclasses.replace(
        pydantic_data_converter, payload_codec=ClaimCheckCodec(store, inline_limit)
    )


def build_data_converter(settings: Settings) -> DataConverter:
    """The data converter of every Temporal client (API and worker) built from settings."""
    return claim_check_data_converter(build_object_store(settings), settings.inline_limit)


# --- Temporal's codec-server protocol (JSON of temporal.api.common.v1.Payloads) -------------


class CodecRequestError(ValueError):
    """A codec request's payload is malformed; ``pointer`` says where."""

    def __init__(self, pointer: str, message: str) -> None:
        super().__init__(message)
        self.pointer = pointer


def payloads_from_json(items: Sequence[dict[str, Any]]) -> list[Payload]:
    """``[{"metadata": {k: base64}, "data": base64}]`` as protobuf payloads."""
    payloads: list[Payload] = []
    for index, item in enumerate(items):
        metadata = {
            name: _b64(value, f"/payloads/{index}/metadata/{name}")
            for name, value in (item.get("metadata") or {}).items()
        }
        data = _b64(item.get("data") or "", f"/payloads/{index}/data")
        payloads.append(Payload(metadata=metadata, data=data))
    return payloads


def payloads_to_json(payloads: Sequence[Payload]) -> list[dict[str, Any]]:
    """Protobuf payloads in the codec-server JSON form (base64 metadata values and data)."""
    return [
        {
            "metadata": {name: _text(value) for name, value in payload.metadata.items()},
            "data": _text(payload.data),
        }
        for payload in payloads
    ]


def _b64(value: Any, pointer: str) -> bytes:
    if not isinstance(value, str):
        raise CodecRequestError(pointer, "expected a base64 string")
    try:
        if "-" in value or "_" in value:  # proto3 JSON parsers accept the URL-safe alphabet too
            return base64.urlsafe_b64decode(value)
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise CodecRequestError(pointer, "not valid base64") from None


def _text(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


async def decode_for_ui(
    codec: ClaimCheckCodec, items: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The codec server's ``/decode``: references become the payloads they stand for.

    A reference whose object is gone (deleted with its workflow) is returned as it is, so
    the Web UI still shows the other payloads of the event.

    Raises:
        CodecRequestError: If an item is not valid codec JSON.
        StorageError: If the object store cannot be reached.
    """
    decoded: list[Payload] = []
    for payload in payloads_from_json(items):
        try:
            decoded.extend(await codec.decode([payload]))
        except (ClaimCheckError, ObjectNotFound):
            decoded.append(payload)
    return payloads_to_json(decoded)


async def encode_for_ui(
    codec: ClaimCheckCodec, items: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The codec server's ``/encode`` (the Web UI's signals and starts): large ones stored."""
    return payloads_to_json(await codec.encode(payloads_from_json(items)))
