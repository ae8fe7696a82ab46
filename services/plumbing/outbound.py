"""The one way the hub calls a URL that a client gave it (a provider's webhook today; a
referrer's webhook tomorrow): vetted, pinned, bounded.

Server-side request forgery (CWE-918, OWASP API7:2023) turns such a URL against the hub's
own network: a cloud metadata service, a private address, the hub's own database or API.
So every call goes through ``OutboundClient``, which

1. **vets** the URL (``vet``): https only (plain http only to hosts the settings name), no
   user name or password, the operators' allowlist of hosts if they set one, no local names
   (``localhost``, single labels, ``.local``, ``.internal``, ``.svc``, ...), then resolves
   the host and refuses it if *any* address it resolves to is loopback, private, link-local
   (cloud metadata), shared (100.64.0.0/10), multicast, reserved, unspecified, an IPv4
   address written as IPv6 (mapped, compatible, 6to4, Teredo, NAT64) that is one of those,
   or one of the hub's own services (API, database, broker, collector) in any profile;
2. **pins** the address it vetted: the request goes to that IP literal, with the name kept
   for the ``Host`` header and for TLS (SNI and certificate verification, through httpx's
   ``sni_hostname`` extension), so a second DNS answer (rebinding) cannot move it;
3. **bounds** the call: no redirects followed, no proxies from the environment, a connect and
   a total deadline, a cap on the response body read, and no kept-alive connections (a
   connection to an address is never reused for another name).

Numeric spellings of addresses (``2130706433``, ``0177.0.0.1``, ``0x7f.1``, ``127.1``) are
read as the C library reads them (``inet_aton``, what ``getaddrinfo`` does for a numeric
host), so the address checked is the address a connection would reach.

The address rules are the standard library's ``ipaddress`` facts (IANA's special-purpose
registries, as Python 3.11 ships them); only the forms it does not unwrap are named here,
each with its RFC.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from schemas.refusals import Refused
from services.plumbing.metrics import OUTBOUND_REFUSALS

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SHARED_ADDRESS_SPACE = ipaddress.IPv4Network("100.64.0.0/10")
"""RFC 6598 (carrier-grade NAT). ``ipaddress`` says it is not global, but neither private."""
NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
"""RFC 6052: an IPv4 address in the last 32 bits, reached through a NAT64 gateway."""
NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")
"""RFC 8215: NAT64 prefixes for one network's own use, never routed on the internet."""
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
"""RFC 4291 2.5.5.1: deprecated IPv4-compatible addresses (``::a.b.c.d``)."""

LOCAL_SUFFIXES = ("localhost", "local", "internal", "home.arpa", "localdomain", "svc", "lan")
"""Names that only mean something inside one machine or network: RFC 6761 (localhost),
RFC 6762 (.local, mDNS), RFC 8375 (home.arpa), ICANN's 2024 reservation of .internal, and
the suffixes Kubernetes (``.svc``, ``.svc.cluster.local``) and home routers use."""


class Rule(StrEnum):
    """Why a URL was refused. The value is what a 422 names and what metrics count."""

    SCHEME = "scheme"
    CREDENTIALS = "credentials"
    INVALID_HOST = "invalid_host"
    NOT_ALLOWLISTED = "not_allowlisted"
    LOCAL_NAME = "local_name"
    UNRESOLVABLE = "unresolvable"
    HUB = "hub"
    LOOPBACK = "loopback"
    PRIVATE = "private"
    LINK_LOCAL = "link_local"
    SHARED = "shared"
    MULTICAST = "multicast"
    UNSPECIFIED = "unspecified"
    RESERVED = "reserved"

    @property
    def transient(self) -> bool:
        """A name that does not resolve now may resolve in a minute (DNS down): at delivery
        it is a failed attempt, retried; every other rule is final."""
        return self is Rule.UNRESOLVABLE

    @property
    def sentence(self) -> str:
        return _SENTENCES[self]


