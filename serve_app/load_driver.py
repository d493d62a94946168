"""The clients of ``bench load``, run in a process of their own (``python -m serve_app.load_driver CONFIG``).

Users create sessions on a schedule (session ``i`` at ``i * ramp_s / sessions`` seconds, by user
``i % users``) while ``playing`` players each take the session played least recently that nobody
is playing, subscribe to it on a WebSocket (every event after the last one this run saw of it,
checking that none is missed: :mod:`serve_app.load_socket`), play ``turns_per_visit`` turns (each
followed by a ``GET`` of the session, the wait for its ``turn_complete`` frame and ``pause_s``
seconds of reading), and move on.
A request the server cannot serve now (429, 502-504, no answer) is tried again as a user's
client would, after ``Retry-After`` when the server gives one; every attempt is counted, with
its time (a chaos run sorts them into before, during and after its faults). Machine memory
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
from serve_app.load_socket import Subscriber

__all__ = ["run_load"]

KINDS = ("create", "turn", "get", "ws")
RETRIED = (429, 502, 503, 504)  # what a user's client retries (after Retry-After when given)
BACKOFF_S = (0.5, 1.0, 2.0, 4.0)  # between retries when the server said nothing (or could not)
RETRY_CAP_S = 10.0
MAX_SAMPLES = 20


class _Load:
    """The shared state of one run: its clock, sessions, latencies and statuses."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.t0 = time.monotonic()
        self.t0_wall = time.time()
        self.deadline = self.t0 + cfg["duration_s"]
        self.free: deque[tuple[str, int]] = deque()  # (session, user): least recently played first
        self.created = 0
        self.created_ids: list[tuple[str, int]] = []
        self.stop_creating: str | None = None
        self.latency: dict[str, list[float]] = {k: [] for k in KINDS}
        self.statuses: dict[str, dict[str, int]] = {k: defaultdict(int) for k in KINDS}
        self.answered: list[tuple[str, int, str]] = []
        self.ws_missed = 0
        self.ws_seen: dict[str, int] = {}  # session -> the last event seq this run received of it
        self.ws_gaps: list[list[Any]] = []  # [session, last seq seen, seq received]: events missed
        self.ws_repeats = 0
        self.resubscribes = 0
        self.timeline: list[tuple[float, str, str]] = []  # (wall clock, kind, status) of every answer
        self.playing: set[str] = set()
        self.error_samples: list[list[Any]] = []  # [time, kind, status, body] of the first 5xx answers
        self.memory: list[dict[str, Any]] = []

    def now(self) -> float:
        return time.monotonic() - self.t0

    def over(self) -> bool:
        return time.monotonic() >= self.deadline

    def count(self, kind: str, status: int | str, seconds: float | None = None) -> None:
        self.statuses[kind][str(status)] += 1
        self.timeline.append((round(time.time(), 3), kind, str(status)))
        if seconds is not None:  # latencies of successes only
            self.latency[kind].append(seconds)


