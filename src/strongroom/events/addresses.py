"""Where a webhook may go: the guard against server-side request forgery (SSRF).

A tenant chooses the URL its webhooks are posted to, and the relay posts from
inside the operator's network. Left unchecked, a URL such as
``http://169.254.169.254/latest/meta-data/`` or ``http://10.0.0.5:5432/`` would
turn the relay into a proxy into that network. So the relay only reaches
*public* addresses: an address is refused when it is loopback, private
(10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16, which holds
the cloud metadata service, and fe80::/10), shared (CGNAT, 100.64/10),
unspecified, multicast, reserved, or anything else Python's ``ipaddress`` does
not call global. An IPv4-mapped IPv6 address (``::ffff:a.b.c.d``) and a 6to4
address (``2002:AABB:CCDD::/48``) are judged by the IPv4 address they carry.

The operator may allow some of those addresses anyway with
``STRONGROOM_WEBHOOK_ALLOWED_HOSTS``: comma-separated host names, literal IPs
or CIDRs (``localhost, 127.0.0.1, 10.0.0.0/8``), empty by default. A host name
in the list is trusted whatever it resolves to.

The check has two halves:

* :meth:`AddressPolicy.check_url` is syntax only, without DNS, and runs when an
  endpoint is registered: ``http``/``https``, a host, no credentials, no
  fragment, no whitespace, a sane port and length. A literal IP host is judged
  right there. Numeric hosts in legacy forms (``127.1``, ``0x7f.0.0.1``,
  ``2130706433``) are refused: resolvers read them as IPv4 addresses.
* :meth:`AddressPolicy.resolve` runs before every send: it resolves the host and
  refuses the whole host if *any* address is not allowed (so a DNS answer that
  mixes a public and a private address does not get through). It returns one
  :class:`Target` per address, whose URL names the checked IP itself: the sender
  connects there, sends the original ``Host`` header and, for https, the
  original name as SNI (which is also the name the certificate is verified
  against). Since the name is never resolved a second time, DNS rebinding
  (public at check time, private at connect time) has nothing to exploit.

Error messages name the host, never the whole URL: a query string may carry a
secret.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import httpx

from strongroom.domain.errors import ValidationError

__all__ = ["ALLOWED_HOSTS_SETTING", "AddressPolicy", "AddressRefused", "IPAddress", "Target"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOWED_HOSTS_SETTING = "STRONGROOM_WEBHOOK_ALLOWED_HOSTS"
MAX_URL_LENGTH = 2048
_SCHEMES = frozenset({"http", "https"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_LABEL = re.compile(r"[a-z0-9_-]{1,63}")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")
_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
_LOC = ("url",)


class AddressRefused(Exception):
    """A webhook host that resolves to an address the policy does not allow.

    ``str(exc)`` is a reason fit for a delivery log: it names the host and the
    address, never the URL.
    """


@dataclass(frozen=True, slots=True)
class Target:
    """One checked address to send a webhook to."""

    url: str
    """The URL with its host replaced by the IP literal (IPv6 in brackets)."""
    host_header: str
    """The original ``host[:port]``, for the ``Host`` header."""
    sni_hostname: str | None
    """The original host name for https; ``None`` for http or an IP literal host."""


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """The non-public hosts and networks the operator lets webhooks reach."""

    hosts: frozenset[str]
    networks: tuple[IPNetwork, ...]

    @classmethod
    def parse(cls, allowed: str | Sequence[str] | None) -> AddressPolicy:
        """The policy of ``STRONGROOM_WEBHOOK_ALLOWED_HOSTS`` (a string or its entries).

        Blank entries are ignored; an entry that is neither a host name, an IP
        nor a CIDR raises :class:`ValueError` naming it.
        """
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in _entries(allowed):
            parsed = _parse_entry(entry)
            if isinstance(parsed, str):
                hosts.add(parsed)
            elif parsed not in networks:
                networks.append(parsed)
        return cls(hosts=frozenset(hosts), networks=tuple(networks))

    def check_url(self, url: str) -> str:
        """The normalised ``url``, or :class:`ValidationError` at ``("url",)``.

        Syntax only, no DNS; a literal IP host that is not allowed is refused.
        """
        parsed = _parse_url(url)
        host = _host(parsed)
        ip = _literal_ip(host)
        if ip is None:
            return str(parsed)
        if not self.address_allowed(host, ip):
            raise ValidationError(_not_public(host, ip), loc=_LOC)
        return str(parsed.copy_with(host=str(ip)))

    def address_allowed(self, host: str, ip: IPAddress) -> bool:
        """True when ``ip`` is public, or ``host`` or ``ip`` is allowed by the operator."""
        if _is_public(ip):
            return True
        unmapped = _unmap(ip)
        if {_normal_host(host), str(ip), str(unmapped)} & self.hosts:
            return True
        return any(addr in net for net in self.networks for addr in (ip, unmapped))

    async def resolve(self, url: str) -> list[Target]:
        """One :class:`Target` per address of the URL's host, all of them allowed.

        Raises :class:`AddressRefused` when the URL is invalid, the host does
        not resolve, or any of its addresses is not allowed.
        """
        try:
            parsed = httpx.URL(self.check_url(url))
        except ValidationError as exc:
            raise AddressRefused(exc.detail) from exc
        host = _host(parsed)
        host_header = parsed.netloc.decode("ascii")
        if _literal_ip(host) is not None:
            return [Target(url=str(parsed), host_header=host_header, sni_hostname=None)]
        addresses = await _lookup(host, parsed.port or _DEFAULT_PORTS[parsed.scheme])
        for ip in addresses:
            if not self.address_allowed(host, ip):
                raise AddressRefused(_not_public(host, ip))
        sni = host.removesuffix(".") if parsed.scheme == "https" else None
        return [_target(parsed, ip, host_header, sni) for ip in addresses]


def _target(parsed: httpx.URL, ip: IPAddress, host_header: str, sni: str | None) -> Target:
    """The target of ``parsed`` at ``ip``: the URL names the IP, the headers the host."""
    return Target(
        url=str(parsed.copy_with(host=str(ip))), host_header=host_header, sni_hostname=sni
    )


def _entries(allowed: str | Sequence[str] | None) -> list[str]:
    """The non-blank, stripped entries of the setting."""
    if allowed is None:
        return []
    items = allowed.split(",") if isinstance(allowed, str) else allowed
    return [item.strip() for item in items if item.strip()]


def _parse_entry(entry: str) -> str | IPNetwork:
    """A lower-cased host name or canonical IP, or a network; ``ValueError`` if neither."""
    text = entry.lower()
    if "/" in text:
        try:
            return ipaddress.ip_network(text)
        except ValueError as exc:
            raise ValueError(f"{ALLOWED_HOSTS_SETTING}: {entry!r} is not a CIDR ({exc})") from None
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    if not _is_host_name(text):
        raise ValueError(f"{ALLOWED_HOSTS_SETTING}: {entry!r} is not a host name, IP or CIDR")
    return _normal_host(text)


def _parse_url(url: str) -> httpx.URL:
    """The parsed URL, after every syntactic rule but the host's."""
    if len(url) > MAX_URL_LENGTH:
        raise ValidationError(f"URL longer than {MAX_URL_LENGTH} characters", loc=_LOC)
    if any(_is_forbidden_char(char) for char in url):
        raise ValidationError("URL contains whitespace or a control character", loc=_LOC)
    if "#" in url:
        raise ValidationError("URL must not have a fragment", loc=_LOC)
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ValidationError(f"invalid URL: {exc}", loc=_LOC) from None
    if parsed.scheme not in _SCHEMES:
        raise ValidationError("URL scheme must be http or https", loc=_LOC)
    if "@" in _authority(url):
        raise ValidationError("URL must not contain a user name or password", loc=_LOC)
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        raise ValidationError("URL port must be between 1 and 65535", loc=_LOC)
    if len(str(parsed)) > MAX_URL_LENGTH:
        raise ValidationError(f"URL longer than {MAX_URL_LENGTH} characters", loc=_LOC)
    return parsed