_PUBLIC_ONLY = "the hub calls public internet addresses only."
_SENTENCES = {
    Rule.SCHEME: "This URL must use https.",
    Rule.CREDENTIALS: "This URL must not carry a user name or password.",
    Rule.INVALID_HOST: "This URL's host is neither a valid host name nor a valid address.",
    Rule.NOT_ALLOWLISTED: "This URL's host is not on the list of hosts the hub's operators "
    "allow here.",
    Rule.LOCAL_NAME: "This URL's host is a local name (localhost, a name without a dot, or "
    "one under .local, .internal, .home.arpa, .svc); " + _PUBLIC_ONLY,
    Rule.UNRESOLVABLE: "This URL's host name does not resolve to any address.",
    Rule.HUB: "This URL leads to one of the hub's own services (its API, database, broker or "
    "collector); the hub never calls itself this way.",
    Rule.LOOPBACK: "This URL leads to a loopback address (the machine the hub runs on); "
    + _PUBLIC_ONLY,
    Rule.PRIVATE: "This URL leads to a private network address (10.0.0.0/8, 172.16.0.0/12, "
    "192.168.0.0/16, fc00::/7 or another range the internet does not route); " + _PUBLIC_ONLY,
    Rule.LINK_LOCAL: "This URL leads to a link-local address (169.254.0.0/16 or fe80::/10, "
    "where cloud metadata services answer); " + _PUBLIC_ONLY,
    Rule.SHARED: "This URL leads to a shared address space address (100.64.0.0/10, "
    "carrier-grade NAT); " + _PUBLIC_ONLY,
    Rule.MULTICAST: "This URL leads to a multicast address; " + _PUBLIC_ONLY,
    Rule.UNSPECIFIED: "This URL leads to the unspecified address (0.0.0.0 or ::); " + _PUBLIC_ONLY,
    Rule.RESERVED: "This URL leads to an address reserved for special use (documentation, "
    "benchmarking, future use, or an IPv4 address written as IPv6), which is not globally "
    "reachable; " + _PUBLIC_ONLY,
}


class OutboundRefused(Refused):
    """The URL may not be called (a request naming it is answered 422, the rule in
    ``errors[0].rule``). ``sentence`` is safe to show the client: it names the rule, never
    the address the host resolved to."""

    status = 422
    title = "Invalid request"

    def __init__(self, rule: Rule) -> None:
        super().__init__(rule.sentence)
        self.rule = rule

    @property
    def errors(self) -> list[dict[str, str]]:
        return [{"field": "url", "message": self.sentence, "rule": self.rule.value}]


class OutboundFailed(Exception):
    """The call was made (or tried) and did not get an answer: ``reason`` is a short code
    (``timeout``, an httpx error class name), never the URL or the address."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ---- the address rules (pure) ----------------------------------------------------------------
def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64_WELL_KNOWN or (
        address in IPV4_COMPATIBLE and not (address.is_unspecified or address.is_loopback)
    ):
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return None


def address_rule(address: IPAddress) -> Rule | None:
    """The rule that refuses ``address``, or None when it is a public unicast address.

    IPv6 forms that carry an IPv4 address (mapped ``::ffff:a.b.c.d``, compatible
    ``::a.b.c.d``, 6to4 ``2002::/16``, Teredo ``2001::/32``, NAT64 ``64:ff9b::/96``) are
    judged by the IPv4 address inside them first. A public IPv4 address behind the NAT64
    well-known prefix is accepted (an IPv6-only cluster reaches IPv4 providers that way);
    mapped, compatible and Teredo forms are refused whatever they carry (reserved or not
    global, as ``ipaddress`` says), 6to4 follows ``ipaddress``'s facts.
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return Rule.LINK_LOCAL  # a zone index only means something on one link
        inner = _embedded_ipv4(address)
        if inner is not None:
            rule = address_rule(inner)
            if rule is not None or address in NAT64_WELL_KNOWN:
                return rule
        if address.teredo is not None:
            server, client = address.teredo
            return address_rule(client) or address_rule(server) or Rule.RESERVED
        if address in NAT64_LOCAL_USE or address.is_site_local:
            return Rule.PRIVATE
    if address.is_unspecified:
        return Rule.UNSPECIFIED
    if address.is_loopback:
        return Rule.LOOPBACK
    if address.is_link_local:
        return Rule.LINK_LOCAL
    if address.is_multicast:
        return Rule.MULTICAST
    if isinstance(address, ipaddress.IPv4Address) and address in SHARED_ADDRESS_SPACE:
        return Rule.SHARED
    if address.is_reserved:
        return Rule.RESERVED
    if address.is_private:
        return Rule.PRIVATE
    if not address.is_global:
        return Rule.RESERVED
    return None


