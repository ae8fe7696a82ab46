"""The address rules every client-supplied URL meets (services/plumbing/outbound.py): the
issue's four targets and their IPv6, mapped and numeric spellings, handed cases with their
rule, and properties over whole address spaces checked against IANA's special-purpose
registries (written out here, independently of the standard library the rules use)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.plumbing.outbound import (
    Rule,
    address_rule,
    is_local_name,
    matches,
    numeric_host,
)

V4 = ipaddress.IPv4Address
V6 = ipaddress.IPv6Address


def ip(text: str) -> V4 | V6:
    return ipaddress.ip_address(text)


# ---- forms of one IPv4 address ---------------------------------------------------------------
def mapped(a: V4) -> V6:
    return V6(0xFFFF << 32 | int(a))


def compatible(a: V4) -> V6:
    return V6(int(a))


def sixtofour(a: V4) -> V6:
    return V6(0x2002 << 112 | int(a) << 80)


def nat64(a: V4) -> V6:
    return V6(int(V6("64:ff9b::")) | int(a))


TEREDO_SERVER = V4("65.54.227.120")


def teredo(client: V4, server: V4 = TEREDO_SERVER) -> V6:
    """RFC 4380: 2001:0::/32, the server's address, flags and port, then the client's
    address with every bit inverted."""
    return V6(0x2001 << 112 | int(server) << 64 | 0xFFFF_FFFF ^ int(client))


def spellings(a: V4) -> list[str]:
    """Numeric spellings the C library (and so getaddrinfo) reads as ``a``."""
    b = a.packed
    n = int(a)
    return [
        str(n),  # 2130706433
        hex(n),  # 0x7f000001
        "0" + format(n, "o"),  # 017700000001
        ".".join(f"0{x:o}" for x in b),  # 0177.00.00.01
        ".".join(hex(x) for x in b),  # 0x7f.0x0.0x0.0x1
        f"{b[0]}.{b[1]}.{b[2] << 8 | b[3]}",  # 127.0.1
        f"{b[0]}.{n & 0xFFFFFF}",  # 127.1
        f"{hex(b[0])}.{n & 0xFFFFFF}",  # 0x7f.1
    ]


# ---- the issue's targets, and handed cases -------------------------------------------------
ISSUE_TARGETS = {
    "169.254.169.254": Rule.LINK_LOCAL,  # the cloud metadata service
    "10.0.0.5": Rule.PRIVATE,
    "127.0.0.1": Rule.LOOPBACK,  # localhost, and the hub's own intake
}


@pytest.mark.parametrize(("text", "rule"), ISSUE_TARGETS.items())
def test_the_issues_targets_are_refused_in_every_spelling(text: str, rule: Rule) -> None:
    a = V4(text)
    assert address_rule(a) is rule
    for form in (mapped(a), compatible(a), sixtofour(a), nat64(a), teredo(a)):
        assert address_rule(form) is rule, form
    for spelling in spellings(a):
        assert numeric_host(spelling) == a, spelling


HANDED = {
    "::1": Rule.LOOPBACK,
    "::": Rule.UNSPECIFIED,
    "0.0.0.0": Rule.UNSPECIFIED,
    "0.1.2.3": Rule.PRIVATE,  # "this network"
    "fe80::1": Rule.LINK_LOCAL,
    "fe80::1%eth0": Rule.LINK_LOCAL,
    "fd12:3456::1": Rule.PRIVATE,
    "fc00::1": Rule.PRIVATE,
    "fec0::1": Rule.PRIVATE,  # site-local, deprecated
    "100.64.0.1": Rule.SHARED,
    "100.127.255.254": Rule.SHARED,
    "172.16.0.1": Rule.PRIVATE,
    "172.31.255.255": Rule.PRIVATE,
    "192.168.1.1": Rule.PRIVATE,
    "192.0.2.10": Rule.PRIVATE,  # documentation
    "198.18.0.1": Rule.PRIVATE,  # benchmarking
    "224.0.0.1": Rule.MULTICAST,
    "239.255.255.250": Rule.MULTICAST,
    "ff02::1": Rule.MULTICAST,
    "ff0e::1": Rule.MULTICAST,  # global scope, still multicast
    "240.0.0.1": Rule.RESERVED,
    "255.255.255.255": Rule.RESERVED,
    "::ffff:8.8.8.8": Rule.RESERVED,  # mapped: refused whatever it carries
    "::8.8.8.8": Rule.RESERVED,  # compatible, likewise
    "2001:0:4136:e378:8000:63bf:3fff:fdd2": Rule.PRIVATE,  # Teredo, client 192.0.2.45
    "64:ff9b:1::a00:5": Rule.PRIVATE,  # NAT64 local use (RFC 8215)
    "2001:db8::1": Rule.PRIVATE,  # documentation
    "100::1": Rule.RESERVED,  # discard-only
    "8.8.8.8": None,
    "1.1.1.1": None,
    "93.184.215.14": None,
    "2606:4700:4700::1111": None,
    "2002:808:808::1": None,  # 6to4 of a public address
    "64:ff9b::808:808": None,  # NAT64 of a public address (an IPv6-only cluster)
}


@pytest.mark.parametrize(("text", "rule"), HANDED.items())
def test_handed_addresses(text: str, rule: Rule | None) -> None:
    assert address_rule(ip(text)) is rule


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("2852039166", "169.254.169.254"),
        ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
        ("012.0.0.05", "10.0.0.5"),
        ("10.5", "10.0.0.5"),
        ("::ffff:7f00:1", "::ffff:127.0.0.1"),
        ("example.org", None),
        ("1e3", None),
    ],
)
def test_numeric_hosts_are_read_as_the_c_library_reads_them(host: str, address: str | None) -> None:
    assert numeric_host(host) == (ip(address) if address else None)


# ---- properties over address spaces ----------------------------------------------------------
# IANA IPv4 Special-Purpose Address Registry: blocks that are not globally reachable (and
# multicast, RFC 5771). 192.0.0.0/24 is left to the handed cases: two of its addresses
# (.9, .10) are globally reachable.
V4_NOT_GLOBAL = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
]
# IANA IPv6 Special-Purpose Address Registry, likewise (and ff00::/8, multicast).
V6_NOT_GLOBAL = [
    "::1/128",
    "::/128",
    "::ffff:0:0/96",
    "64:ff9b:1::/48",
    "100::/64",
    "2001:db8::/32",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
]

not_global_v4 = st.sampled_from(V4_NOT_GLOBAL).flatmap(
    lambda net: st.ip_addresses(v=4, network=net)
)
not_global_v6 = st.sampled_from(V6_NOT_GLOBAL).flatmap(
    lambda net: st.ip_addresses(v=6, network=net)
)


def _is_listed(a: V4) -> bool:
    return any(a in ipaddress.ip_network(net) for net in [*V4_NOT_GLOBAL, "192.0.0.0/24"])


public_v4 = st.integers(0, 2**32 - 1).map(V4).filter(lambda a: not _is_listed(a))


@given(not_global_v4)
def test_every_ipv4_address_the_internet_does_not_route_is_refused(a: V4) -> None:
    assert address_rule(a) is not None


@given(not_global_v6)
def test_every_ipv6_address_the_internet_does_not_route_is_refused(a: V6) -> None:
    assert address_rule(a) is not None


@given(not_global_v4)
def test_a_refused_ipv4_address_is_refused_in_every_ipv6_form_under_the_same_rule(
    a: V4,
) -> None:
    rule = address_rule(a)
    forms = [mapped(a), sixtofour(a), nat64(a), teredo(a)]
    if int(a) > 1:  # ::0.0.0.0 and ::0.0.0.1 are :: and ::1, refused as themselves
        forms.append(compatible(a))
    for form in forms:
        assert address_rule(form) is rule, form


@given(st.ip_addresses(v=4))
def test_every_numeric_spelling_reads_as_the_address_it_spells(a: V4) -> None:
    for spelling in spellings(a):
        assert numeric_host(spelling) == a, spelling


@given(public_v4)
def test_a_public_ipv4_address_is_accepted_plainly_behind_nat64_and_in_6to4(a: V4) -> None:
    assert address_rule(a) is None
    assert address_rule(nat64(a)) is None
    assert address_rule(sixtofour(a)) is None


@given(public_v4)
def test_a_public_ipv4_address_written_as_mapped_or_compatible_ipv6_is_still_refused(
    a: V4,
) -> None:
    assert address_rule(mapped(a)) is Rule.RESERVED
    assert address_rule(compatible(a)) is Rule.RESERVED


@given(public_v4)
def test_teredo_is_refused_even_between_public_addresses(a: V4) -> None:
    assert address_rule(teredo(a)) is Rule.RESERVED


@given(st.ip_addresses())
def test_whatever_is_accepted_is_global_unicast(a: V4 | V6) -> None:
    if address_rule(a) is None:
        assert a.is_global
        assert not a.is_multicast
        assert not a.is_loopback
        assert not a.is_link_local
        assert not a.is_private


# ---- names -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "local"),
    [
        ("localhost", True),
        ("hooks.localhost", True),
        ("postgres", True),  # a compose service name
        ("referral-intake.referral-hub.svc", True),
        ("referral-intake.referral-hub.svc.cluster.local", True),
        ("printer.local", True),
        ("metadata.google.internal", True),
        ("router.home.arpa", True),
        ("hooks.provider.example.org", False),
        ("example.com", False),
    ],
)
def test_local_names(name: str, local: bool) -> None:
    assert is_local_name(name) is local


def test_allowlist_patterns() -> None:
    patterns = ["hooks.isva-provider.org", "*.idva.example.org"]
    assert matches("hooks.isva-provider.org", patterns)
    assert matches("HOOKS.isva-provider.org.", patterns)
    assert matches("a.b.idva.example.org", patterns)
    assert not matches("idva.example.org", patterns)  # the pattern is for names under it
    assert not matches("evilidva.example.org", patterns)
    assert not matches("hooks.isva-provider.org.evil.com", patterns)
    assert not matches("other.isva-provider.org", patterns)
