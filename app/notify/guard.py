"""The SSRF guard: a notification goes only to http(s) on a public address.

A channel's URL is chosen by whoever configures it, and the server that sends it sits next to
things the outside must not reach (its own Redis, the cloud's metadata service, the LAN). A
host is refused when any address it resolves to is loopback, link-local, private,
unique-local, multicast, reserved, unspecified or otherwise not global, IPv4-mapped IPv6
included, unless the installation allows private addresses. The API checks a URL when it is
configured; `send()` checks again just before sending and connects to the very address it
checked (`addresses()`), so a name that resolves elsewhere a second time gains nothing.
An Apprise URL is checked for the hosts it names (`check_apprise`); Apprise then makes its
own connections.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import warnings
from typing import Any
from urllib.parse import urlsplit

import apprise

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

SCHEMES = {"http": 80, "https": 443}
RESOLVE_TIMEOUT = 10.0


class Refused(ValueError):
    """The destination is not allowed; the message says why (and holds no secret)."""


class Unresolved(Refused):
    """The host did not resolve: maybe only for now (a DNS failure is worth retrying)."""


def target(url: str) -> tuple[str, int]:
    """The (host, port) an http(s) URL points at; Refused for any other URL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Refused("not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise Refused(f"only http and https URLs are allowed, not {scheme or 'no scheme'}")
    if not parts.hostname:
        raise Refused("the URL has no host")
    return parts.hostname, port or SCHEMES[scheme]


def kind_of(address: Address) -> str | None:
    """What makes `address` unfit for a notification ("loopback", ...), or None if public."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return kind_of(address.ipv4_mapped)
    checks = [
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("non-global", not address.is_global),
    ]
    return next((name for name, hit in checks if hit), None)


async def addresses(host: str, port: int, allow_private: bool) -> list[Address]:
    """The addresses `host` resolves to, IPv4 first; Refused if any is not public (unless
    `allow_private`), Unresolved if there are none."""
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT
        )
    except (OSError, UnicodeError, TimeoutError):
        raise Unresolved(f"{host} does not resolve") from None
    found = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
    if not found:
        raise Unresolved(f"{host} does not resolve")
    if not allow_private:
        for address in found:
            kind = kind_of(address)
            if kind:
                shown = host if host == str(address) else f"{host} ({address})"
                raise Refused(f"{shown} is a {kind} address; only public ones are allowed")
    return sorted(found, key=lambda a: a.version)


async def check_host(host: str, port: int, allow_private: bool) -> None:
    """Refused unless `host` resolves, and only to public addresses (or `allow_private`)."""
    await addresses(host, port, allow_private)


async def check_url(url: str, allow_private: bool) -> None:
    """Refused unless `url` is http(s) to a host `check_host` allows."""
    host, port = target(url)
    await check_host(host, port, allow_private)


def apprise_plugin(url: str) -> Any | None:
    """Apprise's service for `url`, or None if it understands no such URL. Apprise loads its
    plugins on first use, and one imports `imghdr`, deprecated since Python 3.11: that
    warning is Apprise's own, silenced here (tests turn warnings into errors)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "'imghdr' is deprecated", DeprecationWarning)
        return apprise.Apprise.instantiate(url)


async def check_apprise(url: str, allow_private: bool) -> None:
    """Refused unless Apprise understands `url` and the hosts it names are allowed."""
    plugin = apprise_plugin(url)
    if plugin is None:
        raise Refused("not an Apprise URL Apprise understands")
    await check_apprise_plugin(plugin, allow_private)


async def check_apprise_plugin(plugin: Any, allow_private: bool) -> None:
    """Check the hosts an Apprise service connects to, where its URL names one: `json://`,
    `ntfy://host`, `mailto://` (and its `smtp=`) do; `tgram://` and `discord://` hold tokens
    there and talk to their service's fixed host. A name that does not resolve is let
    through: it is a token (`ntfy://topic`), or Apprise cannot reach it either."""
    if "host" not in getattr(plugin, "template_tokens", {}):
        return
    port = getattr(plugin, "port", None)
    for host in (getattr(plugin, "host", None), getattr(plugin, "smtp_host", None)):
        if isinstance(host, str) and host:
            try:
                await check_host(host, port if isinstance(port, int) else 0, allow_private)
            except Unresolved:
                continue
