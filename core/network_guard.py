"""SSRF guard: which network addresses the ``http`` step may contact.

The check runs inside the connection layer, not on the URL: every TCP connection httpx
opens (the first request and each redirect hop) goes through :class:`GuardedBackend`,
which resolves the host itself, refuses the connection if any resolved address is not
public, and then connects to the very IP it checked. Connecting to the checked IP (instead
of handing the hostname back to the OS) is what defeats DNS rebinding: there is no second
lookup an attacker could answer differently. TLS is unaffected: httpcore passes the
original hostname to ``start_tls(server_hostname=...)`` on the stream we return, so SNI
and certificate verification still use the name, and httpx still sends ``Host: <name>``.

Public API:
    BlockedAddressError       raised when a connection is refused by the policy
    is_public_address()       the strict default policy
    is_metadata_address()     cloud metadata endpoints, refused under every policy
    allow_all_addresses()     the policy of ``HEADRACE_ALLOW_PRIVATE_NETWORKS=true``
    resolve_host()            the default resolver (``getaddrinfo``)
    GuardedBackend            the httpcore network backend that enforces a policy
    build_guarded_client()    an ``httpx.AsyncClient`` over a given backend
    build_http_client()       the client the worker uses
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import Final

import anyio
import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
AddressPolicy = Callable[[IPAddress], bool]
Resolver = Callable[[str, int], Awaitable[list[str]]]

METADATA_ADDRESSES: Final[frozenset[IPAddress]] = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack, ...
        ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    }
)

# Spelled out rather than trusting only ``is_global``: the stdlib's tables changed between
# 3.11 patch releases, and a security boundary should not move with the interpreter.
_BLOCKED_NETWORKS: Final[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]] = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",  # "this network", incl. 0.0.0.0 (reaches localhost on Linux)
        "10.0.0.0/8",  # RFC 1918
        "100.64.0.0/10",  # CGNAT, incl. 100.100.100.200 (Alibaba metadata)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, incl. 169.254.169.254 (cloud metadata)
        "172.16.0.0/12",  # RFC 1918
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # TEST-NET-1
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",  # RFC 1918
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # TEST-NET-2
        "203.0.113.0/24",  # TEST-NET-3
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, incl. 255.255.255.255
        "::/8",  # unspecified, loopback, IPv4-compatible (mapped forms are unwrapped first)
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard-only
        "2001::/23",  # IETF protocol assignments, incl. Teredo
        "2001:db8::/32",  # documentation
        "fc00::/7",  # unique local (ULA), incl. fd00:ec2::254
        "fe80::/10",  # link-local
        "fec0::/10",  # deprecated site-local
        "ff00::/8",  # multicast
    )
)

# IPv6 prefixes that carry an IPv4 address a gateway will forward to: judge that IPv4.
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")


class BlockedAddressError(Exception):
    """A connection was refused because the address is not allowed by the policy."""


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """Return the IPv4 address an IPv6 address stands for (mapped, 6to4, NAT64), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public_address(address: IPAddress) -> bool:
    """Tell whether an address is public, i.e. safe for user-defined requests to reach.

    Refuses loopback, private (RFC 1918, ULA), link-local, cloud metadata, unspecified,
    multicast, reserved, documentation and CGNAT ranges, and IPv6 forms that embed one
    of those IPv4 addresses (``::ffff:127.0.0.1``, 6to4, NAT64).

    Args:
        address: A resolved IP address.

    Returns:
        True only when the address is globally routable unicast.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return is_public_address(embedded)
    if is_metadata_address(address):
        return False
    if any(address in network for network in _BLOCKED_NETWORKS):
        return False
    return address.is_global and not (
        address.is_multicast or address.is_reserved or address.is_unspecified
    )


def is_metadata_address(address: IPAddress) -> bool:
    """Tell whether an address is a cloud metadata endpoint, in any IPv6 disguise.

    Args:
        address: A resolved IP address.

    Returns:
        True for 169.254.169.254 and its peers, also as ``::ffff:169.254.169.254``, 6to4 or
        NAT64.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return embedded in METADATA_ADDRESSES
    return address in METADATA_ADDRESSES


def allow_all_addresses(address: IPAddress) -> bool:
    """Allow every address but cloud metadata (the policy when private networks are allowed).

    Private networks are allowed for a developer's own services; the metadata endpoint of the
    machine the worker runs on hands out its cloud credentials, and no workflow needs it.

    Args:
        address: A resolved IP address.

    Returns:
        False only for a metadata address.
    """
    return not is_metadata_address(address)


