"""Benchmarks: ``novel-engine bench core`` measures the in-process engine at growing cast sizes.

Each cast size runs in a fresh subprocess, so its peak RSS is its own. Figures: persona-turns per
second, seconds per turn, peak RSS and seconds per phase (mean over the measured turns). The
baseline of the same run is the smallest cast: ``cost_ratio`` is each size's cost per persona-turn
divided by the baseline's, so linear scaling shows as ratios near 1.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["bench_core", "measure_core"]


def measure_core(personas: int, turns: int, seed: int) -> dict[str, Any]:
    """Run a synthetic world of ``personas`` for ``turns`` turns in this process; return the figures."""
    from novel_engine.api import Engine
    from novel_engine.runtime.local import PHASES
    from novel_engine.scenarios.synthetic import synthetic

    t0 = time.perf_counter()
    scenario = synthetic(personas=personas, seed=seed)
    session = Engine().create_session(scenario, seed=seed)
    setup = time.perf_counter() - t0
    per_turn, phases = [], {p: 0.0 for p in PHASES}
    events = 0
    for _ in range(turns):
        t = time.perf_counter()
        report = session.step()
        per_turn.append(time.perf_counter() - t)
        events += len(report.events)
        for k, v in report.timings.items():
            phases[k] += v
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    mean = sum(per_turn) / len(per_turn)
    return {
        "personas": personas, "turns": turns, "setup_s": round(setup, 4),
        "seconds_per_turn": round(mean, 4), "max_seconds_per_turn": round(max(per_turn), 4),
        "persona_turns_per_s": round(personas / mean, 1), "events_per_turn": events / turns,
        "peak_rss_mib": round(rss_kib / 1024, 1),
        "phase_seconds": {k: round(v / turns, 4) for k, v in phases.items()},
    }


def bench_core(sizes: list[int], turns: int = 3, seed: int = 1, out: str | os.PathLike = "bench-results/core.json"
               ) -> dict[str, Any]:
    """Measure every cast size in its own subprocess, print a table, write JSON to ``out``."""
    rows = []
    for n in sizes:
        proc = subprocess.run([sys.executable, "-m", "novel_engine.bench", str(n), str(turns), str(seed)],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"benchmark of {n} personas failed:\n{proc.stderr[-2000:]}")
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(row)
        ph = row["phase_seconds"]
        print(f"{n:>8} personas: {row['seconds_per_turn']:8.3f} s/turn  {row['persona_turns_per_s']:>10,.0f} "
              f"persona-turns/s  peak RSS {row['peak_rss_mib']:8.1f} MiB  | "
              + " ".join(f"{k} {v:.3f}" for k, v in ph.items()), flush=True)
    base = rows[0]["seconds_per_turn"] / rows[0]["personas"]
    for r in rows:
        r["cost_ratio"] = round((r["seconds_per_turn"] / r["personas"]) / base, 3)
    result = {"suite": "core", "turns": turns, "seed": seed, "baseline_personas": rows[0]["personas"],
              "cpu_count": os.cpu_count(), "python": sys.version.split()[0], "results": rows}
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print("cost per persona-turn relative to the smallest cast: "
          + ", ".join(f"{r['personas']}: {r['cost_ratio']}x" for r in rows))
    print(f"wrote {path}")
    return result


if __name__ == "__main__":  # the per-size worker: python -m novel_engine.bench N TURNS SEED
    print(json.dumps(measure_core(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))))
