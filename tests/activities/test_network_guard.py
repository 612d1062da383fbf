"""The SSRF guard: the address policy, the network backend, and the ``http`` step over it."""

from __future__ import annotations

import ipaddress
import ssl
import uuid
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.http import HttpActivities, HttpRequestInput
from core.network_guard import (
    BlockedAddressError,
    GuardedBackend,
    IPAddress,
    allow_all_addresses,
    build_guarded_client,
    is_public_address,
    resolve_host,
)
from tests.activities.conftest import LoopbackServer

PUBLIC_TEST_IP = ipaddress.ip_address("127.0.0.2")


def http_input(url: str) -> HttpRequestInput:
    return HttpRequestInput(step_id="s", execution_id="e", method="GET", url=url)


def marker() -> str:
    return uuid.uuid4().hex


def only_test_ip_is_public(address: IPAddress) -> bool:
    """A policy for tests: 127.0.0.2 stands in for a public host, nothing else is allowed."""
    return address == PUBLIC_TEST_IP


async def resolve_public_test(host: str, port: int) -> list[str]:
    """``public.test`` resolves to the stand-in public address; other names as usual."""
    if host == "public.test":
        return [str(PUBLIC_TEST_IP)]
    return await resolve_host(host, port)


class TestAddressPolicy:
    """Only globally routable unicast addresses are public."""

    @pytest.mark.parametrize(
        "address",
        [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.215.14",
            "172.15.255.255",  # just below 172.16/12
            "172.32.0.1",  # just above 172.16/12
            "100.63.255.255",  # just below CGNAT
            "100.128.0.1",  # just above CGNAT
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "::ffff:8.8.8.8",  # IPv4-mapped public address
            "64:ff9b::808:808",  # NAT64 of 8.8.8.8
        ],
    )
    def test_public_addresses_are_allowed(self, address: str) -> None:
        assert is_public_address(ipaddress.ip_address(address))

    @pytest.mark.parametrize(
        "address",
        [
            # loopback and unspecified
            "127.0.0.1",
            "127.255.255.254",
            "0.0.0.0",
            "0.1.2.3",
            "::1",
            "::",
            # RFC 1918 and unique local
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "fc00::1",
            "fd12:3456::1",
            # link-local and cloud metadata
            "169.254.0.1",
            "169.254.169.254",
            "fe80::1",
            "fd00:ec2::254",
            "100.100.100.200",
            # CGNAT, multicast, reserved, broadcast, documentation, benchmarking
            "100.64.0.1",
            "100.127.255.254",
            "224.0.0.1",
            "239.255.255.250",
            "ff02::1",
            "240.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "198.18.0.1",
            "2001:db8::1",
            "fec0::1",
            # IPv6 spellings of blocked IPv4 addresses
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::ffff:0.0.0.0",
            "::127.0.0.1",  # IPv4-compatible (deprecated)
            "2002:7f00:1::1",  # 6to4 of 127.0.0.1
            "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
            "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
            "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        ],
    )
    def test_non_public_addresses_are_refused(self, address: str) -> None:
        assert not is_public_address(ipaddress.ip_address(address))


class _RecordingStream(httpcore.AsyncNetworkStream):
    """A stream that records the TLS handshake it is asked for, then fails it."""

    def __init__(self) -> None:
        self.server_hostname: str | None = None

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.server_hostname = server_hostname
        raise httpcore.ConnectError("handshake stopped by the test")

    async def aclose(self) -> None:
        pass


class _RecordingBackend(httpcore.AsyncNetworkBackend):
    """An inner backend that records where it is asked to connect."""

    def __init__(self) -> None:
        self.connected_to: list[tuple[str, int]] = []
        self.stream = _RecordingStream()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connected_to.append((host, port))
        return self.stream


class TestGuardedBackend:
    """Every connection is resolved, checked, and made to the checked IP."""

    @pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "169.254.169.254"])
    async def test_blocked_hosts_are_refused_before_connecting(self, host: str) -> None:
        inner = _RecordingBackend()
        with pytest.raises(BlockedAddressError):
            await GuardedBackend(inner=inner).connect_tcp(host, 80)
        assert inner.connected_to == []

    async def test_a_name_with_any_blocked_address_is_refused(self) -> None:
        async def mixed(host: str, port: int) -> list[str]:
            return ["8.8.8.8", "10.0.0.7"]

        inner = _RecordingBackend()
        with pytest.raises(BlockedAddressError, match=r"10\.0\.0\.7"):
            await GuardedBackend(resolve=mixed, inner=inner).connect_tcp("mixed.test", 80)
        assert inner.connected_to == []

    async def test_it_connects_to_the_checked_ip_not_the_name(self) -> None:
        inner = _RecordingBackend()
        backend = GuardedBackend(
            is_allowed=only_test_ip_is_public, resolve=resolve_public_test, inner=inner
        )
        await backend.connect_tcp("public.test", 443)
        assert inner.connected_to == [("127.0.0.2", 443)]

    async def test_tls_still_verifies_the_host_name(self) -> None:
        inner = _RecordingBackend()
        backend = GuardedBackend(
            is_allowed=only_test_ip_is_public, resolve=resolve_public_test, inner=inner
        )
        async with build_guarded_client(backend) as client:
            with pytest.raises(httpx.ConnectError, match="handshake stopped"):
                await client.get("https://public.test/path")
        assert inner.connected_to == [("127.0.0.2", 443)]
        assert inner.stream.server_hostname == "public.test"

    async def test_unix_sockets_are_refused(self) -> None:
        with pytest.raises(BlockedAddressError):
            await GuardedBackend().connect_unix_socket("/var/run/docker.sock")