def numeric_host(host: str) -> IPAddress | None:
    """The address a numeric host stands for, in any spelling the C library accepts
    (``127.0.0.1``, ``2130706433``, ``0177.0.0.1``, ``0x7f.1``, ``127.1``, ``[::1]``), or None
    for a name. ``inet_aton`` is what ``getaddrinfo`` applies to a numeric host, so this is
    the address a connection would reach."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


def _ends_in_a_number(host: str) -> bool:
    """WHATWG URL: a host whose last label is a number is meant as an IPv4 address, so one
    that does not parse as one (``1.2.3.4.5``, ``999.1.1.1``) is invalid, not a name."""
    last = host.rstrip(".").rsplit(".", 1)[-1]
    return last.isdigit() or (last[:2] == "0x" and all(c in "0123456789abcdef" for c in last[2:]))


def matches(host: str, patterns: Iterable[str]) -> bool:
    """``host`` is one of ``patterns``: an exact host, or ``*.example.org`` for any name
    under ``example.org`` (not ``example.org`` itself). Case and a final dot do not count."""
    host = host.lower().rstrip(".")
    for pattern in patterns:
        pattern = pattern.strip().lower().rstrip(".")
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]):
                return True
        elif host == pattern:
            return True
    return False


def is_local_name(name: str) -> bool:
    labels = name.split(".")
    if len(labels) == 1:
        return True
    return any(name == s or name.endswith("." + s) for s in LOCAL_SUFFIXES)


def _ascii_name(host: str) -> str | None:
    """The host as the DNS sees it (IDNA), lower case, without a final dot; None when it is
    not a host name at all."""
    try:
        name = host.encode("idna").decode("ascii").lower().rstrip(".")
    except UnicodeError:
        return None
    labels = name.split(".")
    allowed = set("abcdefghijklmnopqrstuvwxyz0123456789-_")
    if not name or len(name) > 253:
        return None
    for label in labels:
        if not label or len(label) > 63 or not set(label) <= allowed:
            return None
        if label.startswith("-") or label.endswith("-"):
            return None
    return name


# ---- resolving ------------------------------------------------------------------------------
class Resolver(Protocol):
    async def __call__(self, name: str, port: int) -> list[IPAddress]:
        """Every address ``name`` resolves to, for a TCP connection; [] when it does not."""
        ...


async def system_resolver(name: str, port: int) -> list[IPAddress]:
    """The operating system's resolver (``getaddrinfo``: hosts file, then DNS)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(
            name, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except (OSError, UnicodeError):  # socket.gaierror among them: no such name
        return []
    found: list[IPAddress] = []
    for family, _, _, _, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            if address not in found:
                found.append(address)
    return found


@dataclass(frozen=True)
class HostsFileResolver:
    """Names in a hosts file (``address name [name...]`` per line, ``#`` comments) resolve
    as written there, read afresh on every call; other names go to ``fallback``. For tests
    that need a name to resolve to a chosen address, or to be re-pointed between two calls,
    without touching ``/etc/hosts``. Production refuses to start with it
    (``OUTBOUND_HOSTS_FILE``)."""

    path: Path
    fallback: Resolver = system_resolver

    def entries(self) -> dict[str, list[IPAddress]]:
        found: dict[str, list[IPAddress]] = {}
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return found
        for line in text.splitlines():
            fields = line.split("#", 1)[0].split()
            if len(fields) < 2:
                continue
            try:
                address = ipaddress.ip_address(fields[0])
            except ValueError:
                continue
            for name in fields[1:]:
                found.setdefault(name.lower().rstrip("."), []).append(address)
        return found

    async def __call__(self, name: str, port: int) -> list[IPAddress]:
        listed = self.entries().get(name.lower().rstrip("."))
        if listed is not None:
            return listed
        return await self.fallback(name, port)


# ---- the policy and the vetted target ----------------------------------------------------------
@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int


@dataclass(frozen=True)
class OutboundPolicy:
    """What one caller may reach. ``allowed_hosts`` empty: any public host."""

    allow_loopback: bool = False
    """Loopback addresses (not the hub's own ports) are acceptable: the local profile's test
    and demo receivers. Production refuses to start with it."""
    plain_http_hosts: tuple[str, ...] = ()
    """Hosts (patterns as in ``matches``) that may be called over http."""
    allowed_hosts: tuple[str, ...] = ()
    hub_endpoints: tuple[Endpoint, ...] = ()
    """The hub's own services: refused in every profile."""


