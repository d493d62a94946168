"""The arithmetic of ``bench load``, kept free of I/O so it can be tested alone.

- :func:`latency_summary`: count, p50/p99/max (nearest rank) of a list of seconds, in ms;
- :func:`thin_series`: a memory series cut down to a few dozen points for the JSON;
- :func:`turn_digest` and :func:`exactly_once`: whether every turn the API answered 200 is in
  the store exactly once, as it was answered;
- :func:`plot_memory`: the memory series as a PNG when matplotlib is installed.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["latency_summary", "thin_series", "turn_digest", "exactly_once", "plot_memory", "percentile", "print_load"]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (nearest rank) of ``values``; 0.0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = -(-q * len(ordered) // 100)  # ceil without floats drifting at q=100
    return ordered[max(0, min(len(ordered) - 1, int(rank) - 1))]


def latency_summary(seconds: Sequence[float]) -> dict[str, Any]:
    """``{"n", "p50_ms", "p99_ms", "max_ms"}`` of latencies given in seconds (zeros when there are none)."""
    return {
        "n": len(seconds),
        "p50_ms": round(percentile(seconds, 50) * 1000, 1),
        "p99_ms": round(percentile(seconds, 99) * 1000, 1),
        "max_ms": round(max(seconds, default=0.0) * 1000, 1),
    }


def thin_series(points: Sequence[Mapping[str, Any]], keep: int = 60) -> list[dict[str, Any]]:
    """At most ``keep`` evenly spaced points of ``points``, always with the first and the last."""
    if len(points) <= keep:
        return [dict(p) for p in points]
    step = (len(points) - 1) / (keep - 1)
    return [dict(points[round(i * step)]) for i in range(keep)]


def turn_digest(turn: Mapping[str, Any]) -> str:
    """What identifies a played turn's outcome: its number, prose and tension (a replayed turn that
    told something else digests differently)."""
    text = f"{int(turn['turn'])}\n{float(turn['tension']):.6f}\n{turn['prose']}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def exactly_once(
    answered: Iterable[Sequence[Any]], stored: Mapping[str, Sequence[Mapping[str, Any]]]
) -> dict[str, Any]:
    """Compare the turns answered 200 with the store's.

    Args:
        answered: ``(session_id, turn, digest)`` of every turn the API answered 200.
        stored: per session, its stored turns as :func:`turn_digest` takes them (``turn``,
            ``tension``, ``prose``), in the store's order.

    Returns:
        ``ok`` and what broke it: ``missing`` (answered, not stored), ``stored_twice`` (a turn
        number stored more than once), ``answered_twice`` (two 200 answers for one turn: a turn
        played twice), ``differs`` (stored with another outcome than answered), ``gaps`` (a
        session's stored turns not numbered 1..n); ``stored_unanswered`` counts turns stored
        without a 200 answer (a request that timed out after its commit), which is not an error.
    """
    answers = Counter((sid, int(turn)) for sid, turn, _ in answered)
    digests = {(sid, int(turn)): digest for sid, turn, digest in answered}
    missing, stored_twice, differs, gaps = [], [], [], []
    stored_unanswered = 0
    for sid, turns in stored.items():
        numbers = Counter(int(t["turn"]) for t in turns)
        stored_twice += [[sid, n] for n, c in sorted(numbers.items()) if c > 1]
        if sorted(numbers) != list(range(1, len(numbers) + 1)):
            gaps.append(sid)
        for t in turns:
            key = (sid, int(t["turn"]))
            if key not in digests:
                stored_unanswered += 1
            elif turn_digest(t) != digests[key]:
                differs.append([sid, key[1]])
    for sid, turn in sorted(answers):
        if not any(int(t["turn"]) == turn for t in stored.get(sid, ())):
            missing.append([sid, turn])
    answered_twice = [[sid, turn] for (sid, turn), c in sorted(answers.items()) if c > 1]
    return {
        "ok": not (missing or stored_twice or answered_twice or differs or gaps),
        "answered_200": sum(answers.values()),
        "stored": sum(len(t) for t in stored.values()),
        "sessions_checked": len(stored),
        "missing": missing,
        "stored_twice": stored_twice,
        "answered_twice": answered_twice,
        "differs": differs,
        "gaps": gaps,
        "stored_unanswered": stored_unanswered,
    }


def plot_memory(series: Sequence[Mapping[str, Any]], path: str | Path, title: str) -> str:
    """Draw memory in use (and sessions created) over time to ``path``; return what happened
    (the path, or why there is no PNG: matplotlib comes with the ``notebooks`` extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        return "no PNG: matplotlib is not installed (pip install 'novel-engine[notebooks]')"
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=100)
    t = [p["t_s"] for p in series]
    ax.plot(t, [p["used_mib"] / 1024 for p in series], label="memory in use (GiB)")
    if any(p.get("app_mib") is not None for p in series):
        app = [p["app_mib"] / 1024 if p.get("app_mib") is not None else float("nan") for p in series]
        ax.plot(t, app, color="tab:green", label="the app's processes (GiB, PSS)")
    ax.set_xlabel("seconds")
    ax.set_ylabel("GiB in use (whole machine)")
    ax2 = ax.twinx()
    ax2.plot(t, [p["sessions"] for p in series], color="tab:orange", label="sessions created")
    ax2.set_ylabel("sessions created")
    ax.set_title(title)
    fig.legend(loc="lower right", bbox_to_anchor=(0.85, 0.2))  # clear of the title and the rising lines
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return str(path)


def print_load(r: Mapping[str, Any]) -> None:
    """Print ``bench load``'s figures (the JSON it writes), a few lines a person reads at a glance."""
    t, lat = r["throughput"], r["latency"]
    print(
        f"{r['sessions_created']} sessions created in {r['elapsed_s']} s"
        + (f" (creation stopped: {r['creation_stopped']})" if r["creation_stopped"] else "")
        + f"; {t['turns_per_s']} turns/s, {t['creates_per_s']} creates/s, {t['gets_per_s']} GETs/s"
        + (f" (each player reading {r['pause_s']:g} s per turn)" if r.get("pause_s") else "")
    )
    for kind in ("create", "turn", "get", "ws"):
        s = lat[kind]
        print(f"  {kind:>6}: n {s['n']:>6}  p50 {s['p50_ms']:>9} ms  p99 {s['p99_ms']:>9} ms  {r['statuses'][kind]}")
    m, c = r["memory"], r["exactly_once"]
    print(f"  memory in use: {m['start_used_mib']} MiB at start, peak {m['peak_used_mib']} MiB ({m['png']})")
    if m.get("peak_app_mib") is not None:
        print(f"  the app's processes (PSS): peak {m['peak_app_mib']} MiB, at the end {m['end_app_mib']} MiB")
    print(f"  load average at end (1, 5, 15 min): {r['load_average_at_end']} on {r['cpu_count']} CPUs")
    verdict = ("OK" if c["answered_200"] else "OK (no turn answered: nothing to check)") if c["ok"] else "FAILED"
    print(
        f"  exactly once: {verdict}: {c['answered_200']} turns answered 200, {c['stored']} stored, "
        f"missing {len(c['missing'])}, stored twice {len(c['stored_twice'])}, answered twice "
        f"{len(c['answered_twice'])}, differ {len(c['differs'])}, gaps {len(c['gaps'])}",
        flush=True,
    )
