"""Where result callbacks may go. A `callback_url` comes from whoever sent the incident, so it is
never aimed inside: loopback, private, link-local, shared, reserved and multicast addresses are
refused unless an operator's pattern (CALLBACK_ALLOWED_HOSTS) allows the host or the address.

The name is resolved when the callback is sent, every address it has is checked, and the
connection goes to the address checked (the name kept for the Host header and TLS), so a name
that resolves elsewhere later (DNS rebinding) cannot bend it. RESULT_WEBHOOK_URL is the
operator's own and is trusted as it is.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx

Resolver = Callable[[str, int], list[str]]


class DestinationRefused(Exception):
    """The URL may not be called; the message says why (for the audit trail)."""


class DestinationUnresolved(Exception):
    """The name did not resolve now (DNS down, say): worth trying again later."""


def resolve_all(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise DestinationUnresolved(f"{host} does not resolve: {exc}") from None
    return sorted({str(info[4][0]) for info in infos})


def _inside(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


NUMERIC_LOOKING = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$", re.IGNORECASE)


@dataclass(frozen=True)
class CallbackPolicy:
    """CALLBACK_ALLOWED_HOSTS: host name patterns (`*.corp.example`, `hooks.internal`) and address
    ranges (`10.20.0.0/16`, `127.0.0.1`) that callbacks may reach even though they are inside."""

    allowed: Sequence[str] = ()
    resolver: Resolver = field(default=resolve_all)

    def _allows_host(self, host: str) -> bool:
        return any(
            fnmatch.fnmatch(host.lower(), pattern.lower()) for pattern in self.allowed if "/" not in pattern
        )

    def _allows_address(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        for pattern in self.allowed:
            try:
                if address in ipaddress.ip_network(
                    pattern if "/" in pattern else f"{pattern}/{address.max_prefixlen}"
                ):
                    return True
            except ValueError:
                continue  # a host name pattern
        return False

    def check_syntax(self, url: str) -> None:
        """What can be refused without DNS (at intake): the scheme, and a host that is an inside
        address written as one (127.1, 0x7f000001, [::1]) or a local name."""
        parsed = _parse(url)
        host = parsed.host
        if self._allows_host(host):
            return
        if host == "localhost" or host.endswith(".localhost"):
            raise DestinationRefused(f"{host} is this machine")
        literal = _literal(host)
        if literal is not None and _inside(literal) and not self._allows_address(literal):
            raise DestinationRefused(f"{host} is not a public address")

    def pin(self, url: str) -> tuple[str, dict[str, str], dict[str, str]]:
        """(URL to connect to, extra headers, httpx extensions): the URL with its host replaced by
        the checked address, with the name kept for Host and TLS. Raises DestinationRefused, or
        DestinationUnresolved when the name does not resolve now."""
        self.check_syntax(url)
        parsed = _parse(url)
        host = parsed.host
        if self._allows_host(host):
            return url, {}, {}
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        addresses = [ipaddress.ip_address(a.split("%")[0]) for a in self.resolver(host, port)]
        if not addresses:
            raise DestinationUnresolved(f"{host} has no address")
        for address in addresses:
            if _inside(address) and not self._allows_address(address):
                raise DestinationRefused(f"{host} resolves to {address}, which is not a public address")
        chosen = addresses[0]
        if _literal(host) is not None:
            return url, {}, {}
        netloc_host = f"[{chosen}]" if chosen.version == 6 else str(chosen)
        pinned = str(parsed.copy_with(host=netloc_host.strip("[]")))
        return pinned, {"Host": parsed.netloc.decode("ascii")}, {"sni_hostname": host}


def _parse(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise DestinationRefused(f"not a valid URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise DestinationRefused("not an http(s) URL with a host")
    return parsed


def _literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host written as one stands for (also the short and hex forms inet_aton takes)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if NUMERIC_LOOKING.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None
