"""The clients of ``bench load``, run in a process of their own (``python -m serve_app.load_driver CONFIG``).

Users create sessions on a schedule (session ``i`` at ``i * ramp_s / sessions`` seconds, by user
``i % users``) while ``playing`` players each take the session played least recently that nobody
is playing, subscribe to it on a WebSocket, play ``turns_per_visit`` turns (each followed by a
``GET`` of the session and the wait for its ``turn_complete`` frame), and move on. Machine memory
is sampled all along; creation stops early when the machine runs short of memory. At the end of
the duration no new request starts and the ones under way finish. The figures, with every turn
answered 200 (for the exactly-once check), are printed as one JSON line.

This process is not the Ray driver, so the driver's threads add nothing to the latencies.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections import defaultdict, deque
from typing import Any

from serve_app.load_figures import latency_summary, thin_series, turn_digest

__all__ = ["run_load"]

KINDS = ("create", "turn", "get", "ws")


class _Load:
    """The shared state of one run: its clock, sessions, latencies and statuses."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.t0 = time.monotonic()
        self.deadline = self.t0 + cfg["duration_s"]
        self.free: deque[tuple[str, int]] = deque()  # (session, user): least recently played first
        self.created = 0
        self.stop_creating: str | None = None
        self.latency: dict[str, list[float]] = {k: [] for k in KINDS}
        self.statuses: dict[str, dict[str, int]] = {k: defaultdict(int) for k in KINDS}
        self.answered: list[tuple[str, int, str]] = []
        self.ws_missed = 0
        self.memory: list[dict[str, Any]] = []

    def now(self) -> float:
        return time.monotonic() - self.t0

    def over(self) -> bool:
        return time.monotonic() >= self.deadline

    def count(self, kind: str, status: int | str, seconds: float | None = None) -> None:
        self.statuses[kind][str(status)] += 1
        if seconds is not None:  # latencies of successes only
            self.latency[kind].append(seconds)


async def _request(load: _Load, http: Any, kind: str, method: str, path: str, token: str, body: Any = None) -> Any:
    """One request: its JSON on success, else None; its status (or failure) counted under ``kind``."""
    import aiohttp

    t = time.perf_counter()
    try:
        async with http.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"}) as r:
            data = await r.json(content_type=None) if r.status < 300 else await r.read()
            load.count(kind, r.status, time.perf_counter() - t if r.status < 300 else None)
            return data if r.status < 300 else None
    except TimeoutError:
        load.count(kind, "timeout")
    except aiohttp.ClientError as err:
        load.count(kind, f"connection: {type(err).__name__}")
    return None


async def _creator(load: _Load, http: Any, user: int) -> None:
    cfg = load.cfg
    import psutil

    for i in range(user, cfg["sessions"], cfg["users"]):
        await asyncio.sleep(max(0.0, i * cfg["ramp_s"] / cfg["sessions"] - load.now()))
        if load.over() or load.stop_creating:
            return
        available = psutil.virtual_memory().available / 2**20
        if available < cfg["min_available_mib"]:
            load.stop_creating = f"{available:.0f} MiB available < {cfg['min_available_mib']} MiB after {load.created}"
            return
        body = {"world_template": cfg["world"], "session_name": f"load {i}", "settings": {"seed": i + 1}}
        made = await _request(load, http, "create", "POST", "/api/v1/sessions", cfg["tokens"][user], body)
        if made is not None:
            load.created += 1
            load.free.append((made["id"], user))


