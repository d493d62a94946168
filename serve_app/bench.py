"""``novel-engine bench api``: the HTTP API and the WebSocket stream under load, on this machine.

It starts its own Ray instance and the Serve app on a free loopback port (embedded store in a
temporary folder, offline model), creates one user and one synthetic session of 8 personas, then:

- ``GET /api/v1/sessions/{id}`` and ``POST .../turns`` with 64 concurrent clients: p50/p99 latency
  and throughput (turns of one session are serialised by its director, so turn latency includes
  waiting for the turns queued before it);
- 1,000 WebSocket subscribers on that session: delivery latency from the turn's commit (the wall
  clock the director stamps on ``turn_complete``) to its receipt by each subscriber, p50/p99, one
  delivery wave at a time (the next turn starts when every subscriber has the last one);
- the same delivery through a bare Serve app that only fans a message out to its sockets, which is
  the floor Serve's WebSocket path sets on this machine (likewise ``GET /health`` for HTTP).

The HTTP clients run in a process of their own (not this one, the Ray driver) and the WebSocket
clients in this one; either way they share the machine's cores with the server. Figures are
printed and written as JSON (``--out``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from novel_engine.benchmarks import write_results

__all__ = ["add_bench_parser", "cmd_bench_api", "bench_api", "percentile"]


def add_bench_parser(bench_sub: Any) -> None:
    """Add ``bench api`` to the ``bench`` subcommands."""
    p = bench_sub.add_parser(
        "api", help="HTTP latency/throughput with 64 clients, WebSocket delivery to 1,000 subscribers"
    )
    p.add_argument("--clients", type=int, default=64, help="concurrent HTTP clients (default 64)")
    p.add_argument("--gets", type=int, default=40, help="GET requests per client (default 40)")
    p.add_argument("--turns", type=int, default=2, help="POST turns per client (default 2)")
    p.add_argument("--subscribers", type=int, default=1000, help="WebSocket subscribers (default 1000)")
    p.add_argument("--ws-turns", type=int, default=5, dest="ws_turns", help="turns watched by the subscribers")
    p.add_argument("--personas", type=int, default=8, help="cast size of the session (default 8)")
    p.add_argument("--out", default="bench-results/api.json", help="where to write the JSON figures")


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))]


def _summary(latencies: list[float], seconds: float) -> dict[str, float]:
    return {
        "requests": len(latencies),
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 99) * 1000, 2),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2),
        "throughput_per_s": round(len(latencies) / seconds, 1),
    }


def _http_load_elsewhere(
    url: str, token: str, method: str, path: str, clients: int, per_client: int, body: dict | None = None
) -> dict[str, Any]:
    """:func:`_http_load` in a fresh interpreter: this process is also the Ray driver, whose
    threads would add their pauses to the clients' latencies."""
    from novel_engine.benchmarks.core import _run_worker

    return _run_worker(
        ["load", url, token, method, path, str(clients), str(per_client), json.dumps(body)], module="serve_app.bench"
    )


async def _http_load(
    url: str, token: str, method: str, path: str, clients: int, per_client: int, body: dict | None = None
) -> dict[str, float]:
    # aiohttp, not httpx: httpx's connection pool tops out near 250 requests/s with 64 concurrent
    # clients on this machine (p99 1.5 s against a bare uvicorn app) and would measure itself.
    import aiohttp

    latencies: list[float] = []
    errors = 0
    statuses: dict[str, int] = {}  # what the errors were: a 409 under contention is not a 500
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(
        base_url=url,
        headers={"Authorization": f"Bearer {token}"},
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=300),
    ) as client:

        async def one_client() -> None:
            nonlocal errors
            for _ in range(per_client):
                t = time.perf_counter()
                async with client.request(method, path, json=body) as r:
                    await r.read()
                latencies.append(time.perf_counter() - t)
                errors += r.status >= 400
                statuses[str(r.status)] = statuses.get(str(r.status), 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(clients)))
        seconds = time.perf_counter() - started
    return {**_summary(latencies, seconds), "clients": clients, "errors": errors, "statuses": statuses}


class _Waves:
    """Receipts per delivery wave: the next turn starts once every subscriber has the last one, so
    a wave's latency is its own and not the next turn's CPU (the app and the floor alike)."""

    def __init__(self, subscribers: int) -> None:
        self.subscribers, self.counts, self.events = subscribers, {}, {}
        self.worst: dict[int, float] = {}  # the slowest receipt of each wave

    def got(self, wave: int, delay: float) -> None:
        self.worst[wave] = max(self.worst.get(wave, 0.0), delay)
        self.counts[wave] = self.counts.get(wave, 0) + 1
        if self.counts[wave] == self.subscribers:
            self._event(wave).set()

    def _event(self, wave: int) -> asyncio.Event:
        return self.events.setdefault(wave, asyncio.Event())

    async def done(self, wave: int) -> None:
        await asyncio.wait_for(self._event(wave).wait(), 300)