def _is_forbidden_char(char: str) -> bool:
    """Whitespace, control characters (C0, DEL, C1) and the backslash."""
    code = ord(char)
    return char.isspace() or code < 0x20 or 0x7F <= code <= 0x9F or char == "\\"


def _authority(url: str) -> str:
    """The raw text between ``//`` and the path, query or fragment."""
    _, sep, rest = url.partition("//")
    return re.split(r"[/?#]", rest, maxsplit=1)[0] if sep else ""


def _host(parsed: httpx.URL) -> str:
    """The URL's host (ASCII, lower-case); ``ValidationError`` if missing or malformed."""
    host = parsed.raw_host.decode("ascii").lower()
    if not host:
        raise ValidationError("URL must have a host", loc=_LOC)
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValidationError(f"invalid IPv6 address {host!r}", loc=_LOC) from None
        if "%" in host:
            raise ValidationError("URL host must not have an IPv6 zone", loc=_LOC)
        return host
    last_label = host.removesuffix(".").rsplit(".", 1)[-1]
    if _NUMERIC_LABEL.fullmatch(last_label):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise ValidationError(
                f"invalid host {host!r}: write an IPv4 address as four decimal numbers", loc=_LOC
            ) from None
        return host
    if not _is_host_name(host):
        raise ValidationError(f"invalid host {host!r}", loc=_LOC)
    return host


