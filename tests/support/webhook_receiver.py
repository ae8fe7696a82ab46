"""A provider's webhook endpoint, on 127.0.0.1: it verifies every delivery with the
``standardwebhooks`` library and can be told to fail or stall, to exercise retries."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from standardwebhooks import Webhook, WebhookVerificationError


@dataclass
class Delivery:
    webhook_id: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    answered: int

    @property
    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


@dataclass
class Receiver:
    url: str
    secret: str | None = None
    deliveries: list[Delivery] = field(default_factory=list)
    plan: list[str] = field(default_factory=list)
    """What to do with the next requests, in order: "fail" (500), "stall" (answer too late),
    "redirect" (302 to ``redirect_to``), "gone" (410), "throttle" (429), "busy" (503),
    "bad_gateway" (502), the last three with ``retry_after`` when it is set; once empty,
    answer 204."""
    stall_seconds: float = 3.0
    redirect_to: str = "http://10.0.0.5/hook"
    retry_after: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def received(self, kind: str | None = None, referral_id: str | None = None) -> list[Delivery]:
        with self.lock:
            found = list(self.deliveries)
        return [
            d
            for d in found
            if (kind is None or d.payload.get("type") == f"work_item.{kind}")
            and (referral_id is None or d.payload["data"]["referral_id"] == referral_id)
        ]


LOOPBACK_RECEIVERS: dict[str, Any] = {
    "outbound_allow_loopback": True,
    "webhook_insecure_hosts": ["127.0.0.1"],
}
"""Settings that let a service under test deliver webhooks to these receivers, on
127.0.0.1 over plain http: production refuses both."""


@contextmanager
def webhook_receiver(port: int) -> Iterator[Receiver]:
    receiver = Receiver(url=f"http://127.0.0.1:{port}/hooks/hub")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            verified = False
            if receiver.secret:
                try:
                    Webhook(receiver.secret).verify(body, headers)
                    verified = True
                except WebhookVerificationError:
                    verified = False
            with receiver.lock:
                action = receiver.plan.pop(0) if receiver.plan else "ok"
            if action == "stall":
                time.sleep(receiver.stall_seconds)
            status = {
                "fail": 500,
                "redirect": 302,
                "gone": 410,
                "throttle": 429,
                "busy": 503,
                "bad_gateway": 502,
            }.get(action, 204)
            with receiver.lock:
                # A stalled answer comes after the sender stopped waiting: 0, "not received".
                answered = 0 if action == "stall" else status
                receiver.deliveries.append(
                    Delivery(headers.get("webhook-id", ""), headers, body, verified, answered)
                )
            try:
                self.send_response(status)
                if action == "redirect":
                    self.send_header("location", receiver.redirect_to)
                if status in (429, 502, 503) and receiver.retry_after is not None:
                    self.send_header("retry-after", receiver.retry_after)
                self.end_headers()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the adapter gave up waiting: that is the point of a stall

        def log_message(self, *_: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


async def register(api: httpx.AsyncClient, receiver: Receiver) -> dict[str, Any]:
    """``PUT /v1/webhook`` with the receiver's URL (a provider's or the triage UI's), and
    give the receiver the secret to verify with; the answer's body."""
    answer = await api.put("/v1/webhook", json={"url": receiver.url})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    receiver.secret = body["secret"]
    return body


async def webhook_state(api: httpx.AsyncClient) -> dict[str, Any]:
    """``GET /v1/webhook``'s body, which must be there."""
    answer = await api.get("/v1/webhook")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body
