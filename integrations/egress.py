"""The SSRF guard: outbound connections to hosts that someone else named (store URLs).

A store URL comes from whoever opens ``/woocommerce/connect`` or types it into the CLI, and the
connector then calls it with REST keys. A URL that names, or resolves to, an internal address
(loopback, a private network, the cloud metadata service at 169.254.169.254, ...) must not be
called. Checking the name once when it is given is not enough: DNS can answer a public address
then and an internal one a second later (DNS rebinding). So the check is made where the socket
is opened: :class:`GuardedTransport` resolves the host itself, refuses the connection when ANY
resolved address is internal, and connects to the address it checked, never to the name again.
TLS still verifies the certificate for the name and sends it as SNI, and the ``Host`` header
is the URL's, because httpcore takes both from the request's origin, not from the socket.

The same design as Sentry's ``safe_create_connection`` (getsentry/sentry
src/sentry/net/socket.py): every record is checked and one bad record spoils the lookup.
Why a module of our own rather than a library: docs/adr/0008-ssrf-guard.md.

Development and tests reach a fake store on 127.0.0.1: :class:`EgressPolicy` has an explicit
``allow_loopback`` for that, which admits loopback addresses (and nothing else internal).
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import httpcore
import httpx

from integrations.base import AdapterError

__all__ = ["EgressPolicy", "EgressRefusedError", "GuardedTransport", "refusal", "resolve_host"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]

#: names that never lead out of the building: RFC 6761 (localhost), RFC 6762 (.local), RFC 8375
#: (.home.arpa), ICANN's private-use .internal (metadata.google.internal), and common LAN suffixes
_INTERNAL_SUFFIXES = ("localdomain", "local", "internal", "home.arpa", "lan", "intranet")
_LOOPBACK_NAMES = ("localhost",)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598 shared address space
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: carries an IPv4 address in its last 32 bits
_DEFAULT_LIMITS = httpx.Limits(max_connections=10, max_keepalive_connections=5)


class EgressRefusedError(AdapterError):
    """The host is, or resolves to, an address this policy does not connect to."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"{host}: {reason}")
        self.host = host
        self.reason = reason


def resolve_host(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host`` (TCP), in its order; raises
    ``socket.gaierror`` when the name does not resolve."""
    answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(sockaddr[0]).split("%", 1)[0] for *_, sockaddr in answers))


def refusal(address: IPAddress, *, allow_loopback: bool) -> str | None:
    """Why ``address`` is refused, or ``None`` when it is a public unicast address.

    ``is_global`` alone is not enough: it is true for multicast, and addresses that carry an
    IPv4 address inside an IPv6 one (NAT64, 6to4, Teredo) are judged by the address they carry.
    IPv4-mapped IPv6 (``::ffff:a.b.c.d``) is refused outright: no store needs it and a
    socket would reach the IPv4 address behind it.
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return "IPv4-mapped IPv6 address"
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            reason = refusal(embedded, allow_loopback=False)
            return None if reason is None else f"{reason} (inside {address})"
    if address.is_loopback:
        return None if allow_loopback else "loopback address"
    for is_class, reason in (
        (address.is_unspecified, "unspecified address"),
        (address.is_link_local, "link-local address"),
        (address.is_multicast, "multicast address"),
        (isinstance(address, ipaddress.IPv4Address) and address in _CGNAT, "shared (CGNAT) address"),
        (isinstance(address, ipaddress.IPv6Address) and address.is_site_local, "site-local address"),
        (address.is_private, "private address"),
        (address.is_reserved, "reserved address"),
        (not address.is_global, "not a global address"),
    ):
        if is_class:
            return reason
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # (server, client): the client is where packets go
    return None


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    """Where outbound connections may go: public unicast addresses, plus loopback when allowed.

    ``resolver`` defaults to :func:`resolve_host` (looked up when called, so tests can stub it).
    """

    allow_loopback: bool = False
    resolver: Resolver | None = None

    def check_name(self, host: str) -> None:
        """Refuse hosts that are internal by their name alone (raises :class:`EgressRefusedError`)."""
        name = host.rstrip(".").lower()
        if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
            if not self.allow_loopback:
                raise EgressRefusedError(host, "loopback name")
            return
        if any(name == suffix or name.endswith("." + suffix) for suffix in _INTERNAL_SUFFIXES):
            raise EgressRefusedError(host, "internal name")

    def addresses(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for ``host``, all checked.

        Raises :class:`EgressRefusedError` when the host or any of its addresses is refused,
        ``socket.gaierror`` when the name does not resolve. Numeric forms the resolver would
        accept (``127.1``, ``0x7f.1``) are read as the address they are, never as a name.
        """
        literal = _numeric_address(host)
        if literal is not None:
            found = [literal]
        else:
            self.check_name(host)
            resolver = self.resolver or resolve_host
            found = [ipaddress.ip_address(text) for text in resolver(_fully_qualified(host), port)]
            if not found:
                raise socket.gaierror(socket.EAI_NONAME, f"{host} has no address")
        for address in found:
            reason = refusal(address, allow_loopback=self.allow_loopback)
            if reason is not None:
                raise EgressRefusedError(host, f"{reason} {address}" if literal is None else reason)
        return [str(address) for address in found]

    def check_url_host(self, host: str, port: int) -> None:
        """The check made when a URL is given: refused as :meth:`addresses` does, except that a
        name that does not resolve (yet) passes; every connection is checked again anyway."""
        try:
            self.addresses(host, port)
        except (socket.gaierror, UnicodeError):
            pass


def _numeric_address(host: str) -> IPAddress | None:
    text = host.strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    try:  # the resolver's own reading of shorthand IPv4 ("127.1", octal, hex), without DNS
        answers = socket.getaddrinfo(text, None, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        return None
    return ipaddress.ip_address(str(answers[0][4][0]))


def _fully_qualified(host: str) -> str:
    # a trailing dot keeps resolv.conf search domains out of it (Sentry's ensure_fqdn): a
    # name must not be completed into an internal one
    return host if host.endswith(".") or host in _LOOPBACK_NAMES else host + "."


class GuardedNetworkBackend(httpcore.NetworkBackend):
    """httpcore's synchronous backend, connecting only to addresses the policy admits."""

    def __init__(self, policy: EgressPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = self._policy.addresses(host, port)
        except (socket.gaierror, UnicodeError) as error:
            raise httpcore.ConnectError(f"{host} does not resolve: {error}") from error
        failure: Exception | None = None
        for address in addresses:  # the checked addresses, never the name again
            try:
                return self._inner.connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                               socket_options=socket_options)
            except httpcore.ConnectError as error:
                failure = error
        assert failure is not None
        raise failure

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None) -> httpcore.NetworkStream:
        raise EgressRefusedError(path, "unix sockets are not an outbound destination")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """An ``httpx.HTTPTransport`` whose every new connection goes through the guard.

    No proxy: a client given an explicit transport ignores ``HTTP(S)_PROXY`` (httpx mounts
    environment proxies only when it builds its own transport), so the guard sees the real
    destination. ``verify`` and ``limits`` are httpx's.
    """

    def __init__(self, policy: EgressPolicy, *, verify: ssl.SSLContext | str | bool = True,
                 limits: httpx.Limits = _DEFAULT_LIMITS) -> None:
        super().__init__(verify=verify, limits=limits)
        # The one private hook: httpx.HTTPTransport builds its httpcore pool without a
        # network_backend argument, so the pool is rebuilt here with the same settings and
        # ours (httpx is pinned to 0.28.x in pyproject.toml; tests/test_woocommerce_egress.py
        # fails if this stops taking effect).
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedNetworkBackend(policy),
        )