async def _visit(load: _Load, http: Any, sid: str, token: str) -> None:
    """Subscribe to ``sid``, play its turns (each with a GET), and wait for each turn_complete."""
    from websockets.asyncio.client import connect

    cfg = load.cfg
    delivered: dict[int, float] = {}
    arrived, subscribed = asyncio.Event(), asyncio.Event()
    try:
        ws = await asyncio.wait_for(connect(f"{cfg['ws_url']}?token={token}", max_queue=None), cfg["timeout_s"])
    except Exception as err:  # noqa: BLE001 - counted as a socket failure, the visit goes on without
        load.count("ws", f"connect: {type(err).__name__}")
        ws = None

    async def read() -> None:
        async for text in ws:
            frame = json.loads(text)
            if frame["type"] == "subscribed":
                subscribed.set()
            elif frame["type"] == "turn_complete":
                delivered[frame["turn"]] = time.time() - frame["committed_at"]
                arrived.set()
            elif frame["type"] in ("error", "overflow"):
                load.count("ws", f"{frame['type']} {frame.get('status', '')}".strip())
                subscribed.set()  # a refused subscription: the turns go on without deliveries

    reader = None
    if ws is not None:
        await ws.send(json.dumps({"type": "subscribe", "session_id": sid, "event_types": ["turn_complete"]}))
        reader = asyncio.create_task(read())
        try:  # subscribed from now on: the first turn must not commit before the subscription
            await asyncio.wait_for(subscribed.wait(), cfg["timeout_s"])
        except TimeoutError:
            load.count("ws", "not subscribed")
    try:
        for _ in range(cfg["turns_per_visit"]):
            if load.over():
                break
            turn = await _request(load, http, "turn", "POST", f"/api/v1/sessions/{sid}/turns", token, {})
            if turn is not None:
                load.answered.append((sid, turn["turn"], turn_digest(turn)))
            await _request(load, http, "get", "GET", f"/api/v1/sessions/{sid}", token)
            if turn is not None and reader is not None:
                await _delivery(load, delivered, arrived, turn["turn"])
    finally:
        if reader is not None:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            await ws.close()


async def _delivery(load: _Load, delivered: dict[int, float], arrived: asyncio.Event, turn: int) -> None:
    give_up = time.monotonic() + load.cfg["timeout_s"]
    while turn not in delivered and time.monotonic() < give_up:
        arrived.clear()
        try:
            await asyncio.wait_for(arrived.wait(), give_up - time.monotonic())
        except TimeoutError:
            break
    if turn in delivered:
        load.count("ws", "delivered", delivered[turn])
    else:
        load.ws_missed += 1
        load.count("ws", "missed")


async def _player(load: _Load, http: Any) -> None:
    from websockets.exceptions import WebSocketException

    while not load.over():
        if not load.free:
            await asyncio.sleep(0.05)  # no session free yet: the users are still creating them
            continue
        sid, user = load.free.popleft()
        try:
            await _visit(load, http, sid, load.cfg["tokens"][user])
        except (OSError, ValueError, KeyError, WebSocketException) as err:  # a socket dropped, a bad frame: go on
            load.count("ws", f"visit: {type(err).__name__}")
        finally:
            load.free.append((sid, user))


async def _sampler(load: _Load) -> None:
    import psutil

    while True:
        vm = psutil.virtual_memory()
        load.memory.append(
            {
                "t_s": round(load.now(), 1),
                "used_mib": round((vm.total - vm.available) / 2**20),
                "available_mib": round(vm.available / 2**20),
                "sessions": load.created,
                "load_1m": round(os.getloadavg()[0], 2),
            }
        )
        await asyncio.sleep(load.cfg["sample_s"])


async def run_load(cfg: dict[str, Any]) -> dict[str, Any]:
    """Run the load described by ``cfg`` (see :mod:`serve_app.bench_load`); return the figures."""
    import aiohttp

    load = _Load(cfg)
    sampler = asyncio.create_task(_sampler(load))
    timeout = aiohttp.ClientTimeout(total=cfg["timeout_s"])
    async with aiohttp.ClientSession(
        base_url=cfg["url"], timeout=timeout, connector=aiohttp.TCPConnector(limit=0)
    ) as http:
        tasks = [_creator(load, http, u) for u in range(cfg["users"])]
        tasks += [_player(load, http) for _ in range(cfg["playing"])]
        await asyncio.gather(*tasks)
    elapsed = load.now()
    sampler.cancel()
    await asyncio.gather(sampler, return_exceptions=True)
    turns = len(load.latency["turn"])
    return {
        "elapsed_s": round(elapsed, 1),
        "sessions_created": load.created,
        "creation_stopped": load.stop_creating,
        "throughput": {
            "turns_per_s": round(turns / elapsed, 2),
            "creates_per_s": round(load.created / elapsed, 2),
            "gets_per_s": round(len(load.latency["get"]) / elapsed, 2),
        },
        "latency": {k: latency_summary(v) for k, v in load.latency.items()},
        "statuses": {k: dict(sorted(v.items())) for k, v in load.statuses.items()},
        "ws_missed": load.ws_missed,
        "memory": {
            "series": thin_series(load.memory),
            "peak_used_mib": max((p["used_mib"] for p in load.memory), default=0),
            "start_used_mib": load.memory[0]["used_mib"] if load.memory else 0,
        },
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "answered": load.answered,
    }


if __name__ == "__main__":  # python -m serve_app.load_driver '<config JSON>'
    print(json.dumps(asyncio.run(run_load(json.loads(sys.argv[1])))))