@dataclass(frozen=True)
class Target:
    """A URL that passed vetting, and the address it will be called at."""

    url: str
    scheme: str
    host: str
    """The name (IDNA, lower case), or the canonical address for a numeric host."""
    port: int
    path: str
    address: IPAddress
    is_name: bool

    @property
    def request_url(self) -> str:
        literal = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return f"{self.scheme}://{literal}:{self.port}{self.path}"

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if not self.is_name and ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def endpoints_from(values: Iterable[str], default_port: int) -> list[Endpoint]:
    """``host:port`` strings (``[::1]:5432``, ``kafka:9092``, ``db``) as endpoints."""
    found = []
    for value in values:
        value = value.strip()
        if not value:
            continue
        parts = urlsplit("//" + value)
        try:
            port = parts.port or default_port
        except ValueError:
            continue
        if parts.hostname:
            found.append(Endpoint(parts.hostname, port))
    return found


def endpoint_of_url(url: str | None) -> list[Endpoint]:
    """The endpoint a URL points at (``http://intake:8080`` is intake:8080)."""
    if not url:
        return []
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return []
    return [Endpoint(parts.hostname, port)] if parts.hostname else []


# ---- the client --------------------------------------------------------------------------------
@dataclass(frozen=True)
class OutboundResponse:
    status_code: int
    body: bytes
    truncated: bool
    """The body was longer than the client reads; the rest was dropped unread."""
    headers: dict[str, str] = field(default_factory=dict)
    """The answer's headers, names in lower case (``retry-after``, say)."""


