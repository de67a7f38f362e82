"""Which addresses webhook deliveries may reach.

A webhook's address is typed by an organisation's administrator, and the worker that posts to
it sits inside the administration's network, beside the database, Redis and the cloud's
metadata service. So deliveries go only to public (global) addresses, unless the installation
names the private networks its receivers live in (WEBHOOK_ALLOWED_NETWORKS). The address is
checked on the socket actually opened, after name resolution, so a name that resolves to a
private address (or changes to one after it was saved) is refused too.
"""

from __future__ import annotations

import functools
import http.client
import ipaddress
import socket
import urllib.request
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedAddress(OSError):
    """The receiver's address is private and not in WEBHOOK_ALLOWED_NETWORKS."""


def parse_networks(value: str | Iterable[str]) -> tuple[Network, ...]:
    """`10.20.0.0/16, 192.168.1.7` (a setting) as networks; ValueError names a bad entry."""
    items = value.split(",") if isinstance(value, str) else value
    networks = []
    for item in (part.strip() for part in items):
        if item:
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"WEBHOOK_ALLOWED_NETWORKS: {item!r} is not a network") from None
    return tuple(networks)


def allowed(address: Address, networks: tuple[Network, ...]) -> bool:
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if any(address in network for network in networks):
        return True
    return address.is_global and not address.is_multicast


def refusal(host: str, address: Address) -> str:
    return (
        f"{host} is at {address}, a private or reserved address: add its network to "
        "WEBHOOK_ALLOWED_NETWORKS to allow it"
    )


def check_literal(host: str, networks: tuple[Network, ...]) -> str | None:
    """Why an address written as an IP (or `localhost`) is refused; None otherwise. Names are
    checked when a delivery resolves them."""
    if host.lower().rstrip(".") in {"localhost", "localhost.localdomain"}:
        host = "127.0.0.1"
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    return None if allowed(address, networks) else refusal(host, address)


def _connect(networks, address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None):
    """socket.create_connection, to the first resolved address that is allowed."""
    host, port = address
    refused = None
    last_error: OSError | None = None
    for family, kind, proto, _name, sockaddr in socket.getaddrinfo(
        host, port, 0, socket.SOCK_STREAM
    ):
        ip = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        if not allowed(ip, networks):
            refused = refused or RefusedAddress(refusal(host, ip))
            continue
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as error:
            sock.close()
            last_error = error
    raise last_error or refused or OSError(f"{host} has no address")


def _guarded(connection_class, networks):
    class Guarded(connection_class):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._create_connection = functools.partial(_connect, networks)

    return Guarded


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer like any other non-2xx: the receiver's address is what was set."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


@functools.lru_cache(maxsize=8)
def opener(networks: tuple[Network, ...]) -> urllib.request.OpenerDirector:
    """A urllib opener that follows no redirect, uses no proxy and connects only to allowed
    addresses (RefusedAddress otherwise)."""
    http_class = _guarded(http.client.HTTPConnection, networks)
    https_class = _guarded(http.client.HTTPSConnection, networks)

    class HTTPHandler(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(http_class, req)

    class HTTPSHandler(urllib.request.HTTPSHandler):
        def https_open(self, req):
            return self.do_open(
                https_class, req, context=self._context, check_hostname=self._check_hostname
            )

    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}), HTTPHandler, HTTPSHandler, _NoRedirect
    )
