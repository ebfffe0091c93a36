"""No private address through a redirect: the SSRF policy, checked where connections are made.

A feed the operator configured may live anywhere, a local RSSHub included. But a public
feed that redirects to ``http://127.0.0.1:8080/admin`` or ``http://169.254.169.254/`` (the
cloud metadata service) must not make the monitor request it. So:

* the first request of a feed goes where the operator said;
* when that first answer came from a public address and redirects, every later hop goes
  through a second connection pool whose network backend resolves the name itself,
  refuses when any address it resolves to is not public (loopback, private, link-local,
  shared, reserved, multicast, unspecified; IPv4-mapped IPv6 read as the IPv4 it maps;
  NAT64 ``64:ff9b::/96`` and 6to4 ``2002::/16`` read as the IPv4 they embed; numeric
  spellings such as ``2130706433`` or ``0x7f.1`` resolve like any name), and
  connects to the address it checked. The check is on the resolved address at connect
  time, so a name that resolves differently a moment later (DNS rebinding) changes
  nothing, and connections of the two pools are never shared;
* ``[fetch] allow_private`` lists hosts and networks a redirect may reach anyway;
  ``[fetch] block_private_redirects = false`` turns the policy off.

Behind an HTTP proxy (``HTTP_PROXY`` in the environment) the proxy makes the connections
and this check cannot see their addresses.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import os
import re
import socket
import ssl
import typing
from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field

import httpcore
import httpx

from monitor.config.values import IPNetwork, parse_network

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NUMERIC_HOST = re.compile(r"^(?:0x[0-9a-f]+|[0-9]+)(?:\.(?:0x[0-9a-f]+|[0-9]+)){0,3}$")

# Set by fetch._follow for the hops after a redirect from a public address.
guarded: ContextVar[bool] = ContextVar("guarded", default=False)


class PrivateAddressRefused(httpcore.ConnectError):
    """A redirect led to an address the policy keeps the monitor from."""


@dataclass(frozen=True)
class AddressPolicy:
    allow_hosts: frozenset[str] = frozenset()  # lower-case names a redirect may reach anyway
    allow_networks: tuple[IPNetwork, ...] = ()  # networks a redirect may reach anyway
    # Networks to treat as public: only for tests, which have nothing but loopback to serve from.
    public_networks: tuple[IPNetwork, ...] = field(default=(), repr=False)

    @classmethod
    def from_entries(cls, entries: Iterable[str]) -> AddressPolicy:
        """`allow_private` entries: a host name, an address, or a network ("10.0.0.0/8")."""
        hosts, networks = set(), []
        for entry in entries:
            network = parse_network(entry)
            if network is None:
                hosts.add(entry.strip().lower().rstrip("."))
            else:
                networks.append(network)
        return cls(frozenset(hosts), tuple(networks))

    def is_public(self, address: IPAddress) -> bool:
        address = embedded_ipv4(address) or address
        if any(address in network for network in self.public_networks):
            return True
        return address.is_global and not address.is_multicast

    def allows(self, host: str, address: IPAddress) -> bool:
        """Whether `host` at `address` may be reached: public, or listed in allow_private."""
        if host.lower().rstrip(".").strip("[]") in self.allow_hosts:
            return True
        return self.is_public(address) or any(address in n for n in self.allow_networks)

    def refusal(self, host: str, addresses: Sequence[IPAddress]) -> str | None:
        """Why `host` (resolved to `addresses`) may not be reached after a redirect, or None."""
        if host.lower().rstrip(".") in self.allow_hosts:
            return None
        for address in addresses:
            if not self.is_public(address) and not any(address in n for n in self.allow_networks):
                return (
                    f"redirect to a private address refused: {host} is {address}"
                    " (allow it with [fetch] allow_private)"
                )
        return None


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for: IPv4-mapped (::ffff:a.b.c.d), NAT64
    (64:ff9b::/96, RFC 6052) or 6to4 (2002::/16, RFC 3056); a private one there is private."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def literal_address(host: str) -> IPAddress | None:
    """The address a URL's host spells, however it spells it ("127.0.0.1", "[::1]", "2130706433",
    "0x7f.1", "127.1"), or 127.0.0.1 for localhost; None for any other name (resolved when fetched)."""
    name = host.strip().strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return ipaddress.IPv4Address("127.0.0.1")
    try:
        return ipaddress.ip_address(name.split("%")[0])
    except ValueError:
        pass
    if _NUMERIC_HOST.match(name):
        try:  # the C library's reading, as a connect() to that name would resolve it
            return ipaddress.IPv4Address(socket.inet_aton(name))
        except OSError:
            return None
    return None


def peer_is_public(response: httpx.Response, policy: AddressPolicy) -> bool:
    """Whether the answer came from a public address (the connection's peer)."""
    stream = response.extensions.get("network_stream")
    peer = stream.get_extra_info("server_addr") if stream is not None else None
    if not peer:
        return True  # unknown: the safer reading, the hops that follow are checked
    try:
        return policy.is_public(ipaddress.ip_address(str(peer[0]).split("%")[0]))
    except ValueError:
        return True


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks every address, and connects to the checked one."""

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
        why = self.policy.refusal(host, addresses)
        if why is not None:
            raise PrivateAddressRefused(why)
        return await self.inner.connect_tcp(str(addresses[0]), port, timeout, local_address, socket_options)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise PrivateAddressRefused(f"redirect to a Unix socket refused: {path}")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def tls_context() -> ssl.SSLContext:
    """The one TLS context of a process's HTTP clients (the feeds' pools, Telegram's two): httpx
    makes one per client, as its default does (certifi's CA store, or SSL_CERT_FILE/DIR), and
    each holds its own copy of the store: 0.8 MB (issue 18). All speak HTTP/1.1, so the ALPN
    list httpcore sets on it is the same for every one. One per SSL_CERT_FILE/DIR as they are
    when a client is made: a CA store named after the first client still counts."""
    return _tls_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.lru_cache(maxsize=4)
def _tls_context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    return httpx.create_ssl_context()  # it reads SSL_CERT_FILE/DIR itself (trust_env)


class GuardedTransport(httpx.AsyncBaseTransport):
    """Two pools: the plain one for what the operator configured, the checked one for the
    hops after a redirect from a public address (`guarded` set)."""

    def __init__(self, policy: AddressPolicy | None) -> None:
        self.policy = policy
        self.plain = httpx.AsyncHTTPTransport(verify=tls_context())
        self.checked: httpx.AsyncHTTPTransport | None = None
        if policy is not None:
            self.checked = httpx.AsyncHTTPTransport(verify=tls_context())
            pool = self.checked._pool  # httpx builds it; only its network backend changes
            self.checked._pool = httpcore.AsyncConnectionPool(
                ssl_context=pool._ssl_context,
                max_connections=pool._max_connections,
                max_keepalive_connections=pool._max_keepalive_connections,
                keepalive_expiry=pool._keepalive_expiry,
                http1=pool._http1,
                http2=pool._http2,
                network_backend=_CheckedBackend(policy),
            )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport = self.checked if self.checked is not None and guarded.get() else self.plain
        response = await transport.handle_async_request(request)
        if self.policy is not None:
            response.extensions["peer_public"] = peer_is_public(response, self.policy)
        return response

    async def aclose(self) -> None:
        await self.plain.aclose()
        if self.checked is not None:
            await self.checked.aclose()