async def resolve_host(host: str, port: int) -> list[str]:
    """Resolve a host name (or IP literal) to its TCP addresses, in resolver order.

    Args:
        host: A host name or an IP literal, without brackets.
        port: The TCP port.

    Returns:
        Distinct IP address strings.

    Raises:
        OSError: The name does not resolve (``socket.gaierror``).
    """
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that only connects to addresses a policy allows.

    It wraps another backend (httpcore's ``AnyIOBackend`` by default), resolves the host
    itself, checks every address, and asks the inner backend to connect to the checked IP.
    """

    def __init__(
        self,
        *,
        is_allowed: AddressPolicy = is_public_address,
        resolve: Resolver = resolve_host,
        inner: httpcore.AsyncNetworkBackend | None = None,
        local_ports_refused: frozenset[int] = frozenset(),
    ) -> None:
        """Build the backend.

        Args:
            is_allowed: Policy deciding whether an address may be contacted.
            resolve: Turns ``(host, port)`` into IP address strings; tests inject fakes.
            inner: The backend that opens the sockets.
            local_ports_refused: Ports refused on every non-public address even when the
                policy allows it: Headrace's own services when private networks are allowed.
        """
        self._local_ports_refused = local_ports_refused
        self._is_allowed = is_allowed
        self._resolve = resolve
        self._inner = inner if inner is not None else httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Resolve, check and connect; the connect timeout covers all of it.

        Raises:
            BlockedAddressError: Some address the host resolves to is not allowed.
            httpcore.ConnectError: The name does not resolve or no address accepts.
            httpcore.ConnectTimeout: Resolution plus connection took longer than timeout.
        """
        deadline = math.inf if timeout is None else anyio.current_time() + timeout
        addresses = await self._checked_addresses(host, port, deadline)
        last_error: Exception = httpcore.ConnectError(f"{host} has no address")
        # Try each checked address in turn, as the OS resolver path would.
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=_remaining(deadline),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:
                last_error = exc
        raise last_error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Refuse Unix sockets: they reach local services and have no address to check."""
        raise BlockedAddressError("connections to Unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        """Sleep with the inner backend (httpcore uses it between connect retries)."""
        await self._inner.sleep(seconds)

    async def _checked_addresses(self, host: str, port: int, deadline: float) -> list[str]:
        """Resolve ``host`` and raise unless every address it resolves to is allowed."""
        try:
            with anyio.fail_at(deadline):
                addresses = await self._resolve(host, port)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        for address in addresses:
            # Refuse when ANY address is blocked: a name that mixes public and private
            # records is either misconfigured or an attack, and both deserve a refusal.
            ip = ipaddress.ip_address(address)
            if not self._is_allowed(ip):
                raise BlockedAddressError(f"{host} resolves to {address}, which is not allowed")
            if port in self._local_ports_refused and not is_public_address(ip):
                raise BlockedAddressError(
                    f"{host}:{port} is a port of Headrace's own services "
                    "(HEADRACE_ALLOW_HEADRACE_PORTS allows it)"
                )
        return addresses


def _remaining(deadline: float) -> float | None:
    """Seconds left until ``deadline`` (None when unbounded); time out once it passed."""
    if deadline == math.inf:
        return None
    left = deadline - anyio.current_time()
    if left <= 0:
        raise httpcore.ConnectTimeout("connect timed out")
    return left


def _guarded_transport(backend: httpcore.AsyncNetworkBackend) -> httpx.AsyncHTTPTransport:
    """Build an httpx transport whose connection pool opens sockets through ``backend``.

    httpx 0.28's ``AsyncHTTPTransport`` has no ``network_backend`` parameter, so we build
    it and swap its private ``_pool`` for an ``httpcore.AsyncConnectionPool`` that takes
    one. The alternative, a transport of our own around the pool, would have to copy
    httpx's private exception mapping and response wrapping; swapping one attribute keeps
    all of that as httpx ships it. If a future httpx renames ``_pool``, we refuse to
    start rather than run unguarded.
    """
    transport = httpx.AsyncHTTPTransport()
    if not isinstance(getattr(transport, "_pool", None), httpcore.AsyncConnectionPool):
        raise RuntimeError("httpx.AsyncHTTPTransport._pool moved; the SSRF guard cannot plug in")
    limits = httpx.Limits()
    ssl_context: ssl.SSLContext = httpx.create_ssl_context()
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=ssl_context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=backend,
    )
    return transport


def build_guarded_client(
    backend: httpcore.AsyncNetworkBackend, *, timeout: float = 30.0
) -> httpx.AsyncClient:
    """Build an ``httpx.AsyncClient`` whose every connection goes through ``backend``.

    Args:
        backend: Usually a :class:`GuardedBackend`; tests pass one with a fake resolver.
        timeout: Default timeout in seconds for connect, read, write and pool waits.

    Returns:
        A client; the caller closes it (``await client.aclose()``).
    """
    return httpx.AsyncClient(
        transport=_guarded_transport(backend),
        timeout=timeout,
        # No proxies or .netrc from the environment: a proxy would make the connection
        # go to the proxy's address and the guard would check the wrong host.
        trust_env=False,
        headers={"User-Agent": "Headrace"},
    )


def build_http_client(
    *,
    allow_private_networks: bool,
    timeout: float = 30.0,
    local_ports_refused: frozenset[int] = frozenset(),
) -> httpx.AsyncClient:
    """Build the client the ``http`` step uses.

    Args:
        allow_private_networks: ``HEADRACE_ALLOW_PRIVATE_NETWORKS``; when False (the
            production default), loopback, private, link-local, metadata and other
            non-public addresses are refused after DNS resolution, on every redirect hop.
        timeout: Default timeout in seconds for connect, read, write and pool waits.
        local_ports_refused: Ports refused on non-public addresses all the same
            (``Settings.headrace_ports``): what private networks allow is other services,
            not Headrace's own API, Temporal frontend or Web UI.

    Returns:
        A client; the caller closes it (``await client.aclose()``).
    """
    policy = allow_all_addresses if allow_private_networks else is_public_address
    backend = GuardedBackend(is_allowed=policy, local_ports_refused=local_ports_refused)
    return build_guarded_client(backend, timeout=timeout)
