"""The vetted outbound client against real HTTP and HTTPS servers on 127.0.0.1: it connects
to the address it vetted (a name only a hosts file knows still arrives, with its name as
Host and as the TLS server name), follows no redirect, reads a bounded answer within a
deadline, never calls the hub's own ports, and refuses a name re-pointed to a private
address. Every server here is on loopback; no test sends a packet anywhere else."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from services.plumbing.outbound import (
    Endpoint,
    HostsFileResolver,
    OutboundClient,
    OutboundFailed,
    OutboundPolicy,
    OutboundRefused,
    Rule,
)

NAME = "hooks.provider.test"
"""A name no DNS answers (RFC 6761 .test): only the hosts file below makes it resolve."""
PUBLIC = "93.184.215.14"
"""A globally routable address, used for vetting only: nothing is ever sent to it."""


@dataclass
class Seen:
    requests: list[dict[str, str]] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)


@contextmanager
def server(
    *,
    status: int = 204,
    location: str | None = None,
    body: bytes = b"",
    stall: float = 0.0,
    tls: ssl.SSLContext | None = None,
) -> Iterator[tuple[int, Seen]]:
    seen = Seen()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            seen.requests.append({k.lower(): v for k, v in self.headers.items()})
            if stall:
                time.sleep(stall)  # the server is slow: the client's deadline is under test
            try:
                self.send_response(status)
                if location:
                    self.send_header("location", location)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *_: object) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:

        def remember(sock: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> None:
            seen.server_names.append(name)

        tls.sni_callback = remember
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1], seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def point(hosts: Path, lines: str) -> None:
    """Rewrite the hosts file: the resolver reads it afresh for every name."""
    hosts.write_text(lines)


@pytest.fixture
def hosts(tmp_path: Path) -> Path:
    path = tmp_path / "hosts"
    point(path, f"127.0.0.1 {NAME}\n")
    return path


def client(
    hosts: Path,
    *,
    allow_loopback: bool = True,
    own: tuple[Endpoint, ...] = (),
    verify: ssl.SSLContext | bool = True,
    total_timeout: float = 5.0,
    max_response_bytes: int = 1024,
) -> OutboundClient:
    return OutboundClient(
        OutboundPolicy(
            allow_loopback=allow_loopback,
            plain_http_hosts=("*.provider.test",),
            hub_endpoints=own,
        ),
        purpose="provider_webhook",
        service="ISVA",
        resolver=HostsFileResolver(hosts),
        connect_timeout=2.0,
        total_timeout=total_timeout,
        max_response_bytes=max_response_bytes,
        verify=verify,
    )


async def test_the_call_goes_to_the_vetted_address_with_the_name_as_host(hosts: Path) -> None:
    outbound = client(hosts)
    with server() as (port, seen):
        target = await outbound.vet(f"http://{NAME}:{port}/hooks?x=1", stage="delivery")
        answer = await outbound.send(target, "POST", content=b"{}", headers={"x-test": "1"})
    await outbound.aclose()
    assert answer.status_code == 204
    (request,) = seen.requests
    assert request["host"] == f"{NAME}:{port}"
    assert request["x-test"] == "1"


def _certificate_authority(tmp_path: Path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A CA of the test's own and a server certificate for ``name`` only (no address in
    it): the server's context, and a client context that trusts that CA alone."""
    now = dt.datetime.now(dt.UTC)

    def cert(
        subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Certificate | None
    ) -> x509.Certificate:
        signer_key = ca_key if issuer is not None else key
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(
                issuer.subject
                if issuer
                else x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
            )
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(hours=1))
        )
        if issuer is None:
            builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(name)]), False
            )
        return builder.sign(signer_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = cert("test CA", ca_key, None)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = cert(name, leaf_key, ca)
    pem = tmp_path / "server.pem"
    pem.write_bytes(
        leaf.public_bytes(serialization.Encoding.PEM)
        + leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(pem)
    client_context = ssl.create_default_context(
        cadata=ca.public_bytes(serialization.Encoding.PEM).decode()
    )
    return server_context, client_context


async def test_tls_is_verified_against_the_name_though_the_connection_is_to_the_address(
    hosts: Path, tmp_path: Path
) -> None:
    server_tls, client_tls = _certificate_authority(tmp_path, NAME)
    point(hosts, f"127.0.0.1 {NAME} other.provider.test\n")
    outbound = client(hosts, verify=client_tls)
    with server(tls=server_tls) as (port, seen):
        target = await outbound.vet(f"https://{NAME}:{port}/hooks", stage="delivery")
        answer = await outbound.send(target, "POST", content=b"{}", headers={})
        assert answer.status_code == 204
        assert seen.server_names == [NAME]  # SNI named the host, not the address
        # The same server under a name its certificate does not carry: TLS refuses it.
        other = await outbound.vet(f"https://other.provider.test:{port}/hooks", stage="delivery")
        with pytest.raises(OutboundFailed):
            await outbound.send(other, "POST", content=b"{}", headers={})
    await outbound.aclose()
    assert len(seen.requests) == 1


async def test_a_redirect_is_never_followed(hosts: Path) -> None:
    outbound = client(hosts)
    with (
        server() as (elsewhere, followed),
        server(status=302, location=f"http://127.0.0.1:{elsewhere}/internal") as (port, seen),
    ):
        target = await outbound.vet(f"http://{NAME}:{port}/hooks", stage="delivery")
        answer = await outbound.send(target, "POST", content=b"{}", headers={})
        # and to a private address, likewise: the answer is the 302 itself
        with server(status=307, location="http://10.0.0.5/hook") as (port2, _):
            target2 = await outbound.vet(f"http://{NAME}:{port2}/hooks", stage="delivery")
            answer2 = await outbound.send(target2, "POST", content=b"{}", headers={})
    await outbound.aclose()
    assert answer.status_code == 302
    assert answer2.status_code == 307
    assert len(seen.requests) == 1
    assert followed.requests == []


async def test_the_answer_is_read_up_to_a_bound(hosts: Path) -> None:
    outbound = client(hosts, max_response_bytes=1024)
    with server(status=200, body=b"x" * 1_000_000) as (port, _):
        target = await outbound.vet(f"http://{NAME}:{port}/hooks", stage="delivery")
        answer = await outbound.send(target, "POST", content=b"{}", headers={})
    await outbound.aclose()
    assert answer.status_code == 200
    assert answer.truncated
    assert len(answer.body) == 1024


async def test_a_slow_answer_ends_at_the_deadline(hosts: Path) -> None:
    outbound = client(hosts, total_timeout=0.5)
    with server(stall=3.0) as (port, seen):
        target = await outbound.vet(f"http://{NAME}:{port}/hooks", stage="delivery")
        started = time.monotonic()
        with pytest.raises(OutboundFailed, match="timeout"):
            await outbound.send(target, "POST", content=b"{}", headers={})
        assert time.monotonic() - started < 2.5
    await outbound.aclose()
    assert len(seen.requests) == 1


async def test_the_hubs_own_ports_are_refused_even_where_loopback_is_allowed(
    hosts: Path,
) -> None:
    with server() as (own_port, seen), server() as (other_port, _):
        outbound = client(hosts, own=(Endpoint("localhost", own_port),))
        for url in (
            f"http://{NAME}:{own_port}/",
            f"http://127.0.0.1:{own_port}/v1/referrals",
            f"http://127.0.0.2:{own_port}/",
            f"http://2130706433:{own_port}/",
            f"http://[::ffff:127.0.0.1]:{own_port}/",
            f"http://0.0.0.0:{own_port}/",
        ):
            with pytest.raises(OutboundRefused) as refused:
                await outbound.vet(url.replace("http://", "https://"), stage="registration")
            assert refused.value.rule is Rule.HUB, url
        assert await outbound.vet(f"http://{NAME}:{other_port}/", stage="registration")
        await outbound.aclose()
    assert seen.requests == []


async def test_a_name_re_pointed_to_a_private_address_is_refused_before_any_connection(
    hosts: Path,
) -> None:
    outbound = client(hosts)
    with server() as (port, seen):
        url = f"http://{NAME}:{port}/hooks"
        assert await outbound.vet(url, stage="registration")
        point(hosts, f"10.0.0.5 {NAME}\n")
        with pytest.raises(OutboundRefused) as refused:
            await outbound.vet(url, stage="delivery")
        assert refused.value.rule is Rule.PRIVATE
        # One private answer among public ones refuses the name: the client may not pick.
        point(hosts, f"{PUBLIC} {NAME}\n169.254.169.254 {NAME}\n")
        with pytest.raises(OutboundRefused) as refused:
            await outbound.vet(url.replace("http:", "https:"), stage="delivery")
        assert refused.value.rule is Rule.LINK_LOCAL
    await outbound.aclose()
    assert seen.requests == []


async def test_in_production_a_public_name_is_accepted_and_pinned(hosts: Path) -> None:
    """Vetting only: the request is built, never sent (no packet leaves this machine)."""
    point(hosts, f"{PUBLIC} {NAME}\n")
    outbound = client(hosts, allow_loopback=False)
    target = await outbound.vet(f"https://{NAME}/hooks/hub?tenant=7", stage="registration")
    assert target.address == ipaddress.ip_address(PUBLIC)
    request = outbound.request(target, "POST", content=b"{}", headers={})
    assert str(request.url) == f"https://{PUBLIC}/hooks/hub?tenant=7"
    assert request.headers["host"] == NAME
    assert request.extensions["sni_hostname"] == NAME
    await outbound.aclose()


@pytest.mark.parametrize(
    ("entry", "rule"),
    [
        ("127.0.0.1", Rule.LOOPBACK),
        ("10.0.0.5", Rule.PRIVATE),
        ("169.254.169.254", Rule.LINK_LOCAL),
        ("::ffff:10.0.0.5", Rule.PRIVATE),
        ("64:ff9b::a9fe:a9fe", Rule.LINK_LOCAL),
        ("fd00::5", Rule.PRIVATE),
    ],
)
async def test_in_production_a_name_resolving_to_a_non_public_address_is_refused(
    hosts: Path, entry: str, rule: Rule
) -> None:
    point(hosts, f"{entry} {NAME}\n")
    outbound = client(hosts, allow_loopback=False)
    with pytest.raises(OutboundRefused) as refused:
        await outbound.vet(f"https://{NAME}/hooks", stage="registration")
    assert refused.value.rule is rule
    assert entry not in refused.value.sentence
