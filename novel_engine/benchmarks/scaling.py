"""Where a Ray turn's time goes, and what it would take on K nodes (pure arithmetic, no Ray).

The inputs are one turn's measurements: the driver's wall time for the turn, the director's phase
timings (``TurnReport.timings``) and one sample per shard (what its ``last_timings`` said, with the
growth of its process's CPU clock over the turn). :func:`turn_breakdown` turns them into figures
per phase; :func:`project_turn` projects the turn onto a cluster.

The phases of a Ray turn, as they run:

- ``perceive``, ``resolve``, ``commit``: in the director, serial (one process, whatever the cluster);
  a packed cast perceives in its persona shards instead, in parallel (``perceive_sharded``);
- ``narrate``: in the chronicler actor, serial;
- ``believe``: the belief shards, in parallel; ``brief_decide``: the persona shards, in parallel
  (each persona shard starts on its views as soon as every belief shard has sent them). The
  director sees the two as one span (its ``decide`` timing); the part of that span no shard
  accounts for is ``cast_overhead``: building and sending the calls, moving views and results.
- ``driver_overhead``: the driver's turn minus the director's phases (the call to the director,
  the store's commit).

CPU per shard is its process's CPU over the turn (the work itself plus Ray's threads unpickling
arguments and pickling results); ``work_cpu`` is the timed work alone, so ``ray_thread_cpu`` is
what Ray's serialisation costs in the shards.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "PARALLEL",
    "SERIAL",
    "parallelism",
    "turn_breakdown",
    "mean_breakdown",
    "project_turn",
    "per_node",
    "where_time_goes",
    "scaling_figures",
    "PROJECTED_NODES",
]

PROJECTED_NODES = (1, 2, 3, 4, 8, 16)

# phase -> the role of the shards running it (``perceive_sharded``: a packed cast's persona shards
# route the fragments themselves, each over its world replica)
PARALLEL = {"perceive_sharded": "perceive", "believe": "belief", "brief_decide": "persona"}
SERIAL = ("perceive", "resolve", "narrate", "commit")


def parallelism(total: float, critical: float) -> float:
    """Total work over the critical path: how many workers the phase could keep busy (1.0 when
    the critical path is zero, e.g. no work)."""
    return total / critical if critical > 0 else 1.0


def _phase(samples: Sequence[Mapping[str, float]]) -> dict[str, float]:
    cpu = [s["process_cpu"] for s in samples]
    work = [s["cpu"] for s in samples]
    total, critical = sum(cpu), max(cpu, default=0.0)
    return {
        "shards": len(samples),
        "total_cpu_s": total,
        "critical_path_s": critical,
        "parallelism": parallelism(total, critical),
        "work_cpu_s": sum(work),
        "ray_thread_cpu_s": max(0.0, total - sum(work)),
        "max_wall_s": max((s["wall"] for s in samples), default=0.0),
    }


def turn_breakdown(
    turn_s: float,
    director: Mapping[str, float],
    shards: Sequence[Mapping[str, Any]],
    narrate_cpu: float | None = None,
    driver: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """One Ray turn's figures per phase.

    Args:
        turn_s: the driver's wall time for the turn.
        director: the director's phase timings (``perceive``, ``decide``, ``resolve``, ``narrate``,
            ``commit``; ``decide`` is the span of the whole cast: believe, brief and decide).
        shards: one sample per shard: ``role`` (``belief`` / ``persona``), ``wall`` and ``cpu`` (its
            timed work), ``process_cpu`` (its process's CPU over the turn), ``wait_views`` (a
            persona shard's wait for its views, wall) and ``node``.
        narrate_cpu: the chronicler's CPU for its narrate call (None: its wall, the director's figure).
        driver: the driver's seconds in its calls to the session (``step``, ``publish``,
            ``checkpoint``; see ``ray_probe.DriverClock``): they split ``driver_overhead`` into
            ``director_call_s`` (the step call beyond the director's phases: the inputs and the
            report in transit, the director's own work around the pipeline), ``publish_s``,
            ``checkpoint_s``, ``ahead_s`` (``ahead``: the wait, after the turn, for the shards'
            work ahead of the next, which that turn would wait for) and ``store_s`` (the rest: the
            store's reads and the turn's commit).
            With ``step_start`` (the wall clock when the step call began) and the shards'
            ``start`` and ``end`` (wall clocks), the cast overhead splits too: ``cast_dispatch_s``
            from the cast's start (``step_start`` + perceive, the call to the director taken as
            instant; ``step_start`` alone when the shards perceive) to the first shard call running (the director's preparing, pickling and
            sending the calls), ``cast_in_shards_s`` from there to the last persona shard's end,
            ``cast_results_s`` from then to the cast's end (the decisions in transit and unpickled
            in the director), and ``persona_start_lag_s``: how long after the first shard call the
            last persona shard's call began.
    """
    phases: dict[str, dict[str, float]] = {}
    for name in SERIAL:
        wall = float(director.get(name, 0.0))
        cpu = wall if name != "narrate" or narrate_cpu is None else narrate_cpu
        phases[name] = {"shards": 1, "wall_s": wall, "total_cpu_s": cpu, "critical_path_s": cpu, "parallelism": 1.0}
    for name, role in PARALLEL.items():
        phases[name] = _phase([s for s in shards if s["role"] == role])
    persona = [s for s in shards if s["role"] == "persona"]
    cast_wall = float(director.get("decide", 0.0))
    # the shards' side of the cast span: a persona shard's wait for views covers the belief shards
    span = max((s.get("wait_views", 0.0) + s["wall"] for s in persona), default=0.0)
    serial = sum(phases[p]["wall_s"] for p in SERIAL)
    par_total = sum(phases[p]["total_cpu_s"] for p in PARALLEL)
    par_critical = sum(phases[p]["critical_path_s"] for p in PARALLEL)
    driver_overhead = max(0.0, turn_s - cast_wall - serial)
    out = {
        "turn_s": turn_s,
        "phases": phases,
        "cast_wall_s": cast_wall,
        "cast_shard_span_s": span,
        "views_wait_max_s": max((s.get("wait_views", 0.0) for s in persona), default=0.0),
        "cast_overhead_s": max(0.0, cast_wall - span),
        "driver_overhead_s": driver_overhead,
        "serial_s": serial,
        "turn_parallelism": parallelism(serial + par_total, serial + par_critical),
    }
    if driver is not None:
        call = max(0.0, driver.get("step", 0.0) - cast_wall - serial)
        publish, checkpoint = driver.get("publish", 0.0), driver.get("checkpoint", 0.0)
        ahead = driver.get("ahead", 0.0)
        out["driver"] = {
            "director_call_s": call,
            "publish_s": publish,
            "checkpoint_s": checkpoint,
            "ahead_s": ahead,
            "store_s": max(0.0, driver_overhead - call - publish - checkpoint - ahead),
        }
        if "step_start" in driver and persona and all("start" in s for s in shards):
            # a cast that perceives in its shards has the director perceive nothing before the cast
            before = 0.0 if phases["perceive_sharded"]["shards"] else phases["perceive"]["wall_s"]
            cast_start = driver["step_start"] + before
            first = min(s["start"] for s in shards)
            last = max(s["end"] for s in persona)
            out["cast_dispatch_s"] = max(0.0, first - cast_start)
            out["cast_results_s"] = max(0.0, cast_start + cast_wall - last)
            out["cast_in_shards_s"] = max(0.0, last - first)
            # the director sends the belief calls, then builds the patch and the memories, then
            # sends the persona calls: how much later than the first shard the last persona shard began
            out["persona_start_lag_s"] = max(0.0, max(s["start"] for s in persona) - first)
    return out


def mean_breakdown(turns: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The mean of several turns' breakdowns, figure by figure (the same keys)."""
    if not turns:
        return {}

    def mean(values: list[Any]) -> Any:
        if isinstance(values[0], Mapping):
            return {k: mean([v[k] for v in values]) for k in values[0]}
        if all(isinstance(v, int) for v in values) and len(set(values)) == 1:
            return values[0]  # a count (shards), the same every turn
        return sum(values) / len(values)

    out = mean(list(turns))
    for p in out["phases"].values():  # parallelism of the means, not the mean of the ratios
        p["parallelism"] = parallelism(p["total_cpu_s"], p["critical_path_s"])
    return out


