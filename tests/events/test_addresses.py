"""The SSRF guard of outgoing webhooks: which URLs and addresses a webhook may reach."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any

import pytest

from strongroom.domain.errors import ValidationError
from strongroom.events.addresses import AddressPolicy, AddressRefused, Target

DEFAULT = AddressPolicy.parse(None)
PORT = 8765

AddrInfo = tuple[socket.AddressFamily, socket.SocketKind, int, str, tuple[Any, ...]]


def _info(address: str) -> AddrInfo:
    """One ``getaddrinfo`` answer for ``address``, as the resolver gives it."""
    if ":" in address:
        return (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, PORT, 0, 0))
    return (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, PORT))


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """A resolver answering from the returned dict (host -> addresses), and only from it."""
    answers: dict[str, list[str]] = {}

    async def getaddrinfo(
        self: asyncio.AbstractEventLoop, host: str, port: int, **kwargs: Any
    ) -> list[AddrInfo]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [_info(address) for address in answers[host]]

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", getaddrinfo)
    return answers


def test_parse_splits_entries_into_hosts_and_networks() -> None:
    """A comma-separated setting yields lower-cased hosts, canonical IPs and networks."""
    policy = AddressPolicy.parse("127.0.0.1, LocalHost,10.0.0.0/8 , ::1,[0:0::2]")
    assert policy.hosts == {"127.0.0.1", "localhost", "::1", "::2"}
    assert policy.networks == (ipaddress.ip_network("10.0.0.0/8"),)


@pytest.mark.parametrize(
    "allowed",
    [None, "", " , ,", []],
    ids=["none", "empty", "blanks", "empty-list"],
)
def test_parse_of_nothing_allows_nothing(allowed: str | list[str] | None) -> None:
    """An unset, empty or blank setting allows no host and no network."""
    assert AddressPolicy.parse(allowed) == AddressPolicy(hosts=frozenset(), networks=())


def test_parse_accepts_a_sequence_of_entries() -> None:
    """A list of entries parses like the comma-separated string."""
    assert AddressPolicy.parse(["localhost", " 10.0.0.0/8", ""]) == AddressPolicy.parse(
        "localhost,10.0.0.0/8"
    )


@pytest.mark.parametrize(
    "entry",
    ["10.0.0.1/8", "10.0.0.0/33", "localhost:8080", "*.internal", "127.1", "a b", "http://x"],
    ids=["host-bits", "prefix", "port", "wildcard", "legacy-ipv4", "space", "url"],
)
def test_parse_refuses_a_bad_entry_by_name(entry: str) -> None:
    """An entry that is not a host name, IP or CIDR raises ValueError naming it."""
    with pytest.raises(ValueError, match="STRONGROOM_WEBHOOK_ALLOWED_HOSTS") as info:
        AddressPolicy.parse(f"localhost, {entry}")
    assert repr(entry) in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "example.com/hook",
        "http://user:secret@example.com/hook",
        "http://@example.com/hook",
        "http:///hook",
        "http://exa\x00mple.com/hook",
        "http://example.com/ho\nok",
        "http://example.com/a b",
        " http://example.com/hook",
        "http://example.com\\@127.0.0.1/",
        "http://example.com/" + "a" * 2048,
        "http://example.com:0/hook",
        "http://example.com:65536/hook",
        "http://example.com:http/hook",
        "http://example.com/hook#part",
        "http://exa..mple.com/hook",
        "http://[fe80::1%25eth0]/hook",
    ],
    ids=[
        "ftp-scheme",
        "no-scheme",
        "userinfo",
        "empty-userinfo",
        "no-host",
        "nul",
        "newline",
        "space",
        "leading-space",
        "backslash",
        "too-long",
        "port-0",
        "port-65536",
        "port-not-a-number",
        "fragment",
        "empty-label",
        "ipv6-zone",
    ],
)
def test_check_url_refuses_malformed_urls(url: str) -> None:
    """A URL breaking a syntactic rule raises ValidationError at ("url",)."""
    with pytest.raises(ValidationError) as info:
        DEFAULT.check_url(url)
    assert info.value.loc == ("url",)


def test_check_url_refusal_does_not_echo_credentials() -> None:
    """The error for a URL with a password does not repeat the password."""
    with pytest.raises(ValidationError) as info:
        DEFAULT.check_url("https://user:hunter2@example.com/hook")
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://10.1.2.3/hook",
        "http://172.16.0.1/hook",
        "http://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[fd00::1]/hook",
        "http://[fe80::1]/hook",
        "http://100.64.0.1/hook",
        "http://0.0.0.0/hook",
        "http://224.0.0.1/hook",
        "http://240.0.0.1/hook",
        "http://255.255.255.255/hook",
    ],
    ids=[
        "loopback",
        "private-10",
        "private-172",
        "private-192",
        "metadata",
        "ipv6-loopback",
        "ipv4-mapped-loopback",
        "unique-local",
        "ipv6-link-local",
        "cgnat",
        "unspecified",
        "multicast",
        "reserved",
        "broadcast",
    ],
)
def test_check_url_refuses_non_public_literal_ips_by_default(url: str) -> None:
    """A literal IP host that is not public is refused without any configuration."""
    with pytest.raises(ValidationError, match="not a public address"):
        DEFAULT.check_url(url)


@pytest.mark.parametrize(
    "url",
    ["http://127.1/hook", "http://2130706433/hook", "http://0x7f.0.0.1/hook", "http://0177.0.0.1/"],
    ids=["short", "integer", "hex", "octal"],
)
def test_check_url_refuses_legacy_numeric_hosts(url: str) -> None:
    """Numeric hosts that resolvers would read as IPv4 must be written in dotted decimal."""
    with pytest.raises(ValidationError, match="IPv4 address"):
        DEFAULT.check_url(url)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTPS://Example.COM/Hook?q=1", "https://example.com/Hook?q=1"),
        ("http://93.184.216.34/hook", "http://93.184.216.34/hook"),
        ("https://[2606:4700:0::1]:8443/hook", "https://[2606:4700::1]:8443/hook"),
        ("http://bücher.example/hook", "http://xn--bcher-kva.example/hook"),
    ],
    ids=["case", "public-ipv4", "public-ipv6", "idna"],
)
def test_check_url_returns_the_normalised_url(url: str, expected: str) -> None:
    """An acceptable URL comes back normalised: case, IPv6 compression, IDNA."""
    assert DEFAULT.check_url(url) == expected


@pytest.mark.parametrize(
    ("allowed", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8080/hook"),
        ("127.0.0.1", "http://[::ffff:127.0.0.1]/hook"),
        ("10.0.0.0/8", "http://10.1.2.3/hook"),
        ("::1", "http://[::1]/hook"),
        ("169.254.169.254", "http://169.254.169.254/hook"),
    ],
    ids=["literal", "mapped-by-ipv4-literal", "cidr", "ipv6-literal", "metadata-explicitly"],
)
def test_check_url_accepts_configured_literal_ips(allowed: str, url: str) -> None:
    """A non-public literal IP passes when the operator allows it."""
    AddressPolicy.parse(allowed).check_url(url)


@pytest.mark.parametrize(
    ("allowed", "host", "ip"),
    [
        ("localhost", "localhost", "127.0.0.1"),
        ("localhost", "LOCALHOST.", "::1"),
        ("127.0.0.1", "example.test", "127.0.0.1"),
        ("10.0.0.0/8", "db.internal", "10.9.8.7"),
        ("10.0.0.0/8", "db.internal", "::ffff:10.9.8.7"),
    ],
    ids=["name", "name-case-and-dot", "literal", "cidr", "cidr-mapped"],
)
def test_address_allowed_when_configured(allowed: str, host: str, ip: str) -> None:
    """A non-public address is allowed by its host's name, its literal or a network."""
    assert AddressPolicy.parse(allowed).address_allowed(host, ipaddress.ip_address(ip))