async def _request(load: _Load, http: Any, kind: str, method: str, path: str, token: str, body: Any = None) -> Any:
    """One request, retried as a user would while the service is unavailable: its JSON on
    success, else None. Every attempt's status (or failure) is counted under ``kind``."""
    attempt = 0
    while True:
        data, wait_s = await _attempt(load, http, kind, method, path, token, body)
        if wait_s is None or load.over():
            return data
        await asyncio.sleep(min(wait_s, RETRY_CAP_S) if wait_s else BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
        attempt += 1


async def _attempt(
    load: _Load, http: Any, kind: str, method: str, path: str, token: str, body: Any
) -> tuple[Any, float | None]:
    """One attempt: (its JSON or None, None when done or the seconds to wait before retrying
    (0: back off))."""
    import aiohttp

    t = time.perf_counter()
    try:
        async with http.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"}) as r:
            data = await r.json(content_type=None) if r.status < 300 else await r.read()
            retry_after = r.headers.get("Retry-After")
            status = str(r.status) if r.status not in RETRIED or retry_after else f"{r.status} no Retry-After"
            load.count(kind, status, time.perf_counter() - t if r.status < 300 else None)
            if r.status >= 500 and len(load.error_samples) < MAX_SAMPLES:  # what the server said, for the report
                load.error_samples.append(
                    [round(time.time(), 3), kind, status, bytes(data[:300]).decode(errors="replace")]
                )
            if r.status < 300:
                return data, None
            if r.status in RETRIED:
                return None, float(retry_after) if retry_after and retry_after.isdigit() else 0.0
            return None, None
    except TimeoutError:
        load.count(kind, "timeout")
    except aiohttp.ClientError as err:
        load.count(kind, f"connection: {type(err).__name__}")
    return None, 0.0  # no answer (the server is down or restarting): try again


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
            load.created_ids.append((made["id"], user))
            load.free.append((made["id"], user))


async def _visit(load: _Load, http: Any, sid: str, token: str) -> None:
    """Subscribe to ``sid``, play its turns (each with a GET), and wait for each turn_complete."""
    sub = Subscriber(load, sid, token)
    sub.start()
    try:
        try:  # subscribed before the first turn, so its delivery is measured live
            await asyncio.wait_for(sub.subscribed.wait(), load.cfg["timeout_s"])
        except TimeoutError:
            load.count("ws", "not subscribed")
        for _ in range(load.cfg["turns_per_visit"]):
            if load.over():
                break
            turn = await _request(load, http, "turn", "POST", f"/api/v1/sessions/{sid}/turns", token, {})
            if turn is not None:
                load.answered.append((sid, turn["turn"], turn_digest(turn)))
            await _request(load, http, "get", "GET", f"/api/v1/sessions/{sid}", token)
            if turn is not None:
                await sub.wait_turn(turn["turn"])
            if load.cfg.get("pause_s") and not load.over():
                await asyncio.sleep(load.cfg["pause_s"])  # the player reads the turn
    finally:
        load.resubscribes += sub.resubscribes
        await sub.stop()


async def _player(load: _Load, http: Any) -> None:
    from websockets.exceptions import WebSocketException

    while not load.over():
        if not load.free:
            await asyncio.sleep(0.05)  # no session free yet: the users are still creating them
            continue
        sid, user = load.free.popleft()
        load.playing.add(sid)
        _write_playing(load)
        try:
            await _visit(load, http, sid, load.cfg["tokens"][user])
        except (OSError, ValueError, KeyError, WebSocketException) as err:  # a socket dropped, a bad frame: go on
            load.count("ws", f"visit: {type(err).__name__}")
        finally:
            load.playing.discard(sid)
            load.free.append((sid, user))


def _write_playing(load: _Load) -> None:
    """Tell a chaos run which sessions are being played now (a file it reads when it picks a victim)."""
    path = load.cfg.get("playing_path")
    if path:
        tmp = f"{path}.{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(sorted(load.playing), f)
        os.replace(tmp, path)


def app_memory_mib() -> int | None:
    """The memory of the app this driver loads, when the benchmark started it: the proportional set
    size (shared pages split between their users) of the benchmark's process and everything it
    started (Ray, Serve, the replicas and actors; with ``--chaos`` the server and its private
    PostgreSQL and Redis), this driver excluded. Not measured for an app elsewhere (``--url``):
    there only the whole machine's memory tells, and other work on the machine counts in it."""
    import psutil

    me = psutil.Process()
    mine = {me.pid, *(c.pid for c in me.children(recursive=True))}
    parent = me.parent()
    if parent is None:
        return None
    procs = [parent, *parent.children(recursive=True)]
    total, counted = 0, 0
    for proc in procs:
        if proc.pid in mine:
            continue
        try:
            total += proc.memory_full_info().pss
            counted += 1
        except psutil.Error:  # gone meanwhile, or not ours to read
            pass
    return round(total / 2**20) if counted else None


async def _sampler(load: _Load) -> None:
    import psutil

    while True:
        vm = psutil.virtual_memory()
        # reading smaps takes a while: off the loop
        app = await asyncio.to_thread(app_memory_mib) if load.cfg.get("own_app") else None
        load.memory.append(
            {
                "t_s": round(load.now(), 1),
                "used_mib": round((vm.total - vm.available) / 2**20),
                "available_mib": round(vm.available / 2**20),
                "app_mib": app,
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
        "error_samples": load.error_samples,
        "subscribers": {
            "gaps": load.ws_gaps,
            "repeats": load.ws_repeats,
            "resubscribes": load.resubscribes,
            "sessions_followed": len(load.ws_seen),
            "events_received_last_seq_sum": sum(load.ws_seen.values()),
        },
        "memory": {
            "series": thin_series(load.memory),
            "peak_used_mib": max((p["used_mib"] for p in load.memory), default=0),
            "start_used_mib": load.memory[0]["used_mib"] if load.memory else 0,
            "peak_app_mib": max((p["app_mib"] for p in load.memory if p["app_mib"] is not None), default=None),
            "end_app_mib": load.memory[-1]["app_mib"] if load.memory else None,
        },
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "answered": load.answered,
        "created": load.created_ids,
        "started_at": load.t0_wall,
        "timeline": load.timeline,
    }


if __name__ == "__main__":  # python -m serve_app.load_driver '<config JSON>'
    print(json.dumps(asyncio.run(run_load(json.loads(sys.argv[1])))))
