"""Where Airlock may send a request of its own (agent callbacks): public addresses only.

An agent registers a callback URL; Airlock then POSTs to it from inside the deployment. Left
unchecked, that is a server-side request forgery: a URL (or a hostname resolving) to loopback,
a private network or the cloud metadata service (169.254.169.254, fd00:ec2::254) would make
Airlock talk to internal services. So a URL is checked when it is registered, and again at
every send, where the host is resolved once, every address is checked, and the connection
goes to an address that was checked (a DNS answer changed in between cannot redirect it).
AIRLOCK_CALLBACK_ALLOW_PRIVATE=true lifts the address check (local demos, tests).
"""

import ipaddress
import logging
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

logger = logging.getLogger("airlock.netguard")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UnsafeURL(ValueError):
    """The URL may not be used as a callback target; the message says why."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written in the URL (for Host, SNI and certificate checks)
    port: int
    addresses: tuple[str, ...]  # the checked addresses to connect to, in resolver order


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address.teredo is not None:
            return address.teredo[1]
        if address in NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_refusal(address: IPAddress) -> str | None:
    """Why `address` is not a public unicast address (None when it is)."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        reason = address_refusal(embedded)
        return f"embeds {embedded}, {reason}" if reason else None
    if address.is_unspecified:
        return "unspecified address"
    if address.is_loopback:
        return "loopback address"
    if address.is_link_local:
        return "link-local address (includes cloud metadata)"
    if address.is_multicast:
        return "multicast address"
    if address.is_private:
        return "private address"
    if address.is_reserved or not address.is_global:
        return "non-public address"
    return None


def _split(url: str) -> tuple[str, str, int]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeURL("callback URLs must be http or https")
    if not parts.hostname:
        raise UnsafeURL("callback URL has no host")
    if parts.username or parts.password:
        raise UnsafeURL("callback URL must not carry credentials")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise Unresolvable(f"cannot resolve {host}: {exc}") from None
    seen: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if address not in seen:
            seen.append(address)
    if not seen:
        raise Unresolvable(f"{host} resolves to no address")
    return seen


def callback_target(url: str) -> Target:
    """Resolve and check `url`. Every address must be public (any private one refuses the
    whole URL, as the resolver could hand out either), unless AIRLOCK_CALLBACK_ALLOW_PRIVATE.
    Raises UnsafeURL, logged."""
    scheme, host, port = _split(url)
    addresses = _resolve(host, port)
    if not settings.AIRLOCK_CALLBACK_ALLOW_PRIVATE:
        for address in addresses:
            reason = address_refusal(address)
            if reason is not None:
                logger.warning("callback URL refused: %s resolves to %s (%s)", host, address, reason)
                raise UnsafeURL(
                    f"{host} resolves to {address}, a {reason}; callbacks go to public addresses only "
                    "(set AIRLOCK_CALLBACK_ALLOW_PRIVATE=true for local testing)"
                )
    return Target(scheme, host, port, tuple(str(a) for a in addresses))


class Unresolvable(UnsafeURL):
    """The host has no address right now (DNS not set up yet, or a resolver failure)."""


def callback_url_check(url: str) -> None:
    """Registration-time check: raises UnsafeURL (a message for the person) for a bad scheme,
    a literal private address or a hostname resolving to one. A hostname that does not resolve
    yet is accepted with a warning: every send resolves and checks it again, and refuses."""
    try:
        callback_target(url)
    except Unresolvable as exc:
        logger.warning("callback URL %s accepted unresolved (%s); it is checked again at each send", url, exc)
