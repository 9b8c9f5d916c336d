"""Host names and addresses as Capstan stores and compares them: a DNS name of RFC 1123 labels
(lower-cased, without a final dot) or an IPv4/IPv6 literal (in its compressed form, no
brackets). One shape for a target's host, a repository's SSH host, a scanned host and a
known_hosts entry, so a pin given as `Web1.example.com` is the pin of `web1.example.com`.
Nothing else gets through: no wildcards, no spaces, no option such as `-oProxyCommand=...`,
no empty or over-long label (which would fail deep inside DNS encoding).
"""

from __future__ import annotations

import contextlib
import ipaddress
import re

from app.errors import Invalid

# RFC 1123 labels: letters, digits and inner hyphens, 1 to 63 characters each.
LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
MAX_HOST = 255  # what a caller may give (brackets, a final dot); a name itself is at most 253
MAX_NAME = 253


def normalize(value: str) -> str:
    """`value` as a host name or IP address in Capstan's one form; ValueError otherwise.
    An IPv6 address may come in brackets (`[::1]`)."""
    if not value or len(value) > MAX_HOST:
        raise ValueError("not a host name or IP address")
    literal = value[1:-1] if value.startswith("[") and value.endswith("]") else value
    try:
        return str(ipaddress.ip_address(literal))
    except ValueError:
        pass
    name = value.lower().removesuffix(".")
    labels = name.split(".")
    if not name or len(name) > MAX_NAME or not all(LABEL.fullmatch(label) for label in labels):
        raise ValueError(f"{value[:64]!r} is not a host name or IP address")
    if labels[-1].isdigit():  # 10.0.0.300 is a mistyped address, not a name
        raise ValueError(f"{value[:64]!r} is not a host name or IP address")
    return name


def validate(value: object, field: str = "host") -> str:
    """`normalize` for a value a request gave; `Invalid` naming `field` if it is none."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return normalize(value)
    raise Invalid(f"{field} must be a host name or an IP address", field=field)


def in_url(host: str) -> str:
    """`host` as a URL's authority names it: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


def host_port(host: str, port: int) -> str:
    """`host` and `port` as OpenSSH names them: `host` for port 22, else `[host]:port`."""
    return host if port == 22 else f"[{host}]:{port}"
