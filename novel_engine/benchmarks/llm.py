"""``novel-engine bench llm``: LLM-bound turns through the real google-genai client and a fake server.

A synthetic cast (1,000 personas by default) plays turns with ``llm=gemini`` against
:class:`~novel_engine.testing.fake_llm.FakeGeminiServer` on loopback, answering every call after a
fixed latency (100 ms), behind the session's cap on concurrent calls (64; on Ray the cluster-wide
limiter actor enforces it across the persona shards). Two cases per runtime:

- ``clean``: every call succeeds. Figure: seconds per turn against the ideal
  ``ceil(calls / cap) * latency`` (target at most 1.15x).
- ``429``: a share of calls (10 %) is refused with 429 and a Retry-After; the retry wrapper
  waits and retries. Figure: the turn completes, with its time against the same ideal (target at
  most 1.5x), and how many decisions fell back (should be none).

Every case runs with each Gemini transport: ``genai`` (the official client) and ``rest`` (the
same REST calls from a template). ``cpu_seconds_per_turn_driver`` is the CPU the in-process runtime
spent per turn: google-genai's request building costs about 2 ms of CPU per call, so one process
cannot issue 1,000 calls in the 1.6 s of the ideal turn with it; on Ray the calls spread over the
persona shards' processes.
(``measure_llm("openai", ...)`` runs the clean case through the OpenAI-compatible adapter.)

Baseline in the same run (clean Gemini case): ``floor_seconds`` is what the same fake server and
cap take for the same calls with no engine at all: a bare aiohttp client sends one real decision
request's bytes per persona (at most ``cap`` at once), then one more call once they are all back
(the narration waits for every decision). On a 2-core machine the fake server shares the cores and
each call takes a few ms more than its 100 ms (wake-ups, the server's own work), so the floor
itself sits near 1.15x of the ideal; ``ratio_to_floor`` is what the engine adds on top. (The
server's ``http_calls`` and ``outcomes`` count the floor's calls too.)

Each case runs in a fresh subprocess (its own Ray driver), after one warm-up turn not counted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from typing import Any

from novel_engine.benchmarks import write_results
from novel_engine.benchmarks.core import _run_worker, ideal_turn_seconds

__all__ = ["bench_llm", "measure_llm"]

FAKE_KEY = "bench-fake-key"


def measure_llm(
    case: str,
    runtime: str,
    personas: int,
    turns: int,
    seed: int,
    latency_s: float,
    cap: int,
    rate_429: float,
    retry_after: str,
    transport: str = "genai",
) -> dict[str, Any]:
    """One figure, measured in this process (see the module docstring)."""
    from novel_engine.api import Engine
    from novel_engine.scenarios.synthetic import synthetic

    os.environ["GEMINI_API_KEY"] = FAKE_KEY
    # the server gets a process of its own, so its CPU does not compete with the client's for one GIL
    provider = "openai" if case == "openai" else "gemini"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "novel_engine.testing.fake_llm",
            provider,
            "--latency",
            str(latency_s),
            "--rate-429",
            str(rate_429 if case == "429" else 0.0),
            "--retry-after",
            retry_after,
            "--api-key",
            FAKE_KEY,
            "--seed",
            str(seed),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    url = server.stdout.readline().strip()
    limiter_name = None
    try:
        options = {
            "base_url": url,
            "max_concurrency": cap,
            "cache": False,
            "backoff_s": 0.05,
            "max_retries": 8,
            "breaker_failures": 0,
            "timeout_s": 60.0,
            "gemini_transport": transport,
        }
        # on Ray: a fresh local instance of our own, never another process's cluster on this machine
        engine = Engine(runtime, address="local") if runtime == "ray" else Engine(runtime)
        extra: dict[str, Any] = {"persona_shards": 2} if runtime == "ray" else {}
        session = engine.create_session(
            synthetic(personas=personas, seed=seed), seed=seed, llm=provider, llm_options=options, **extra
        )
        if runtime == "ray":
            from novel_engine.llm.factory import quota_name
            from novel_engine.llm.settings import LLMOptions

            limiter_name = quota_name(provider, LLMOptions(**options))
        per_turn, calls, fallbacks, cpu = [], [], 0, 0.0
        try:
            session.step()  # warm-up: imports, connections, actors
            floor = http_floor(url, personas, cap, turns) if case == "clean" and provider == "gemini" else None
            for _ in range(turns):
                t, c = time.perf_counter(), time.process_time()
                report = session.step()
                per_turn.append(time.perf_counter() - t)
                cpu += time.process_time() - c
                calls.append(sum(1 for e in report.events if e.kind == "action") + 1)  # decisions + narration
                fallbacks += sum(1 for e in report.events if "fallback" in e.flags)
        finally:
            session.close()
            engine.close()
        root = "/".join(url.split("/")[:3])  # the OpenAI fake's URL ends in /v1; its stats sit at the root
        with urllib.request.urlopen(f"{root}/_fake/stats", timeout=30) as resp:
            stats = json.loads(resp.read())
    finally:
        server.stdin.close()
        server.wait(timeout=30)
        if limiter_name is not None:
            from novel_engine.runtime.ray.limiter import kill_limiter

            kill_limiter(limiter_name)
    mean = sum(per_turn) / len(per_turn)
    ideal = sum(ideal_turn_seconds(c, cap, latency_s) for c in calls) / len(calls)
    return {
        "case": case,
        "provider": provider,
        "transport": transport if provider == "gemini" else "httpx",
        "runtime": runtime,
        "personas": personas,
        "turns": turns,
        "cap": cap,
        "latency_ms": latency_s * 1000,
        "rate_429": rate_429 if case == "429" else 0.0,
        "retry_after": retry_after if case == "429" else None,
        "calls_per_turn": sum(calls) / len(calls),
        "http_calls": stats["calls"],
        "outcomes": stats["outcomes"],
        "max_in_flight_at_server": stats["max_in_flight"],
        "seconds_per_turn": round(mean, 4),
        "max_seconds_per_turn": round(max(per_turn), 4),
        "ideal_seconds_per_turn": round(ideal, 4),
        "ratio_to_ideal": round(mean / ideal, 3),
        "fallbacks": fallbacks,
        "cpu_seconds_per_turn_driver": round(cpu / len(per_turn), 4),
        "floor_seconds": None if floor is None else round(floor, 4),
        "ratio_to_floor": None if floor is None else round(mean / floor, 3),
        # the machine may be shared: a busy one stretches every figure
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def http_floor(url: str, decisions: int, cap: int, repeats: int = 2) -> float:
    """Seconds a bare aiohttp client takes for ``decisions`` calls (``cap`` at once) and then one
    more, against the Gemini fake at ``url``: the turn's calls with no engine (mean of ``repeats``)."""
    import asyncio

    import aiohttp

    from novel_engine.llm.gemini_rest import GeminiRestModel
    from novel_engine.llm.prompts import render_prompt
    from novel_engine.llm.settings import LLMOptions
    from novel_engine.testing.fake_llm import sample_decision_request

    request = sample_decision_request()
    model = GeminiRestModel(LLMOptions(base_url=url), FAKE_KEY)
    prompt = render_prompt(request)
    payload = json.dumps(model._body(request, prompt.system, prompt.user))

    async def run() -> float:
        gate = asyncio.Semaphore(cap)
        headers = {"x-goog-api-key": FAKE_KEY, "Content-Type": "application/json"}
        async with aiohttp.ClientSession(headers=headers, connector=aiohttp.TCPConnector(limit=0)) as http:

            async def call() -> None:
                async with gate, http.post(model._url, data=payload) as resp:
                    await resp.read()

            await asyncio.gather(*(call() for _ in range(cap)))  # warm the connections
            total = 0.0
            for _ in range(repeats):
                t = time.perf_counter()
                await asyncio.gather(*(call() for _ in range(decisions)))
                await call()  # the narration
                total += time.perf_counter() - t
            return total / repeats

    return asyncio.run(run())


