"""``signage simulate``: a screen simulator for demos, smoke tests and rollout rehearsals.

It registers N screens, gets them approved (claims them with an admin token, or prints
their pairing codes and waits for a person to claim them), connects each one's
WebSocket, sends heartbeats, acknowledges what it receives, and prints one line per
frame. It speaks only the public API, exactly as a real player would.

Needs the ``tools`` extra (``pip install -e '.[tools]'``): httpx and websockets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from actors.protocol import CloseCode
from actors.settings import Settings

#: Requests in flight at once while registering and claiming.
CONCURRENCY = 50
APPROVAL_POLL_S = 2.0


@dataclass
class SimScreen:
    index: int
    device_id: str
    secret: str
    pairing_code: str


def default_url(environ: dict[str, str] | None = None) -> str:
    """``$SIGNAGE_URL``, else the local node ``make run`` starts (``$PORT``, 8000 by default)."""
    env = os.environ if environ is None else environ
    if env.get("SIGNAGE_URL"):
        return env["SIGNAGE_URL"].rstrip("/")
    port = env.get("PORT") or "8000"
    return f"http://127.0.0.1:{port}"


def add_parsers(sub: Any) -> None:
    sim = sub.add_parser("simulate", help="register, approve and connect N simulated screens")
    sim.add_argument(
        "--url",
        default=default_url(),
        help="a node or the proxy (default: $SIGNAGE_URL, else http://127.0.0.1:$PORT)",
    )
    sim.add_argument("--devices", type=int, default=3, help="how many screens")
    sim.add_argument("--tenant", help="claim into this tenant (needs --token)")
    sim.add_argument(
        "--token",
        default=os.environ.get("SIGNAGE_TOKEN"),
        help="an access token of a device manager (or $SIGNAGE_TOKEN); without it, "
        "pairing codes are printed for a person to claim",
    )
    sim.add_argument("--groups", default="", help="comma-separated groups to claim into")
    sim.add_argument("--heartbeat-s", type=float, default=30.0)
    sim.add_argument("--duration-s", type=float, default=0.0, help="stop after (0: Ctrl-C)")


def _say(line: str) -> None:
    print(line, flush=True)


async def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    try:
        import httpx
    except ImportError:
        print("signage simulate needs the tools extra: pip install -e '.[tools]'", file=sys.stderr)
        return 2
    if args.devices < 1:
        print("signage simulate: --devices must be at least 1", file=sys.stderr)
        return 2
    if args.tenant and not args.token:
        print("signage simulate: --tenant needs --token (or $SIGNAGE_TOKEN)", file=sys.stderr)
        return 2
    limit = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(base_url=args.url, timeout=15) as http:

        async def register(index: int) -> SimScreen:
            async with limit:
                response = await http.post(
                    "/api/v1/devices/register",
                    json={"hardware_id": f"sim-{os.getpid()}-{index}", "model": "simulator"},
                )
            response.raise_for_status()
            body = response.json()
            return SimScreen(index, body["device_id"], body["device_secret"], body["pairing_code"])

        screens = await asyncio.gather(*(register(i) for i in range(args.devices)))
        _say(f"registered {len(screens)} screen(s)")
        if args.tenant:
            groups = [g for g in args.groups.split(",") if g]
            auth = {"Authorization": f"Bearer {args.token}"}

            async def claim(screen: SimScreen) -> None:
                async with limit:
                    response = await http.post(
                        f"/api/v1/tenants/{args.tenant}/devices/claim",
                        json={
                            "pairing_code": screen.pairing_code,
                            "name": f"Simulated screen {screen.index}",
                            "groups": groups,
                        },
                        headers=auth,
                    )
                if response.status_code != 200:
                    raise RuntimeError(f"claim failed: {response.status_code} {response.text}")

            await asyncio.gather(*(claim(s) for s in screens))
            _say(f"claimed them into tenant {args.tenant}")
        else:
            for screen in screens:
                _say(f"screen {screen.index}: pairing code {screen.pairing_code}")
            await _await_approval(http, screens)
    tasks = [asyncio.create_task(_session(args, s)) for s in screens]
    try:
        if args.duration_s > 0:
            await asyncio.sleep(args.duration_s)
        else:
            await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return 0


async def _await_approval(http: Any, screens: list[SimScreen]) -> None:
    pending = {s.device_id: s for s in screens}
    _say("waiting for the screens to be claimed (Ctrl-C to stop)")
    while pending:
        for device_id, screen in list(pending.items()):
            response = await http.get(
                "/api/v1/devices/self", headers={"Authorization": f"Bearer {screen.secret}"}
            )
            if response.status_code == 200 and response.json()["status"] == "approved":
                _say(f"screen {screen.index}: approved")
                del pending[device_id]
        await asyncio.sleep(APPROVAL_POLL_S)


#: The player reconnect contract (docs/devices.md): exponential backoff with full jitter
#: from BACKOFF_BASE_S up to BACKOFF_CAP_S, never sooner than a Retry-After or a
#: ``reconnect`` frame's ``after_ms``; a session that got its welcome starts over.
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 60.0


def reconnect_delay(
    failures: int,
    *,
    retry_after_s: float | None = None,
    after_ms: int | None = None,
    rng: Callable[[], float] | None = None,
) -> float:
    """Seconds to wait before the next attempt, after ``failures`` attempts in a row that
    did not reach a welcome (0 after a session that did)."""
    if after_ms is not None:  # the node asked for it: it is draining (1012)
        return after_ms / 1000.0
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2.0 ** max(0, failures))
    # Full jitter: a building's screens spread over the window.
    delay = (rng or random.random)() * ceiling
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return delay


async def _session(args: argparse.Namespace, screen: SimScreen) -> None:
    """One screen's WebSocket: reconnects by the contract above until cancelled."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidStatus

    url = args.url.replace("http", "ws", 1).rstrip("/") + "/api/v1/devices/ws"
    last_seq = 0
    failures = 0
    while True:
        retry_after: float | None = None
        after_ms: int | None = None
        code: int | None = None
        welcomed = False
        try:
            async with connect(url, compression=None) as ws:
                hello = {"type": "hello", "token": screen.secret, "last_seq": last_seq}
                await ws.send(json.dumps(hello))
                beat = asyncio.create_task(_heartbeats(ws, args.heartbeat_s))
                try:
                    async for raw in ws:
                        frame = json.loads(raw)
                        if frame.get("type") == "welcome":
                            welcomed = True
                        elif frame.get("type") == "reconnect":
                            after_ms = int(frame.get("after_ms") or 0)
                        last_seq = max(last_seq, int(frame.get("seq") or 0))
                        _say(f"[screen {screen.index}] {_describe(frame)}")
                        ack = _ack_for(frame)
                        if ack is not None:
                            await ws.send(json.dumps(ack))
                finally:
                    beat.cancel()
            code = ws.close_code
        except InvalidStatus as exc:  # refused before the upgrade (429, 503)
            code = exc.response.status_code
            header = exc.response.headers.get("Retry-After", "")
            retry_after = float(header) if header.isdigit() else None
        except (OSError, ConnectionClosed) as exc:
            code = getattr(exc, "code", None)
        if code == CloseCode.UNAUTHORIZED:
            _say(f"[screen {screen.index}] refused ({code}): not (or no longer) allowed")
            return
        failures = 0 if welcomed else failures + 1
        delay = reconnect_delay(failures, retry_after_s=retry_after, after_ms=after_ms)
        _say(f"[screen {screen.index}] disconnected ({code}); reconnecting in {delay:.1f} s")
        await asyncio.sleep(delay)


