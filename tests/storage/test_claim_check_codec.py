"""The claim-check codec keeps large payloads out of Temporal history, transparently."""

from __future__ import annotations

import json

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.converter import WorkflowSerializationContext

from core.storage import ObjectStore
from core.storage.codec import (
    CLAIM_CHECK_ENCODING,
    ClaimCheckCodec,
    ClaimCheckError,
    claim_check_data_converter,
)

LIMIT = 1024


def json_payload(value: object) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(value).encode())


class TestEncoding:
    async def test_a_small_payload_stays_inline(self, store: ObjectStore) -> None:
        payload = json_payload({"small": True})
        (encoded,) = await ClaimCheckCodec(store, LIMIT).encode([payload])
        assert encoded == payload
        assert await store.list() == []

    async def test_a_large_payload_becomes_a_small_reference(self, store: ObjectStore) -> None:
        payload = json_payload({"blob": "x" * 5000})
        (encoded,) = await ClaimCheckCodec(store, LIMIT).encode([payload])
        assert encoded.metadata["encoding"] == CLAIM_CHECK_ENCODING
        assert encoded.ByteSize() < 300
        reference = json.loads(encoded.data)
        assert reference["key"].startswith("payloads/")
        assert reference["size"] == len(payload.SerializeToString(deterministic=True))

    async def test_decode_gives_back_the_exact_payload(self, store: ObjectStore) -> None:
        codec = ClaimCheckCodec(store, LIMIT)
        payloads = [json_payload("a" * 3000), json_payload(1), json_payload(["b"] * 900)]
        decoded = await codec.decode(await codec.encode(payloads))
        assert decoded == payloads

    async def test_same_bytes_are_stored_once(self, store: ObjectStore) -> None:
        codec = ClaimCheckCodec(store, LIMIT)
        payload = json_payload("y" * 4000)
        first = await codec.encode([payload, payload])
        second = await codec.encode([payload])
        assert len({p.data for p in first + second}) == 1
        assert len(await store.list("payloads/")) == 1


class TestScoping:
    async def test_payloads_of_a_run_are_kept_under_its_workflow_id(
        self, store: ObjectStore
    ) -> None:
        context = WorkflowSerializationContext(namespace="default", workflow_id="exec-123")
        codec = ClaimCheckCodec(store, LIMIT).with_context(context)
        (encoded,) = await codec.encode([json_payload("z" * 4000)])
        assert json.loads(encoded.data)["key"].startswith("payloads/exec-123/")
        # Decoding needs no context: the reference names its key.
        (decoded,) = await ClaimCheckCodec(store, LIMIT).decode([encoded])
        assert json.loads(decoded.data) == "z" * 4000

    async def test_an_id_that_is_not_a_safe_key_segment_uses_the_global_prefix(
        self, store: ObjectStore
    ) -> None:
        context = WorkflowSerializationContext(namespace="default", workflow_id="a/../b")
        codec = ClaimCheckCodec(store, LIMIT).with_context(context)
        (encoded,) = await codec.encode([json_payload("w" * 4000)])
        key = json.loads(encoded.data)["key"]
        assert key.startswith("payloads/") and key.count("/") == 1


class TestIntegrity:
    async def test_an_altered_object_is_refused(self, store: ObjectStore) -> None:
        codec = ClaimCheckCodec(store, LIMIT)
        (encoded,) = await codec.encode([json_payload("v" * 4000)])
        key = json.loads(encoded.data)["key"]
        await store.put(key, json_payload("forged").SerializeToString(), "x")
        with pytest.raises(ClaimCheckError):
            await codec.decode([encoded])


class TestDataConverter:
    async def test_values_round_trip_through_the_converter(self, store: ObjectStore) -> None:
        converter = claim_check_data_converter(store, LIMIT)
        value = {"rows": [{"n": i, "text": "r" * 50} for i in range(100)]}
        encoded = await converter.encode([value])
        assert encoded[0].metadata["encoding"] == CLAIM_CHECK_ENCODING
        assert await converter.decode(encoded, [dict]) == [value]
