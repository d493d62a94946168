"""Benchmarks: ``novel-engine bench runtime``, the Ray runtime beside the in-process one.

Each figure is measured in a fresh interpreter (``python -m novel_engine.benchmarks.runtime_bench
KIND N TURNS SEED [SHARDS]``), so its memory is its own. Beside the turn times, every Ray row
says where a turn's time goes and how it would scale (:mod:`novel_engine.benchmarks.scaling`,
read from the shards between turns by :mod:`novel_engine.benchmarks.ray_probe`), and one run
plays the same story on a three-node ``ray.cluster_utils.Cluster``.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections.abc import Sequence
from typing import Any

from novel_engine.benchmarks import core, write_results
from novel_engine.benchmarks.core import ideal_turn_seconds
from novel_engine.errors import BenchmarkError

__all__ = ["bench_runtime", "measure_runtime", "PARTS", "CLUSTER_NODES"]

CLUSTER_NODES = 3  # the multi-node run of ``bench runtime``


def _worker(args: Sequence[str]) -> dict[str, Any]:
    # through ``core`` at call time, so a test can stand in for every worker at once
    return core._run_worker(list(args), module="novel_engine.benchmarks.runtime_bench")


def _ray_memory_mib() -> tuple[float, float]:
    """Resident memory of this driver and every process it started (the Ray instance it runs:
    GCS, raylet, workers), in MiB, summed two ways: RSS, which counts a page shared by several
    processes (libraries, the object store) once in each, and PSS, which shares it out among
    them (their sum is what the processes hold together). Other Ray instances are not counted."""
    import psutil

    me = psutil.Process()
    rss = pss = 0
    for proc in [me, *me.children(recursive=True)]:
        try:
            mem = proc.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        rss += mem.rss
        pss += getattr(mem, "pss", mem.rss)  # Linux has PSS; elsewhere RSS stands in
    return round(rss / 2**20, 1), round(pss / 2**20, 1)


def _all_cpu() -> float:
    """CPU seconds (user and system) of this process and every process it started: on Ray, the
    whole instance it runs (raylet, GCS, workers, and the nodes of a cluster started here)."""
    import psutil

    me = psutil.Process()
    total = sum(me.cpu_times()[:2])
    for proc in me.children(recursive=True):
        try:
            total += sum(proc.cpu_times()[:2])
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


def measure_runtime(
    kind: str,
    personas: int,
    turns: int,
    seed: int,
    shards: int | None = None,
    graph_shards: int | None = None,
    resolver_shards: int | None = None,
) -> dict[str, Any]:
    """One runtime figure, measured in this process (after one warm-up turn that is not counted).

    kind: ``local`` / ``ray`` (a synthetic cast of ``personas``), ``cluster`` (the same on a
    three-node ``ray.cluster_utils.Cluster`` started here, shards spread over the nodes),
    ``llm-local`` / ``llm-ray`` (a model of 100 ms per call behind a cap of 64 concurrent calls),
    ``small`` (a 4-to-8-persona built-in story on Ray, one actor per persona). ``shards``: the
    persona shards on Ray (None: the runtime's choice; 3 on the cluster). ``graph_shards``: the
    causal-graph shards, on both runtimes (None: the director holds the graph). ``resolver_shards``:
    the shards that settle the regions, on both runtimes (None: the director settles them).

    The synthetic kinds report ``story_sha256`` (the Markdown story and every event), the Ray ones
    ``scaling`` (see :mod:`novel_engine.benchmarks.scaling`), read from the shards between turns.
    """
    from contextlib import ExitStack

    from novel_engine.api import Engine
    from novel_engine.llm.wrappers import ConcurrencyLimit
    from novel_engine.scenarios.synthetic import synthetic
    from novel_engine.testing.models import SlowModel

    runtime = "local" if kind in ("local", "llm-local") else "ray"
    model = None
    cap = 64
    model_latency_s = 0.1
    if kind.startswith("llm"):
        model = SlowModel(latency_s=model_latency_s)
    settings: dict[str, Any] = {"persona_shards": shards} if shards and runtime == "ray" else {}
    if graph_shards:
        settings["graph_shards"] = graph_shards
    if resolver_shards:
        settings["resolver_shards"] = resolver_shards
    limiter = None
    scenario = "fantasy_world" if kind == "small" else synthetic(personas=personas, seed=seed)
    stack = ExitStack()
    address, actor_options, node_names = ("local" if runtime == "ray" else None), None, None
    if kind == "cluster":
        from novel_engine.benchmarks.ray_probe import SHARD_RESOURCE, local_cluster
        from novel_engine.runtime.sharding import plan_shards

        settings["persona_shards"] = shards or CLUSTER_NODES
        plan = plan_shards([p.id for p in scenario.personas], None, settings["persona_shards"])
        address, node_names = stack.enter_context(
            local_cluster(
                CLUSTER_NODES, len(plan.persona_shards) + len(plan.belief_shards) * (not plan.beliefs_in_persona_shards)
            )
        )
        actor_options = {"resources": {SHARD_RESOURCE: 1}}
    if kind == "llm-ray":
        # one cap of 64 for the whole cluster: every persona shard asks the same limiter actor
        from novel_engine.llm.limits import RateLimitedModel
        from novel_engine.runtime.ray.connection import connect
        from novel_engine.runtime.ray.limiter import cluster_limiter

        connect("local")
        limiter = f"bench-{os.getpid()}"
        model = RateLimitedModel(model, cluster_limiter(limiter, cap), local_cap=cap)
    elif kind == "llm-local":
        model = ConcurrencyLimit(model, cap)
    # a Ray instance of its own ("local" or the cluster started above), never one some other
    # process started on this machine
    engine = Engine(runtime, model=model, address=address, actor_options=actor_options)
    c0, t0 = _all_cpu(), time.perf_counter()
    session = engine.create_session(scenario, seed=seed, **settings)
    setup = time.perf_counter() - t0
    setup_cpu = _all_cpu() - c0  # every process's: on Ray, the actors' starts and the world's transfer
    per_turn, calls, breakdowns = [], [], []
    phases: dict[str, float] = {}
    probe = clock = None
    try:
        if kind in ("ray", "cluster"):
            from novel_engine.benchmarks.ray_probe import DriverClock, ShardProbe

            probe, clock = ShardProbe(session), DriverClock(session)
        session.step()  # warm-up: the first call into each actor imports and loads what it needs
        if probe is not None:
            probe.read()  # the shards' CPU clocks from here on
            clock.take()
        cpu = 0.0
        for _ in range(turns):
            c, t = _all_cpu(), time.perf_counter()
            report = session.step()
            calls.append(sum(1 for e in report.events if e.kind == "action") + 1)  # decisions + narration
            for k, v in report.timings.items():
                phases[k] = phases.get(k, 0.0) + v / turns
            if probe is not None:
                # between turns, and inside the turn's time: a shard answers once the work it does
                # after a turn for the next (perceive_ahead) is done, which the next turn would
                # otherwise wait for. Left out, that work would take no time at all.
                w = time.perf_counter()
                samples, narrate_cpu = probe.read()
                driver = {**clock.take(), "ahead": time.perf_counter() - w}
            per_turn.append(time.perf_counter() - t)
            cpu += _all_cpu() - c
            if probe is not None:
                breakdowns.append((per_turn[-1], dict(report.timings), samples, narrate_cpu, driver))
        if runtime == "ray":
            rss, pss = _ray_memory_mib()
        else:  # one process: its peak
            rss = pss = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        story = _story_hash(session) if kind in ("local", "ray", "cluster") else None
    finally:
        session.close()
        if limiter is not None:
            from novel_engine.runtime.ray.limiter import kill_limiter

            kill_limiter(limiter)
        stack.close()
    mean = sum(per_turn) / len(per_turn)
    row = {
        "kind": kind,
        "runtime": runtime,
        "personas": len(session.scenario.personas),
        "turns": turns,
        "setup_s": round(setup, 3),
        "setup_cpu_s": round(setup_cpu, 3),
        "seconds_per_turn": round(mean, 4),
        # the CPU the turn costs, whatever the machine's other load does to the wall time
        "cpu_seconds_per_turn": round(cpu / turns, 4),
        "persona_turns_per_s": round(len(session.scenario.personas) / mean, 1),
        "rss_mib": rss,
        "pss_mib": pss,
        "phase_seconds": {k: round(v, 4) for k, v in phases.items()},
    }
    if story is not None:
        row["story_sha256"] = story
    if breakdowns:
        from novel_engine.benchmarks.scaling import scaling_figures

        row["scaling"] = scaling_figures(breakdowns, node_names)
    if kind.startswith("llm"):
        ideal = [ideal_turn_seconds(c, cap, model_latency_s) for c in calls]
        row["ideal_seconds_per_turn"] = round(sum(ideal) / len(ideal), 4)
        row["ratio_to_ideal"] = round(mean / row["ideal_seconds_per_turn"], 3)
    return row


def _story_hash(session: Any) -> str:
    """SHA-256 of the session's story: its Markdown and every event (the same on both runtimes)."""
    import hashlib

    digest = hashlib.sha256(session.markdown().encode("utf-8"))
    for event in session.events():
        digest.update(json.dumps(event.to_dict(), sort_keys=True).encode("utf-8"))
    return digest.hexdigest()


PARTS = ("compare", "llm", "small", "cluster")  # what ``bench runtime`` runs, all by default


def bench_runtime(
    sizes: list[int],
    turns: int = 3,
    seed: int = 1,
    llm_personas: int = 1000,
    out: str | os.PathLike = "bench-results/runtime.json",
    *,
    shards: int | None = None,
    cluster_personas: int | None = None,
    parts: Sequence[str] = PARTS,
    graph_shards: int | None = None,
    resolver_shards: int | None = None,
) -> dict[str, Any]:
    """Ray runtime against the in-process one (same run), the LLM-bound turn, a small cast, and a
    session on a three-node cluster.

    Every Ray row carries ``scaling``: per phase the total CPU over the shards, the slowest
    shard's (the critical path) and their ratio (the parallelism), the overheads, and the turn
    projected on K nodes (:func:`novel_engine.benchmarks.scaling.project_turn`). The cluster row
    (``cluster_personas``, default the smallest size) adds the shards and CPU per node, and
    ``same_story_as_local`` says whether its story hashes as the in-process one's.

    Args:
        shards: persona shards on Ray (None: the runtime's choice; 3 on the cluster).
        graph_shards: causal-graph shards on both runtimes (None: the director holds the graph).
        resolver_shards: resolver shards on both runtimes (None: the director settles the regions).
        parts: which of ``PARTS`` to run (``compare``: local and Ray at each size).
    """
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise BenchmarkError(f"unknown parts {sorted(unknown)}; choose from {list(PARTS)}")
    from novel_engine.benchmarks.scaling import describe

    rows = []
    load_before = [round(x, 2) for x in os.getloadavg()]  # the machine is shared: its load is part of the figures
    extra = [str(shards or 0), str(graph_shards or 0), str(resolver_shards or 0)]
    local_hash: dict[int, str] = {}
    for n in sizes if "compare" in parts else ():
        for kind in ("local", "ray"):
            rows.append(_worker([kind, str(n), str(turns), str(seed), *extra]))
            r = rows[-1]
            print(
                f"{kind:>9} {n:>8} personas: {r['seconds_per_turn']:8.3f} s/turn ({r['cpu_seconds_per_turn']:.3f} CPU s, "
                "all its processes) "
                f"{r['persona_turns_per_s']:>10,.0f} persona-turns/s  RSS {r['rss_mib']:8.1f} MiB"
                + (f" (PSS {r['pss_mib']:.1f})" if r["pss_mib"] != r["rss_mib"] else ""),
                flush=True,
            )
        local, ray_row = rows[-2], rows[-1]
        local_hash[n] = local["story_sha256"]
        ray_row["ratio_to_local"] = round(ray_row["seconds_per_turn"] / local["seconds_per_turn"], 3)
        ray_row["cpu_ratio_to_local"] = round(ray_row["cpu_seconds_per_turn"] / local["cpu_seconds_per_turn"], 3)
        ray_row["same_story_as_local"] = ray_row["story_sha256"] == local["story_sha256"]
        print(
            f"          ray / local at {n}: {ray_row['ratio_to_local']}x wall, {ray_row['cpu_ratio_to_local']}x CPU",
            flush=True,
        )
        print("\n".join(describe(ray_row)), flush=True)
    if "llm" in parts:
        for kind in ("llm-local", "llm-ray"):
            r = _worker([kind, str(llm_personas), str(turns), str(seed)])
            rows.append(r)
            print(
                f"{kind:>9} {llm_personas:>8} personas: {r['seconds_per_turn']:8.3f} s/turn, ideal "
                f"{r['ideal_seconds_per_turn']:.3f} s ({r['ratio_to_ideal']}x)",
                flush=True,
            )
    if "small" in parts:
        r = _worker(["small", "0", str(max(turns, 5)), str(seed)])
        rows.append(r)
        print(
            f"small cast on Ray ({r['personas']} personas, one actor each): {r['seconds_per_turn'] * 1000:.1f} ms/turn",
            flush=True,
        )
    if "cluster" in parts:
        n = cluster_personas or min(sizes)
        if n not in local_hash:
            local_hash[n] = _worker(["local", str(n), str(turns), str(seed)])["story_sha256"]
        r = _worker(["cluster", str(n), str(turns), str(seed), *extra])
        r["same_story_as_local"] = r["story_sha256"] == local_hash[n]
        rows.append(r)
        print(
            f"  cluster {n:>8} personas on {CLUSTER_NODES} nodes: {r['seconds_per_turn']:8.3f} s/turn (the nodes share "
            f"this machine's cores), same story as in process: {r['same_story_as_local']}",
            flush=True,
        )
        print("\n".join(describe(r)), flush=True)
    result = {
        "suite": "runtime",
        "turns": turns,
        "seed": seed,
        "cpu_count": os.cpu_count(),
        "load_average_before": load_before,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "results": rows,
    }
    write_results(result, out)
    return result


if __name__ == "__main__":  # a worker: KIND N TURNS SEED [SHARDS [GRAPH_SHARDS]]
    shards = int(sys.argv[5]) if len(sys.argv) > 5 and sys.argv[5] != "0" else None
    graph = int(sys.argv[6]) if len(sys.argv) > 6 and sys.argv[6] != "0" else None
    resolvers = int(sys.argv[7]) if len(sys.argv) > 7 and sys.argv[7] != "0" else None
    args = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), shards, graph, resolvers)
    print(json.dumps(measure_runtime(*args)))