def _is_host_name(host: str) -> bool:
    """An ASCII DNS name: labels of letters, digits, ``-`` and ``_``, the last not a number."""
    labels = host.removesuffix(".").split(".")
    return (
        len(host) <= 254
        and all(_LABEL.fullmatch(label) for label in labels)
        and not _NUMERIC_LABEL.fullmatch(labels[-1])
    )


def _normal_host(host: str) -> str:
    """A host as compared with the allowed ones: lower-case, no brackets or final dot."""
    host = host.lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host.removesuffix(".")


def _literal_ip(host: str) -> IPAddress | None:
    """The IP a (validated) host is a literal of, or ``None`` for a host name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _unmap(ip: IPAddress) -> IPAddress:
    """The IPv4 address of an IPv4-mapped IPv6 address (``::ffff:a.b.c.d``), else ``ip``."""
    if isinstance(ip, ipaddress.IPv6Address):
        return ip.ipv4_mapped or ip
    return ip


def _is_public(ip: IPAddress) -> bool:
    """True for a global unicast address; see the module's docstring."""
    ip = _unmap(ip)
    if isinstance(ip, ipaddress.IPv6Address) and ip.sixtofour is not None:
        ip = ip.sixtofour
    if isinstance(ip, ipaddress.IPv6Address) and (ip not in _GLOBAL_UNICAST_V6 or ip.is_site_local):
        return False
    return ip.is_global and not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def _not_public(host: str, ip: IPAddress) -> str:
    """The reason a host is refused."""
    subject = host if _literal_ip(host) == ip else f"{host} resolves to {ip}, which"
    return (
        f"{subject} is not a public address (loopback, private, link-local or reserved); "
        f"allow it with {ALLOWED_HOSTS_SETTING}"
    )


async def _lookup(host: str, port: int) -> list[IPAddress]:
    """The host's TCP addresses from the event loop's resolver, deduplicated, in order."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except (OSError, UnicodeError):
        raise AddressRefused(f"{host} does not resolve") from None
    addresses = _dedupe(_address(sockaddr[0]) for _, _, _, _, sockaddr in infos)
    if not addresses:
        raise AddressRefused(f"{host} does not resolve")
    return addresses


def _address(text: object) -> IPAddress | None:
    """The IP of a ``getaddrinfo`` socket address, without any IPv6 zone."""
    if not isinstance(text, str):
        return None
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


def _dedupe(addresses: Iterable[IPAddress | None]) -> list[IPAddress]:
    """The addresses without ``None`` and repeats, first occurrence kept."""
    return list(dict.fromkeys(ip for ip in addresses if ip is not None))