async def _ws_delivery(
    ws_url: str, url: str, token: str, sid: str, subscribers: int, turns: int, paced: bool = True
) -> dict[str, Any]:
    import httpx
    from websockets.asyncio.client import connect

    sockets = []
    for i in range(0, subscribers, 50):  # connect in batches: the proxy accepts a few hundred per second
        sockets += await asyncio.gather(
            *(connect(f"{ws_url}?token={token}", max_queue=None) for _ in range(min(50, subscribers - i)))
        )
    delays: list[float] = []
    try:
        for ws in sockets:
            await ws.send(json.dumps({"type": "subscribe", "session_id": sid, "event_types": ["turn_complete"]}))

        async def until_subscribed(ws) -> None:
            while json.loads(await ws.recv())["type"] != "subscribed":
                pass

        await asyncio.gather(*(until_subscribed(ws) for ws in sockets))

        waves = _Waves(len(sockets))

        async def collect(ws) -> None:
            seen = 0
            while seen < turns:
                frame = json.loads(await ws.recv())
                if frame["type"] == "turn_complete":
                    delays.append(time.time() - frame["committed_at"])
                    waves.got(seen, delays[-1])
                    seen += 1

        readers = [asyncio.create_task(collect(ws)) for ws in sockets]
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=300) as c:
            for wave in range(turns):
                (await c.post(f"/api/v1/sessions/{sid}/turns", json={})).raise_for_status()
                if paced:
                    await waves.done(wave)
        await asyncio.wait_for(asyncio.gather(*readers), 300)
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return _delivery(subscribers, turns, delays, waves)


def _delivery(subscribers: int, turns: int, delays: list[float], waves: _Waves) -> dict[str, Any]:
    """The figures of one WebSocket delivery run: seconds from turn commit to receipt, in ms."""
    return {
        "subscribers": subscribers,
        "turns": turns,
        "deliveries": len(delays),
        "p50_ms": round(percentile(delays, 50) * 1000, 2),
        "p99_ms": round(percentile(delays, 99) * 1000, 2),
        "max_ms": round(max(delays) * 1000, 2),
        "wave_max_ms": [round(waves.worst[w] * 1000, 1) for w in sorted(waves.worst)],
    }


async def _ws_floor(url: str, subscribers: int, turns: int) -> dict[str, Any]:
    import httpx
    from websockets.asyncio.client import connect

    sockets = []
    for i in range(0, subscribers, 50):
        sockets += await asyncio.gather(
            *(connect(url.replace("http", "ws") + "/ws", max_queue=None) for _ in range(min(50, subscribers - i)))
        )
    delays: list[float] = []
    try:
        waves = _Waves(len(sockets))

        async def collect(ws) -> None:
            for wave in range(turns):
                frame = json.loads(await ws.recv())
                delays.append(time.time() - frame["committed_at"])
                waves.got(wave, delays[-1])

        async with httpx.AsyncClient(base_url=url, timeout=300) as c:
            while (await c.get("/count")).json() < subscribers:
                await asyncio.sleep(0.05)  # the last sockets are still registering: no event to await
            readers = [asyncio.create_task(collect(ws)) for ws in sockets]
            for wave in range(turns):
                await c.post("/fire")
                await waves.done(wave)
            await asyncio.wait_for(asyncio.gather(*readers), 300)
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return _delivery(subscribers, turns, delays, waves)