def project_turn(b: Mapping[str, Any], nodes: int, cores_per_node: int = 1, overheads: bool = True) -> float:
    """The projected wall time of a turn on ``nodes`` nodes of ``cores_per_node`` cores each.

    Model: T(K) = serial + overheads + sum over parallel phases of max(C, W / (K * c)), where
    serial is the measured wall of the serial phases (perceive, resolve, narrate, commit), the
    overheads are the measured ``cast_overhead`` (dispatch of one call per shard, moving views
    and results) and ``driver_overhead``, kept as measured, W is a parallel phase's total CPU
    over its shards and C its slowest shard's (the critical path). That assumes the shards spread
    evenly over the nodes, each shard runs on one core, and moving data between nodes costs what
    it costs between processes here; a shard count below K * c leaves cores idle, which the max
    with C accounts for. ``overheads=False`` leaves the two overheads out: the turn if they were
    removed.
    """
    if nodes < 1 or cores_per_node < 1:
        raise ValueError("nodes and cores_per_node must be at least 1")
    cores = nodes * cores_per_node
    t = b["serial_s"] + (b["cast_overhead_s"] + b["driver_overhead_s"] if overheads else 0.0)
    for name in PARALLEL:
        p = b["phases"][name]
        t += max(p["critical_path_s"], p["total_cpu_s"] / cores)
    return t