@dataclass
class OutboundClient:
    """Vets and calls client-supplied URLs for one purpose (``provider_webhook``) on behalf
    of one ``service`` (the metrics' label). Every refusal is counted in
    ``hub_outbound_refusals_total`` and logged with the rule and the host."""

    policy: OutboundPolicy
    purpose: str
    service: str
    resolver: Resolver = system_resolver
    connect_timeout: float = 5.0
    total_timeout: float = 10.0
    max_response_bytes: int = 64 * 1024
    verify: ssl.SSLContext | bool = True
    _client: httpx.AsyncClient | None = field(default=None, init=False, repr=False)
    _own: tuple[float, frozenset[tuple[IPAddress, int]]] | None = field(
        default=None, init=False, repr=False
    )

    # ---- vetting ---------------------------------------------------------------------
    async def vet(self, url: str, *, stage: str) -> Target:
        """The URL's target, pinned to an address that passed every rule; raises
        ``OutboundRefused``. ``stage`` (``registration``, ``delivery``) labels the metric."""
        try:
            return await self._vet(url)
        except OutboundRefused as refusal:
            OUTBOUND_REFUSALS.labels(self.service, self.purpose, stage, refusal.rule.value).inc()
            log.warning(
                "outbound URL refused",
                extra={
                    "purpose": self.purpose,
                    "service": self.service,
                    "stage": stage,
                    "rule": refusal.rule.value,
                    "host": _loggable_host(url),
                },
            )
            raise

    async def _vet(self, url: str) -> Target:
        policy = self.policy
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise OutboundRefused(Rule.INVALID_HOST) from None
        if parts.username is not None or parts.password is not None:
            raise OutboundRefused(Rule.CREDENTIALS)
        raw_host = (parts.hostname or "").rstrip(".")
        if not raw_host:
            raise OutboundRefused(Rule.INVALID_HOST)
        numeric = numeric_host(raw_host)
        if numeric is not None:
            host, is_name = str(numeric), False
        elif _ends_in_a_number(raw_host):
            raise OutboundRefused(Rule.INVALID_HOST)
        else:
            name = _ascii_name(raw_host)
            if name is None:
                raise OutboundRefused(Rule.INVALID_HOST)
            host, is_name = name, True
        scheme = parts.scheme.lower()
        if not (scheme == "https" or (scheme == "http" and matches(host, policy.plain_http_hosts))):
            raise OutboundRefused(Rule.SCHEME)
        port = port or (443 if scheme == "https" else 80)
        if port == 0:
            raise OutboundRefused(Rule.INVALID_HOST)
        if policy.allowed_hosts and not matches(host, policy.allowed_hosts):
            raise OutboundRefused(Rule.NOT_ALLOWLISTED)
        if is_name and is_local_name(host):
            loopback_name = host == "localhost" or host.endswith(".localhost")
            if not loopback_name:
                raise OutboundRefused(Rule.LOCAL_NAME)
            if not policy.allow_loopback:
                raise OutboundRefused(Rule.LOOPBACK)  # RFC 6761: always this machine
        if numeric is not None:
            addresses: Sequence[IPAddress] = [numeric]
        else:
            addresses = await self._resolve(host, port)
            if not addresses:
                raise OutboundRefused(Rule.UNRESOLVABLE)
        own = await self._own_endpoints()
        for address in addresses:  # one bad answer refuses the name: we may not pick
            if _is_own(address, port, own):
                raise OutboundRefused(Rule.HUB)
            rule = address_rule(address)
            if rule is Rule.LOOPBACK and policy.allow_loopback and _on_this_machine(address):
                continue
            if rule is not None:
                raise OutboundRefused(rule)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        return Target(url, scheme, host, port, path, addresses[0], is_name)

    async def _resolve(self, name: str, port: int) -> list[IPAddress]:
        try:
            async with asyncio.timeout(self.connect_timeout):
                return await self.resolver(name, port)
        except TimeoutError:
            return []

    async def _own_endpoints(self) -> frozenset[tuple[IPAddress, int]]:
        """The hub's own endpoints as addresses, resolved at most once a minute (they are
        the operators' settings, not the client's)."""
        now = time.monotonic()
        if self._own is not None and now - self._own[0] < 60:
            return self._own[1]
        found: set[tuple[IPAddress, int]] = set()
        for endpoint in self.policy.hub_endpoints:
            numeric = numeric_host(endpoint.host)
            addresses = (
                [numeric]
                if numeric is not None
                else await self._resolve(endpoint.host, endpoint.port)
            )
            found.update((_unwrapped(address), endpoint.port) for address in addresses)
        own = frozenset(found)
        self._own = (now, own)
        return own

    # ---- calling ------------------------------------------------------------------------
    def request(
        self, target: Target, method: str, *, content: bytes, headers: dict[str, str]
    ) -> httpx.Request:
        """The request for ``target``: to the vetted address, with the name as ``Host`` and
        as TLS server name (SNI and certificate verification)."""
        extensions = {"sni_hostname": target.host} if target.is_name else {}
        return self._http().build_request(
            method,
            target.request_url,
            content=content,
            headers={**headers, "host": target.host_header},
            extensions=extensions,
        )

    async def send(
        self, target: Target, method: str, *, content: bytes, headers: dict[str, str]
    ) -> OutboundResponse:
        """Sends to the pinned address; never follows a redirect (a 3xx is the answer).
        Raises ``OutboundFailed`` when no answer came within ``total_timeout``."""
        request = self.request(target, method, content=content, headers=headers)
        try:
            async with asyncio.timeout(self.total_timeout):
                response = await self._http().send(request, stream=True)
                try:
                    body, truncated = await self._read(response)
                finally:
                    await response.aclose()
        except (TimeoutError, httpx.TimeoutException):
            raise OutboundFailed("timeout") from None
        except httpx.HTTPError as exc:
            raise OutboundFailed(type(exc).__name__) from None
        headers = {name.lower(): value for name, value in response.headers.items()}
        return OutboundResponse(response.status_code, body, truncated, headers)

    async def _read(self, response: httpx.Response) -> tuple[bytes, bool]:
        body = bytearray()
        async for chunk in response.aiter_raw():
            body.extend(chunk)
            if len(body) > self.max_response_bytes:
                return bytes(body[: self.max_response_bytes]), True
        return bytes(body), False

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=httpx.AsyncHTTPTransport(
                    verify=self.verify,
                    retries=0,
                    # Never reuse a connection: it was opened to one name's address.
                    limits=httpx.Limits(max_keepalive_connections=0),
                ),
                follow_redirects=False,
                trust_env=False,  # a proxy from the environment would resolve again
                timeout=httpx.Timeout(self.total_timeout, connect=self.connect_timeout),
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _unwrapped(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 form carries (mapped, compatible, 6to4, NAT64), else itself."""
    if isinstance(address, ipaddress.IPv6Address):
        return _embedded_ipv4(address) or address
    return address


def _on_this_machine(address: IPAddress) -> bool:
    """A connection to it stays on this machine: 127/8, ::1, or 127/8 written as mapped
    IPv6 (a dual-stack socket reaches 127.0.0.1). Not 6to4 or NAT64 forms: those leave."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _is_own(address: IPAddress, port: int, own: frozenset[tuple[IPAddress, int]]) -> bool:
    address = _unwrapped(address)
    if (address, port) in own:
        return True
    # A service listening on loopback or on every address answers on any loopback address
    # (and on 0.0.0.0, which Linux connects to this machine).
    if address.is_loopback or address.is_unspecified:
        return any(p == port and (a.is_loopback or a.is_unspecified) for a, p in own)
    return False


def _loggable_host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "")[:253]
    except ValueError:
        return ""