def bench_api(
    clients: int = 64,
    gets: int = 40,
    turns: int = 2,
    subscribers: int = 1000,
    ws_turns: int = 5,
    personas: int = 8,
    out: str | os.PathLike = "bench-results/api.json",
) -> dict[str, Any]:
    """Start Ray and the app, run the three measurements, print them and write JSON to ``out``."""
    import httpx
    import ray
    from ray import serve

    from novel_engine.runtime.ray.connection import connect
    from novel_engine.storage import StoreRunner, StoreSettings, open_store
    from serve_app.app import build_app
    from serve_app.launcher import _free_port, use_haproxy_ingress
    from serve_app.security import AuthService, AuthSettings

    secret = secrets.token_urlsafe(48)
    folder = Path(tempfile.mkdtemp(prefix="novel-engine-bench-api-"))
    store = StoreSettings(database_url=f"sqlite:///{folder / 'state.db'}", object_store_url=(folder / "obj").as_uri())
    port = _free_port("127.0.0.1")
    print("starting Ray and Serve...", file=sys.stderr, flush=True)
    haproxy = use_haproxy_ingress()  # as `novel-engine serve` starts it
    connect("local")  # a Ray instance of its own, never one another process runs on this machine
    runner = StoreRunner(open_store(store)).start()
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        env = {"NOVEL_ENGINE_JWT_SECRET": secret, "NOVEL_ENGINE_RATE_LIMIT_PER_MINUTE": "100000000"}
        serve.run(
            build_app(
                {
                    "database_url": store.database_url,
                    "object_store_url": store.object_store_url,
                    "max_agents": str(max(personas, 8)),
                    "env": env,
                }
            ),
            name="bench",
            route_prefix="/",
        )
        url = f"http://127.0.0.1:{port}"
        auth = AuthService(runner, AuthSettings(jwt_secret=secret))
        asyncio.run(auth.create_user("bench-user", "bench password 123"))
        token = httpx.post(
            f"{url}/api/v1/auth/login", json={"username": "bench-user", "password": "bench password 123"}
        ).json()["access_token"]
        h = {"Authorization": f"Bearer {token}"}
        sid = httpx.post(
            f"{url}/api/v1/sessions",
            headers=h,
            timeout=120,
            json={"world_template": "synthetic", "agent_count": personas, "settings": {"seed": 1}},
        ).json()["id"]
        httpx.post(f"{url}/api/v1/sessions/{sid}/turns", headers=h, json={}, timeout=120).raise_for_status()  # warm-up
        results: dict[str, Any] = {}
        # reference points: one client alone (no queueing), and Serve's floor (a route doing nothing)
        results["get_session_1_client"] = _http_load_elsewhere(url, token, "GET", f"/api/v1/sessions/{sid}", 1, 200)
        _print("GET /api/v1/sessions/{id}, 1 client", results["get_session_1_client"])
        results["health_floor"] = _http_load_elsewhere(url, token, "GET", "/health", clients, gets)
        _print("GET /health (Serve's floor)", results["health_floor"])
        results["get_session"] = _http_load_elsewhere(url, token, "GET", f"/api/v1/sessions/{sid}", clients, gets)
        _print("GET /api/v1/sessions/{id}", results["get_session"])
        results["post_turns"] = _http_load_elsewhere(
            url, token, "POST", f"/api/v1/sessions/{sid}/turns", clients, turns, body={}
        )
        _print("POST /api/v1/sessions/{id}/turns", results["post_turns"])
        results["ws_delivery"] = asyncio.run(
            _ws_delivery(f"ws://127.0.0.1:{port}/ws", url, token, sid, subscribers, ws_turns)
        )
        _print_ws("WebSocket delivery", results["ws_delivery"])
        # the same with turns back to back: a wave then shares the cores with the next turn's work
        results["ws_delivery_back_to_back"] = asyncio.run(
            _ws_delivery(f"ws://127.0.0.1:{port}/ws", url, token, sid, subscribers, ws_turns, paced=False)
        )
        _print_ws("WebSocket delivery, turns back to back", results["ws_delivery_back_to_back"])
        serve.delete("bench")  # the bare app takes its place at the root
        from serve_app.bench_floor import floor_asgi_app

        serve.run(
            serve.deployment(serve.ingress(floor_asgi_app)()).options(max_ongoing_requests=subscribers + 100).bind(),
            name="ws-floor",
            route_prefix="/",
        )
        results["ws_floor"] = asyncio.run(_ws_floor(url, subscribers, ws_turns))
        _print_ws("WebSocket delivery of a bare Serve fan-out app (Serve's floor)", results["ws_floor"])
    finally:
        serve.shutdown()
        runner.stop()
        ray.shutdown()
    result = {
        "suite": "api",
        "personas": personas,
        "ingress": "haproxy" if haproxy else "proxy",
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),  # other work on the machine skews figures
        "targets": {"get_p99_ms": 50, "ws_delivery_p99_ms": 100},
        **results,
    }
    write_results(result, out)
    return result


def _print_ws(what: str, w: dict[str, Any]) -> None:
    print(
        f"{what}, {w['subscribers']} subscribers x {w['turns']} turns: p50 {w['p50_ms']} ms, "
        f"p99 {w['p99_ms']} ms, max {w['max_ms']} ms (slowest receipt per wave {w['wave_max_ms']})",
        flush=True,
    )


def _print(what: str, r: dict[str, float]) -> None:
    print(
        f"{what}: {r['requests']} requests from {r['clients']} clients: p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, "
        f"{r['throughput_per_s']}/s, {r['errors']} errors {r.get('statuses', {})}",
        flush=True,
    )


def cmd_bench_api(args: argparse.Namespace) -> int:
    """Run ``bench api`` from parsed arguments."""
    from novel_engine.errors import NovelEngineError

    for name in ("clients", "gets", "turns", "subscribers", "ws_turns", "personas"):
        if getattr(args, name) < 1:
            raise NovelEngineError(f"--{name.replace('_', '-')}: must be at least 1")
    bench_api(args.clients, args.gets, args.turns, args.subscribers, args.ws_turns, args.personas, args.out)
    return 0


if __name__ == "__main__":  # a load worker: python -m serve_app.bench load URL TOKEN METHOD PATH CLIENTS PER BODY
    _, _, _url, _token, _method, _path, _clients, _per, _body = sys.argv
    print(
        json.dumps(asyncio.run(_http_load(_url, _token, _method, _path, int(_clients), int(_per), json.loads(_body))))
    )