class TestStrictHttpStep:
    """With private networks disallowed, the ``http`` step cannot reach internal services."""

    @pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "0.0.0.0"])
    async def test_loopback_is_blocked_before_any_byte_is_sent(
        self,
        env: ActivityEnvironment,
        strict_client: httpx.AsyncClient,
        http_server: LoopbackServer,
        host: str,
    ) -> None:
        mark = marker()
        req = http_input(http_server.url(f"/echo?m={mark}", host=host))
        err = await _failing(env, HttpActivities(strict_client), req)
        assert (err.type, err.non_retryable) == ("HttpBlockedAddress", True)
        assert not http_server.saw(mark)

    @pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "0.0.0.0"])
    async def test_the_same_urls_work_when_private_networks_are_allowed(
        self,
        env: ActivityEnvironment,
        acts: HttpActivities,
        http_server: LoopbackServer,
        host: str,
    ) -> None:
        # The control for the test above: the server was reachable, the guard stopped it.
        if host == "[::1]" and not http_server.ipv6:
            pytest.skip("no IPv6 loopback on this host")
        mark = marker()
        out = await env.run(acts.request, http_input(http_server.url(f"/echo?m={mark}", host)))
        assert out["status"] == 200
        assert http_server.saw(mark)

    @pytest.mark.parametrize(
        "url",
        [
            "http://169.254.169.254/latest/meta-data/",
            "http://[fd00:ec2::254]/latest/meta-data/",
            "http://100.100.100.200/latest/meta-data/",
            "http://[::ffff:127.0.0.1]/",
            "http://2130706433/",  # 127.0.0.1 as one decimal number
            "http://10.0.0.1/",
        ],
    )
    async def test_metadata_and_private_addresses_are_blocked(
        self, env: ActivityEnvironment, strict_client: httpx.AsyncClient, url: str
    ) -> None:
        err = await _failing(env, HttpActivities(strict_client), http_input(url))
        assert (err.type, err.non_retryable) == ("HttpBlockedAddress", True)


class TestMetadataUnderEveryPolicy:
    """Private networks allowed (``headrace dev``) still never reach the cloud's metadata."""

    @pytest.mark.parametrize(
        "url",
        [
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
            "http://[::ffff:169.254.169.254]/latest/meta-data/",
            "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",  # NAT64 of 169.254.169.254
            "http://[fd00:ec2::254]/latest/meta-data/",
            "http://100.100.100.200/latest/meta-data/",
        ],
    )
    async def test_metadata_is_refused_where_private_networks_are_allowed(
        self, env: ActivityEnvironment, open_client: httpx.AsyncClient, url: str
    ) -> None:
        err = await _failing(env, HttpActivities(open_client), http_input(url))
        assert (err.type, err.non_retryable) == ("HttpBlockedAddress", True)

    async def test_other_link_local_addresses_stay_allowed(self) -> None:
        inner = _RecordingBackend()
        backend = GuardedBackend(inner=inner, is_allowed=allow_all_addresses)
        await backend.connect_tcp("169.254.10.20", 80)
        assert inner.connected_to == [("169.254.10.20", 80)]


class TestRedirectsUnderTheGuard:
    """Each redirect hop is a new connection, checked like the first."""

    @pytest.fixture
    async def acts_public(self) -> Any:
        backend = GuardedBackend(is_allowed=only_test_ip_is_public, resolve=resolve_public_test)
        async with build_guarded_client(backend) as client:
            yield HttpActivities(client)

    async def test_a_public_host_may_redirect_to_a_public_host(
        self, env: ActivityEnvironment, acts_public: HttpActivities, http_server: LoopbackServer
    ) -> None:
        target = http_server.url("/json", host="public.test")
        url = http_server.url(f"/redirect?to={target}", host="public.test")
        out = await env.run(acts_public.request, http_input(url))
        assert out["body"] == {"hello": "world", "n": 1}
        assert http_server.seen[-1].local_host == "127.0.0.2"

    @pytest.mark.parametrize("blocked_host", ["127.0.0.1", "localhost", "[::1]"])
    async def test_a_redirect_to_a_blocked_address_is_refused(
        self,
        env: ActivityEnvironment,
        acts_public: HttpActivities,
        http_server: LoopbackServer,
        blocked_host: str,
    ) -> None:
        first, second = marker(), f"/probe/{marker()}"
        target = http_server.url(second, host=blocked_host)
        url = http_server.url(f"/redirect?m={first}&to={target}", host="public.test")
        err = await _failing(env, acts_public, http_input(url))
        assert (err.type, err.non_retryable) == ("HttpBlockedAddress", True)
        assert http_server.saw(first)
        assert not http_server.saw_path(second)

    async def test_each_new_connection_is_resolved_and_checked_again(
        self, env: ActivityEnvironment, http_server: LoopbackServer
    ) -> None:
        # DNS rebinding: the same name answers a public address, then a private one.
        answers = iter([["127.0.0.2"], ["127.0.0.1"]])

        async def rebinding(host: str, port: int) -> list[str]:
            return next(answers)

        backend = GuardedBackend(is_allowed=only_test_ip_is_public, resolve=rebinding)
        url = http_server.url(f"/echo?m={marker()}", host="rebind.test")
        async with build_guarded_client(backend) as client:
            assert (await client.get(url, headers={"Connection": "close"})).status_code == 200
            with pytest.raises(BlockedAddressError):
                await client.get(url)


async def _failing(
    env: ActivityEnvironment, acts: HttpActivities, req: HttpRequestInput
) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await env.run(acts.request, req)
    return caught.value
