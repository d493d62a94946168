"""Benchmarks: ``novel-engine bench core`` measures the in-process engine at growing cast sizes
(``bench runtime`` is in :mod:`novel_engine.benchmarks.runtime_bench`).

Each cast size runs in a fresh subprocess, so its peak RSS is its own. Figures: persona-turns per
second, seconds per turn, peak RSS and seconds per phase (mean over the measured turns). The
baseline of the same run is the smallest cast: ``cost_ratio`` is each size's cost per persona-turn
divided by the baseline's, so linear scaling shows as ratios near 1.
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from novel_engine.benchmarks import write_results
from novel_engine.errors import BenchmarkError

__all__ = ["bench_core", "measure_core", "host_calibration", "ideal_turn_seconds"]


def measure_core(personas: int, turns: int, seed: int, count_calls: bool = False) -> dict[str, Any]:
    """Run a synthetic world of ``personas`` for ``turns`` turns in this process; return the figures.

    ``count_calls``: play one more turn under ``cProfile`` and report the
    function calls it made per persona: the work the code does, whatever the memory hierarchy
    and the host's speed do to the seconds (linear work shows as the same count at every size).
    """
    from novel_engine.api import Engine
    from novel_engine.core.report import PHASES
    from novel_engine.scenarios.synthetic import synthetic

    t0 = time.perf_counter()
    scenario = synthetic(personas=personas, seed=seed)
    session = Engine().create_session(scenario, seed=seed)
    setup = time.perf_counter() - t0
    per_turn, phases = [], {p: 0.0 for p in PHASES}
    events, cpu = 0, 0.0
    for _ in range(turns):
        # CPU time beside wall time: on a shared machine wall time also counts other processes' turns
        t, c = time.perf_counter(), time.process_time()
        report = session.step()
        per_turn.append(time.perf_counter() - t)
        cpu += time.process_time() - c
        events += len(report.events)
        for k, v in report.timings.items():
            phases[k] = phases.get(k, 0.0) + v
    calls = None
    if count_calls:
        import cProfile
        import pstats

        profile = cProfile.Profile()

        async def profiled() -> None:  # on the engine's loop thread, where the turn runs
            profile.enable()
            try:
                await session.astep()
            finally:
                profile.disable()

        session._engine._loop.run(profiled())
        calls = round(pstats.Stats(profile).total_calls / personas, 2)
    session.close()
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    mean = sum(per_turn) / len(per_turn)
    return {
        "personas": personas,
        "turns": turns,
        "setup_s": round(setup, 4),
        "seconds_per_turn": round(mean, 4),
        "max_seconds_per_turn": round(max(per_turn), 4),
        "turn_seconds": [round(x, 4) for x in per_turn],  # each turn: a target holds for every turn
        "cpu_seconds_per_turn": round(cpu / turns, 4),
        "persona_turns_per_s": round(personas / mean, 1),
        "events_per_turn": events / turns,
        "peak_rss_mib": round(rss_kib / 1024, 1),
        "phase_seconds": {k: round(v / turns, 4) for k, v in phases.items()},
        **({"calls_per_persona_turn": calls} if calls is not None else {}),
    }


def bench_core(
    sizes: list[int],
    turns: int = 3,
    seed: int = 1,
    out: str | os.PathLike = "bench-results/core.json",
    count_calls: bool = False,
) -> dict[str, Any]:
    """Measure every cast size in its own subprocess, print a table,
    write JSON to ``out`` (``count_calls``: see :func:`measure_core`)."""
    rows = []
    before = host_calibration()
    for n in sizes:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "novel_engine.benchmarks.core",
                str(n),
                str(turns),
                str(seed),
                str(int(count_calls)),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise BenchmarkError(f"benchmark of {n} personas failed:\n{proc.stderr[-2000:]}")
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(row)
        ph = row["phase_seconds"]
        print(
            f"{n:>8} personas: {row['seconds_per_turn']:8.3f} s/turn ({row['cpu_seconds_per_turn']:.3f} "
            f"CPU, slowest {row['max_seconds_per_turn']:.3f}) "
            f"{row['persona_turns_per_s']:>10,.0f} "
            f"persona-turns/s  peak RSS {row['peak_rss_mib']:8.1f} MiB  | "
            + " ".join(f"{k} {v:.3f}" for k, v in ph.items()),
            flush=True,
        )
    base = rows[0]["seconds_per_turn"] / rows[0]["personas"]
    for r in rows:
        r["cost_ratio"] = round((r["seconds_per_turn"] / r["personas"]) / base, 3)
    print(
        "cost per persona-turn relative to the smallest cast: "
        + ", ".join(f"{r['personas']}: {r['cost_ratio']}x" for r in rows)
    )
    counted = [r for r in rows if "calls_per_persona_turn" in r]
    if counted:
        base_calls = counted[0]["calls_per_persona_turn"]
        print(
            "function calls per persona-turn (the work done, whatever the memory hierarchy does to time): "
            + ", ".join(
                f"{r['personas']}: {r['calls_per_persona_turn']} ({r['calls_per_persona_turn'] / base_calls:.3f}x)"
                for r in counted
            )
        )
    calibration = {"before": before, "after": host_calibration()}
    result = {
        "suite": "core",
        "turns": turns,
        "seed": seed,
        "baseline_personas": rows[0]["personas"],
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "host_calibration_s": calibration,
        "results": rows,
    }
    print(
        f"host speed: a fixed pure-Python workload took {calibration['before']:.4f} s before and "
        f"{calibration['after']:.4f} s after (compare runs on other days or machines relative to it)"
    )
    write_results(result, out)
    return result


class _Cell:
    __slots__ = ("a", "b")

    def __init__(self, a: int, b: float) -> None:
        self.a, self.b = a, b


def host_calibration(repeat: int = 5) -> float:
    """Seconds (best of ``repeat``) of a fixed pure-Python workload like a turn's (slotted objects,
    dict reads and writes, float arithmetic, sorting), which never changes with the engine's code.

    A shared machine's speed drifts by tens of percent between hours and days; the engine's figures
    divided by this one compare across runs where the raw seconds do not.
    """
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        cells = [_Cell(i, (i % 97) * 0.25) for i in range(20_000)]
        totals: dict[int, float] = {}
        for _ in range(5):
            for c in cells:
                k = c.a % 4099
                totals[k] = totals.get(k, 0.0) + c.b * 1.0001 - 0.5
            cells.sort(key=lambda c: (totals[c.a % 4099], c.a))
        best = min(best, time.perf_counter() - t)
    return round(best, 4)


def _run_worker(args: Sequence[str], module: str = "novel_engine.benchmarks.core") -> dict[str, Any]:
    """Run one measurement in a fresh interpreter (``python -m module *args``); return the JSON
    object it printed last.

    Raises:
        BenchmarkError: the worker failed or printed no figures; the message holds the end of its
            stderr (and of its stdout), so the cause shows instead of a traceback of this process.
    """
    proc = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, check=False)
    for line in reversed(proc.stdout.strip().splitlines() if proc.returncode == 0 else []):
        try:
            figures = json.loads(line)
        except json.JSONDecodeError:
            continue  # a library's log line after the figures
        if isinstance(figures, dict):
            return figures
    what = f"exited with status {proc.returncode}" if proc.returncode else "printed no figures"
    raise BenchmarkError(
        f"benchmark worker `{module} {' '.join(args)}` {what}; its output ends with:\n"
        f"{proc.stderr[-3000:].rstrip() or '(no stderr)'}\n{proc.stdout[-1000:].rstrip()}",
        worker=module,
        returncode=proc.returncode,
    )


def ideal_turn_seconds(calls: int, cap: int, latency_s: float) -> float:
    """The shortest possible LLM-bound turn: ``calls - 1`` decisions in waves of ``cap`` concurrent
    calls, then the narration, one call that needs the decisions' outcome."""
    return math.ceil(max(calls - 1, 0) / cap) * latency_s + latency_s


if __name__ == "__main__":  # workers: python -m novel_engine.benchmarks.core N TURNS SEED CALLS
    print(json.dumps(measure_core(*map(int, sys.argv[1:4]), count_calls=sys.argv[4] == "1")))