@pytest.mark.parametrize(
    "ip",
    [
        "127.0.0.1",
        "10.0.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "fe80::1",
        "fc00::1",
        "::",
        "ff02::1",
        "fec0::1",
        "64:ff9b::7f00:1",
        "2002:7f00:1::1",
        "::7f00:1",
        "2001:db8::1",
    ],
    ids=[
        "loopback",
        "private",
        "metadata",
        "cgnat",
        "link-local-v6",
        "ula",
        "unspecified-v6",
        "multicast-v6",
        "site-local",
        "nat64-loopback",
        "6to4-loopback",
        "compat",
        "doc",
    ],
)
def test_address_refused_by_default(ip: str) -> None:
    """Every non-public address is refused when nothing is configured."""
    assert not DEFAULT.address_allowed("example.test", ipaddress.ip_address(ip))


def test_address_not_covered_by_the_policy_is_refused() -> None:
    """Allowing one host or network does not allow another private address."""
    policy = AddressPolicy.parse("localhost, 10.0.0.0/8")
    assert not policy.address_allowed("example.test", ipaddress.ip_address("192.168.1.1"))


@pytest.mark.parametrize(
    "ip",
    ["93.184.216.34", "8.8.8.8", "2606:4700::1", "::ffff:8.8.8.8"],
    ids=["ipv4", "ipv4-dns", "ipv6", "mapped-public"],
)
def test_public_address_allowed_without_configuration(ip: str) -> None:
    """A global unicast address needs no configuration."""
    assert DEFAULT.address_allowed("example.test", ipaddress.ip_address(ip))