async def _heartbeats(ws: Any, every_s: float) -> None:
    started = time.monotonic()
    while True:
        await asyncio.sleep(every_s)
        status = {"app_version": "simulator", "uptime_s": round(time.monotonic() - started, 1)}
        await ws.send(json.dumps({"type": "heartbeat", "display_on": True, **status}))


def _ack_for(frame: dict[str, Any]) -> dict[str, Any] | None:
    if frame.get("type") == "emergency":
        return {"type": "ack", "emergency_id": frame["id"]}
    if frame.get("type") == "manifest":
        return {"type": "ack", "manifest_version": frame["version"]}
    if frame.get("type") == "command":  # a simulated screen does each at once
        return {"type": "command_result", "id": frame["id"], "result": "ok"}
    return None


def _describe(frame: dict[str, Any]) -> str:
    kind = frame.get("type")
    if kind == "emergency":
        return f"EMERGENCY seq={frame['seq']} [{frame['severity']}] {frame['message']!r}"
    if kind == "emergency_clear":
        return f"emergency cleared seq={frame['seq']}"
    if kind == "manifest":
        return f"manifest v{frame['version']} ({len(frame.get('slices', []))} slices)"
    if kind == "command":
        return f"command {frame['name']} ({frame['id']})"
    return str(kind)


COMMANDS = {"simulate": cmd_simulate}