def per_node(shards: Iterable[Mapping[str, Any]], names: Mapping[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Shards and their CPU seconds by node (``names`` maps node ids to readable names)."""
    out: dict[str, dict[str, Any]] = {}
    for s in shards:
        node = (names or {}).get(s["node"], s["node"])
        row = out.setdefault(node, {"shards": 0, "cpu_s": 0.0, "roles": {}})
        row["shards"] += 0 if s.get("part") else 1  # a part: another role of a shard counted already
        row["cpu_s"] += s["process_cpu"]
        row["roles"][s["role"]] = row["roles"].get(s["role"], 0) + 1
    return dict(sorted(out.items()))


def where_time_goes(b: Mapping[str, Any]) -> list[tuple[str, float]]:
    """The turn's wall time split along its critical path, largest first: the serial phases, each
    parallel phase's slowest shard, Ray's serialisation in that shard, the cast's and the driver's
    overheads. Items are (what, seconds)."""
    ph = b["phases"]
    items = [(f"{p} (serial)", ph[p]["wall_s"]) for p in SERIAL]
    for p in PARALLEL:
        items.append(
            (
                f"{p} slowest shard CPU (of {ph[p]['total_cpu_s']:.3f} s over {ph[p]['shards']})",
                ph[p]["critical_path_s"],
            )
        )
    items.append(("cast overhead: dispatch, views and results in transit, contention", b["cast_overhead_s"]))
    if "driver" in b:
        d = b["driver"]
        items.append(
            ("driver: the director call beyond its phases (inputs and report in transit)", d["director_call_s"])
        )
        items.append(("driver: the turn to the event hub (publish)", d["publish_s"]))
        items.append(("driver: checkpoint when due", d["checkpoint_s"]))
        items.append(("driver: the shards still perceiving ahead for the next turn", d.get("ahead_s", 0.0)))
        items.append(("driver: the store (head read, turn commit)", d["store_s"]))
    else:
        items.append(
            ("driver overhead: call to the director, store commit, checkpoint when due", b["driver_overhead_s"])
        )
    return sorted(items, key=lambda kv: -kv[1])


def rounded(value: Any, digits: int = 4) -> Any:
    """``value`` with every float rounded (for JSON)."""
    if isinstance(value, float):
        return round(value, digits) if math.isfinite(value) else value
    if isinstance(value, Mapping):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(v, digits) for v in value]
    return value


def scaling_figures(
    turns: Sequence[tuple[Any, ...]],
    node_names: Mapping[str, str] | None = None,
    cores_per_node: int = 1,
) -> dict[str, Any]:
    """The ``scaling`` figures of a Ray run for its JSON: the mean breakdown of its turns, the
    projected turn on ``PROJECTED_NODES`` nodes (:func:`project_turn`), the shards and CPU seconds
    per turn by node, and where the turn's time goes.

    ``turns``: per measured turn, the arguments of :func:`turn_breakdown` (the driver's wall
    seconds, the director's timings, the shard samples, the chronicler's narration CPU and,
    optionally, the driver's calls).
    """
    b = mean_breakdown([turn_breakdown(*t) for t in turns])
    nodes = per_node([s for t in turns for s in t[2]], node_names)
    for row in nodes.values():
        row["cpu_s"] /= len(turns)
        row["shards"] //= len(turns)
        row["roles"] = {k: v // len(turns) for k, v in row["roles"].items()}
    return rounded(
        {
            "breakdown": b,
            "projection_cores_per_node": cores_per_node,
            "projected_turn_s": {str(k): project_turn(b, k, cores_per_node) for k in PROJECTED_NODES},
            "projected_without_overheads_s": {
                str(k): project_turn(b, k, cores_per_node, overheads=False) for k in PROJECTED_NODES
            },
            "per_node": nodes,
            "where_time_goes": [[what, s] for what, s in where_time_goes(b)],
        }
    )


def describe(row: Mapping[str, Any]) -> list[str]:
    """Lines for the terminal: a Ray row's phases, overheads, projection and nodes."""
    sc = row["scaling"]
    b = sc["breakdown"]
    lines = [f"  where a {row['kind']} turn of {row['personas']} personas goes ({b['turn_s']:.3f} s, mean):"]
    for name, p in b["phases"].items():
        extra = (
            f" work CPU {p['work_cpu_s']:.3f}, Ray threads {p['ray_thread_cpu_s']:.3f}, slowest wall {p['max_wall_s']:.3f}"
            if name in PARALLEL
            else ""
        )
        lines.append(
            f"    {name:<16} shards {p['shards']:>3}  CPU total {p['total_cpu_s']:8.3f}  critical {p['critical_path_s']:8.3f}"
            f"  parallelism {p['parallelism']:5.2f}{extra}"
        )
    lines.append(
        f"    cast span {b['cast_wall_s']:.3f} s: shards {b['cast_shard_span_s']:.3f} (views waited up to "
        f"{b['views_wait_max_s']:.3f}), overhead {b['cast_overhead_s']:.3f}; driver overhead "
        f"{b['driver_overhead_s']:.3f}; turn parallelism {b['turn_parallelism']:.2f}"
    )
    if "cast_dispatch_s" in b:
        lines.append(
            f"    cast by the wall clocks: first shard call running {b['cast_dispatch_s']:.3f} s after the cast "
            f"began, the last persona shard's call {b['persona_start_lag_s']:.3f} s after that, shards "
            f"until the last persona shard's end {b['cast_in_shards_s']:.3f} s, decisions back "
            f"{b['cast_results_s']:.3f} s later"
        )
    if "driver" in b:
        lines.append(
            "    driver overhead: "
            + ", ".join(f"{k.removesuffix('_s').replace('_', ' ')} {v:.3f}" for k, v in b["driver"].items())
        )
    lines.append("    largest first: " + "; ".join(f"{w} {s:.3f}" for w, s in sc["where_time_goes"][:4]))
    lines.append(
        f"    projected turn on K nodes of {sc['projection_cores_per_node']} core(s): "
        + ", ".join(f"K={k}: {v:.3f} s" for k, v in sc["projected_turn_s"].items())
    )
    lines.append(
        "    the same without the cast and driver overheads: "
        + ", ".join(f"K={k}: {v:.3f} s" for k, v in sc["projected_without_overheads_s"].items())
    )
    lines.append(
        "    per node (CPU s/turn): "
        + ", ".join(f"{n[:12]} {r['shards']} shards {r['cpu_s']:.3f}" for n, r in sc["per_node"].items())
    )
    return lines