def test_resolve_refuses_localhost_by_default() -> None:
    """Resolving localhost yields a loopback address, which is refused."""
    with pytest.raises(AddressRefused, match=r"^localhost resolves to .*not a public address"):
        asyncio.run(DEFAULT.resolve(f"http://localhost:{PORT}/path?q=1"))


@pytest.mark.parametrize(
    "allowed",
    ["localhost", "127.0.0.0/8, ::1/128"],
    ids=["by-name", "by-cidr"],
)
def test_resolve_allows_localhost_when_configured(allowed: str) -> None:
    """An allowed localhost resolves to a Target naming 127.0.0.1 with the original Host."""
    url = f"http://localhost:{PORT}/path?q=1"
    targets = asyncio.run(AddressPolicy.parse(allowed).resolve(url))
    expected = Target(
        url=f"http://127.0.0.1:{PORT}/path?q=1",
        host_header=f"localhost:{PORT}",
        sni_hostname=None,
    )
    assert expected in targets


def test_resolve_https_target_carries_the_sni_hostname() -> None:
    """An https Target keeps the original host name for SNI and certificate checks."""
    targets = asyncio.run(AddressPolicy.parse("localhost").resolve("https://localhost/hook"))
    assert {(t.host_header, t.sni_hostname) for t in targets} == {("localhost", "localhost")}


def test_resolve_refuses_a_host_that_does_not_resolve() -> None:
    """A name without addresses is refused, naming the host."""
    with pytest.raises(AddressRefused, match=r"^no-such-host\.invalid does not resolve"):
        asyncio.run(DEFAULT.resolve("https://no-such-host.invalid/hook"))


def test_resolve_literal_ip_skips_dns(fake_dns: dict[str, list[str]]) -> None:
    """A public literal IP is a Target as it is, without asking the resolver."""
    targets = asyncio.run(DEFAULT.resolve("http://93.184.216.34:8080/hook?q=1"))
    assert targets == [
        Target(
            url="http://93.184.216.34:8080/hook?q=1",
            host_header="93.184.216.34:8080",
            sni_hostname=None,
        )
    ]


def test_resolve_literal_ipv6_https_has_no_sni(fake_dns: dict[str, list[str]]) -> None:
    """An https URL with a literal IPv6 host has no SNI name and a bracketed Host."""
    targets = asyncio.run(DEFAULT.resolve("https://[2606:4700::1]/hook"))
    assert targets == [Target("https://[2606:4700::1]/hook", "[2606:4700::1]", None)]


def test_resolve_refuses_a_host_with_any_private_address(fake_dns: dict[str, list[str]]) -> None:
    """A mixed DNS answer (public and private) refuses the whole host."""
    fake_dns["mixed.example"] = ["93.184.216.34", "10.0.0.1"]
    with pytest.raises(AddressRefused, match=r"^mixed\.example resolves to 10\.0\.0\.1, which"):
        asyncio.run(DEFAULT.resolve("https://mixed.example/hook"))


def test_resolve_refuses_a_name_resolving_to_metadata(fake_dns: dict[str, list[str]]) -> None:
    """A public-looking name pointing at the metadata service is refused."""
    fake_dns["rebind.example"] = ["169.254.169.254"]
    with pytest.raises(AddressRefused, match=r"169\.254\.169\.254"):
        asyncio.run(DEFAULT.resolve("http://rebind.example/latest/meta-data/"))


def test_resolve_returns_one_target_per_address_in_order(fake_dns: dict[str, list[str]]) -> None:
    """Addresses are deduplicated, keep their order and IPv6 ones are bracketed."""
    fake_dns["hooks.example"] = ["2606:4700::1", "93.184.216.34", "2606:4700::1"]
    targets = asyncio.run(DEFAULT.resolve("https://hooks.example:8443/in/a%2Fb?sig=1&x=%20"))
    assert targets == [
        Target(
            "https://[2606:4700::1]:8443/in/a%2Fb?sig=1&x=%20",
            "hooks.example:8443",
            "hooks.example",
        ),
        Target(
            "https://93.184.216.34:8443/in/a%2Fb?sig=1&x=%20", "hooks.example:8443", "hooks.example"
        ),
    ]


def test_resolve_refuses_an_invalid_url_as_address_refused() -> None:
    """The sender catches one exception: an invalid URL is AddressRefused too."""
    with pytest.raises(AddressRefused, match="scheme"):
        asyncio.run(DEFAULT.resolve("ftp://example.com/hook"))


def test_resolve_refusal_does_not_echo_the_query(fake_dns: dict[str, list[str]]) -> None:
    """A refusal names the host, never the URL and the secret its query may hold."""
    fake_dns["internal.example"] = ["10.0.0.1"]
    with pytest.raises(AddressRefused) as info:
        asyncio.run(DEFAULT.resolve("https://internal.example/hook?token=s3cret"))
    assert "s3cret" not in str(info.value)
