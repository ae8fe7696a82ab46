"""``python -m deploy.demo``: run the hub (or use the one ``make run`` started), feed it
synthetic referrals, and let simulated providers work them; a table shows the loop move."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks import Webhook, WebhookVerificationError

from deploy.demo import portal, providers, referrals
from deploy.localstack.ports import free_port
from deploy.localstack.stack import PROJECT_ROOT
from schemas.codes import Service

SERVICES = [s.value for s in Service]
WEBHOOK_SERVICE = Service.ISVA.value
PORTAL_SERVICE = Service.IDVA.value
"""Worked by a caseworker in the provider portal, not by a case system through the API."""


def _stack_running(state_dir: Path) -> dict[str, Any] | None:
    stack_file = state_dir / "stack.json"
    if not stack_file.exists():
        return None
    info: dict[str, Any] = json.loads(stack_file.read_text())
    try:
        ok = httpx.get(info["intake_url"] + "/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        ok = False
    return info if ok else None


def _start_stack(state_dir: Path) -> subprocess.Popen[bytes]:
    print("Starting the hub (make run) ...", flush=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "deploy.localstack", "run", "--state-dir", str(state_dir)],
        cwd=PROJECT_ROOT,
    )
    deadline = time.monotonic() + 180
    while _stack_running(state_dir) is None:
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("The hub did not start; see the messages above.")
        time.sleep(0.5)
    return process


def _webhook_server(
    loop: asyncio.AbstractEventLoop,
    inbox: asyncio.Queue[str],
    secret: list[str],
    counts: Counter[str],
) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            try:
                payload = Webhook(secret[0]).verify(
                    body, {k.lower(): v for k, v in self.headers.items()}
                )
            except WebhookVerificationError:
                counts["webhooks_refused"] += 1
                self.send_response(401)
                self.end_headers()
                return
            counts["webhooks_verified"] += 1
            if payload.get("type") == "work_item.created":
                loop.call_soon_threadsafe(inbox.put_nowait, payload["data"]["referral_id"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            return

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{port}/isva-case-system/webhook"


def _table(
    sent: Counter[str],
    sims: dict[str, Any],
    hooks: Counter[str],
    started: float,
) -> str:
    columns = ["received", "accepted", "rejected", "completed", "failed"]
    lines = [
        f"\n{datetime.now().strftime('%H:%M:%S')}  {int(time.monotonic() - started)}s in, "
        f"{sum(sent.values())} referrals submitted  "
        f"(webhooks to ISVA verified: {hooks['webhooks_verified']})",
        f"{'service':<8}" + "".join(f"{c:>11}" for c in columns) + "   how it takes work",
    ]
    for service in SERVICES:
        counts = sims[service].counts
        how = (
            "signed webhook"
            if service == WEBHOOK_SERVICE
            else f"{sims[service].name} in the portal"
            if service == PORTAL_SERVICE
            else "polls its queue"
        )
        lines.append(f"{service:<8}" + "".join(f"{counts[c]:>11}" for c in columns) + f"   {how}")
    return "\n".join(lines)


async def run(info: dict[str, Any], minutes: float, per_minute: float, seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    staff = httpx.AsyncClient(
        base_url=info["intake_url"],
        timeout=10,
        headers={"Authorization": f"Bearer {info['staff_tokens']['triage']}"},
    )
    sims: dict[str, Any] = {
        s: providers.SimulatedProvider(
            s,
            httpx.AsyncClient(
                base_url=info["provider_api_urls"][s],
                timeout=10,
                headers={"Authorization": f"Bearer {info['provider_keys'][s]}"},
            ),
            random.Random(rng.random()),  # noqa: S311
        )
        for s in SERVICES
    }
    hooks: Counter[str] = Counter()
    inbox: asyncio.Queue[str] = asyncio.Queue()
    secret: list[str] = [""]
    server, url = _webhook_server(loop, inbox, secret, hooks)
    registered = await sims[WEBHOOK_SERVICE].client.put("/v1/webhook", json={"url": url})
    secret[0] = registered.json()["secret"]
    tasks: set[asyncio.Task[None]] = set()
    pollers = [
        asyncio.create_task(sims[s].poll(stop, tasks))
        for s in SERVICES
        if s not in (WEBHOOK_SERVICE, PORTAL_SERVICE)
    ]
    # One provider's work is done by a person in its portal: invited by the portal's
    # administrator, signed in with a second factor; intake's timeline names them.
    await sims[PORTAL_SERVICE].client.aclose()
    sims[PORTAL_SERVICE] = await portal.Caseworker.invited(
        info["provider_portal_urls"][PORTAL_SERVICE],
        PORTAL_SERVICE,
        info["portal_administrators"][PORTAL_SERVICE],
        random.Random(rng.random()),  # noqa: S311
        lambda line: print(line, flush=True),
    )
    pollers.append(asyncio.create_task(sims[PORTAL_SERVICE].run(stop, staff)))

    async def from_webhooks() -> None:
        while True:
            referral_id = await inbox.get()
            task = asyncio.create_task(sims[WEBHOOK_SERVICE].work(referral_id))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    listener = asyncio.create_task(from_webhooks())
    sent: Counter[str] = Counter()
    started = time.monotonic()
    next_table = started
    interval = 60.0 / per_minute
    print(
        f"Submitting about {per_minute:.0f} synthetic referrals a minute for {minutes:g} minutes "
        f"(Ctrl-C to stop early) ...",
        flush=True,
    )
    try:
        while not stop.is_set() and time.monotonic() - started < minutes * 60:
            submitted = sum(sent.values())
            kind, body = (
                referrals.opening(rng, datetime.now(UTC), submitted)
                if submitted < len(referrals.OPENING_ROUND)
                else referrals.referral(rng, datetime.now(UTC))
            )
            answer = await staff.post("/v1/referrals", json=body)
            sent[kind if answer.status_code in (200, 202) else "refused"] += 1
            if time.monotonic() >= next_table:
                print(_table(sent, sims, hooks, started), flush=True)
                next_table += 10
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=rng.expovariate(1 / interval))
        print("\nLetting the providers finish the cases in hand ...", flush=True)
        if tasks:
            await asyncio.wait(list(tasks), timeout=30)
    finally:
        stop.set()
        listener.cancel()
        for task in [*pollers, *tasks]:
            task.cancel()
        await sims[WEBHOOK_SERVICE].client.delete("/v1/webhook")
        server.shutdown()
        print(_table(sent, sims, hooks, started), flush=True)
        print(
            "\nReferrals submitted by kind: "
            + ", ".join(f"{k} {v}" for k, v in sorted(sent.items()))
        )
        for service, sim in sims.items():
            if service != PORTAL_SERVICE:
                await sim.client.aclose()
        await staff.aclose()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.demo", description=__doc__)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--per-minute", type=float, default=40.0, help="referrals a minute")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--state-dir", type=Path, default=PROJECT_ROOT / ".dev")
    args = parser.parse_args()
    state_dir = args.state_dir.resolve()
    info = _stack_running(state_dir)
    stack = None
    if info is None:
        stack = _start_stack(state_dir)
        info = _stack_running(state_dir)
        assert info is not None
    else:
        print("Using the hub already running (make run).", flush=True)
    try:
        asyncio.run(run(info, args.minutes, args.per_minute, args.seed))
    finally:
        if stack is not None:
            stack.send_signal(signal.SIGINT)
            stack.wait(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
