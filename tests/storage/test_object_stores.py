"""The two object store backends behave alike (local disk, and S3 through moto's server)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from core.storage import InvalidKey, LocalObjectStore, ObjectNotFound, ObjectStore, S3ObjectStore
from core.storage.signing import DownloadSigner


class TestPutGetDelete:
    async def test_put_then_get_returns_the_bytes_and_describes_them(
        self, store: ObjectStore
    ) -> None:
        ref = await store.put("executions/e1/report.json", b'{"ok": true}', "application/json")
        assert (ref.key, ref.size, ref.content_type) == (
            "executions/e1/report.json",
            12,
            "application/json",
        )
        assert await store.get("executions/e1/report.json") == b'{"ok": true}'
        info = await store.stat("executions/e1/report.json")
        assert (info.size, info.content_type) == (12, "application/json")
        assert info.last_modified is not None

    async def test_put_replaces_what_was_there(self, store: ObjectStore) -> None:
        await store.put("a/b", b"one", "text/plain")
        await store.put("a/b", b"two!", "application/octet-stream")
        assert await store.get("a/b") == b"two!"
        assert (await store.stat("a/b")).content_type == "application/octet-stream"

    async def test_a_missing_key_is_object_not_found(self, store: ObjectStore) -> None:
        with pytest.raises(ObjectNotFound):
            await store.get("nothing/here")
        with pytest.raises(ObjectNotFound):
            await store.stat("nothing/here")

    async def test_delete_says_whether_there_was_an_object(self, store: ObjectStore) -> None:
        await store.put("d/x", b"1", "text/plain")
        assert await store.delete("d/x") is True
        assert await store.delete("d/x") is False
        with pytest.raises(ObjectNotFound):
            await store.get("d/x")

    async def test_megabytes_round_trip(self, store: ObjectStore) -> None:
        data = bytes(range(256)) * 40_000  # 10 MB, not text
        await store.put("big/blob", data, "application/octet-stream")
        assert await store.get("big/blob") == data


class TestListing:
    async def test_list_gives_the_objects_under_a_prefix_sorted(self, store: ObjectStore) -> None:
        for key in ("executions/e2/b.txt", "executions/e2/a/deep.txt", "executions/e20/x"):
            await store.put(key, key.encode(), "text/plain")
        listed = await store.list("executions/e2/")
        assert [info.key for info in listed] == [
            "executions/e2/a/deep.txt",
            "executions/e2/b.txt",
        ]
        assert all(info.content_type == "text/plain" for info in listed)
        # A prefix need not end at a segment boundary, as in S3.
        assert len(await store.list("executions/e2")) == 3

    async def test_list_respects_the_limit(self, store: ObjectStore) -> None:
        for index in range(5):
            await store.put(f"many/{index}", b"x", "text/plain")
        assert [i.key for i in await store.list("many/", limit=2)] == ["many/0", "many/1"]

    async def test_delete_prefix_removes_everything_below_it_only(self, store: ObjectStore) -> None:
        for key in ("executions/e3/a", "executions/e3/b/c", "executions/e4/a"):
            await store.put(key, b"x", "text/plain")
        assert await store.delete_prefix("executions/e3/") == 2
        assert await store.list("executions/e3/") == []
        assert [i.key for i in await store.list("executions/")] == ["executions/e4/a"]


class TestKeys:
    @pytest.mark.parametrize(
        "key", ["", "/abs", "a/../b", "a//b", "..", "a/./b", "back\\slash", "nul\x00", "x" * 1025]
    )
    async def test_unsafe_keys_are_refused(self, store: ObjectStore, key: str) -> None:
        with pytest.raises(InvalidKey):
            await store.put(key, b"x", "text/plain")


class TestDownloadLinks:
    async def test_a_presigned_s3_url_downloads_without_credentials(
        self, store: ObjectStore
    ) -> None:
        if not isinstance(store, S3ObjectStore):
            pytest.skip("S3 presigned URLs")
        await store.put("links/file.txt", b"hello", "text/plain")
        url = await store.presigned_url("links/file.txt", 60)
        async with httpx.AsyncClient() as client:
            response = await client.get(url)
        assert response.status_code == 200
        assert response.content == b"hello"

    async def test_a_local_link_is_signed_and_expires(self, store: ObjectStore) -> None:
        if not isinstance(store, LocalObjectStore):
            pytest.skip("local signed links")
        url = await store.presigned_url("links/file.txt", 60)
        parts = urlsplit(url)
        assert parts.path == "/api/v1/artifacts/download"
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        signer = DownloadSigner("http://127.0.0.1:8000", "test-secret-key-" + "x" * 32)
        assert signer.verify(query["key"], int(query["expires"]), query["signature"])
        assert not signer.verify("links/other.txt", int(query["expires"]), query["signature"])
        expired = int(query["expires"]) - 3600
        assert not signer.verify(query["key"], expired, signer.signature(query["key"], expired))


class TestS3Bucket:
    async def test_the_bucket_is_created_on_first_use(self, store: ObjectStore) -> None:
        if not isinstance(store, S3ObjectStore):
            pytest.skip("S3 only")
        assert await store.list() == []  # the bucket did not exist before this call
        await store.put("first", b"1", "text/plain")
        assert [i.key for i in await store.list()] == ["first"]