def _worker(args: Sequence[str]) -> dict[str, Any]:
    return _run_worker(args, module="novel_engine.benchmarks.llm")


def bench_llm(
    personas: int = 1000,
    latency_s: float = 0.1,
    cap: int = 64,
    rate_429: float = 0.1,
    retry_after: str = "0.1",
    turns: int = 2,
    seed: int = 1,
    runtimes: Sequence[str] = ("local", "ray"),
    out: str | os.PathLike = "bench-results/llm.json",
    transports: Sequence[str] = ("genai", "rest"),
) -> dict[str, Any]:
    """Run every case in its own subprocess, print the figures, write JSON to ``out``."""
    rows = []
    targets = {"clean": 1.15, "429": 1.5}
    for runtime in runtimes:
        for transport, case in ((t, c) for t in transports for c in ("clean", "429")):
            r = _worker(
                [
                    case,
                    runtime,
                    str(personas),
                    str(turns),
                    str(seed),
                    str(latency_s),
                    str(cap),
                    str(rate_429),
                    retry_after,
                    transport,
                ]
            )
            r["target_ratio"] = targets[case]
            r["within_target"] = r["ratio_to_ideal"] <= targets[case]
            rows.append(r)
            floor = (
                ""
                if r.get("floor_seconds") is None
                else (
                    f", bare-client floor {r['floor_seconds']:.3f} s ({r['floor_seconds'] / r['ideal_seconds_per_turn']:.3f}x"
                    f" of ideal; engine {r['ratio_to_floor']}x of floor)"
                )
            )
            print(
                f"{runtime:>5} {case:>5} ({r['transport']}): {personas} personas, {r['calls_per_turn']:.0f} calls/turn, cap {cap}, "
                f"{r['latency_ms']:.0f} ms/call: {r['seconds_per_turn']:.3f} s/turn, ideal "
                f"{r['ideal_seconds_per_turn']:.3f} s ({r['ratio_to_ideal']}x, target {targets[case]}x){floor}, "
                f"server peak in flight {r['max_in_flight_at_server']}, outcomes {r['outcomes']}, "
                f"fallbacks {r['fallbacks']}, load {r['load_average_1m']}",
                flush=True,
            )
    result = {
        "suite": "llm",
        "personas": personas,
        "turns": turns,
        "seed": seed,
        "cap": cap,
        "latency_ms": latency_s * 1000,
        "cpu_count": os.cpu_count(),
        "results": rows,
    }
    write_results(result, out)
    return result


if (
    __name__ == "__main__"
):  # worker: python -m novel_engine.benchmarks.llm CASE RUNTIME N TURNS SEED LATENCY CAP RATE RA
    a = sys.argv[1:]
    print(
        json.dumps(
            measure_llm(
                a[0],
                a[1],
                int(a[2]),
                int(a[3]),
                int(a[4]),
                float(a[5]),
                int(a[6]),
                float(a[7]),
                a[8],
                a[9] if len(a) > 9 else "genai",
            )
        )
    )
