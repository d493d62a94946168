"""The scaling arithmetic of ``bench runtime``: parallelism, the breakdown of a Ray turn, the
projection onto K nodes and the work per node (pure, no Ray)."""

from __future__ import annotations

import pytest

from novel_engine.benchmarks.scaling import (
    mean_breakdown,
    parallelism,
    per_node,
    project_turn,
    scaling_figures,
    turn_breakdown,
    where_time_goes,
)

DIRECTOR = {
    "perceive": 0.1,
    "believe": 0.0,
    "brief": 0.0,
    "decide": 1.0,
    "resolve": 0.3,
    "narrate": 0.05,
    "commit": 0.05,
}


def _shard(role, cpu, process_cpu=None, wall=None, wait=0.0, node="n1"):
    return {
        "role": role,
        "node": node,
        "cpu": cpu,
        "process_cpu": cpu if process_cpu is None else process_cpu,
        "wall": cpu if wall is None else wall,
        "wait_views": wait,
    }


SHARDS = [
    _shard("belief", 0.1, node="a"),
    _shard("belief", 0.3, node="b"),
    _shard("persona", 0.2, process_cpu=0.25, wait=0.3, node="a"),
    _shard("persona", 0.5, process_cpu=0.55, wait=0.3, node="b"),
]


def test_parallelism_is_total_over_critical_path():
    assert parallelism(8.0, 1.0) == 8.0
    assert parallelism(3.0, 3.0) == 1.0
    assert parallelism(0.0, 0.0) == 1.0  # no work: nothing to share


def test_a_turn_breaks_down_into_serial_phases_parallel_phases_and_overheads():
    b = turn_breakdown(2.0, DIRECTOR, SHARDS, narrate_cpu=0.04)
    ph = b["phases"]
    assert ph["believe"]["total_cpu_s"] == pytest.approx(0.4)
    assert ph["believe"]["critical_path_s"] == pytest.approx(0.3)
    assert ph["believe"]["parallelism"] == pytest.approx(0.4 / 0.3)
    assert ph["brief_decide"]["total_cpu_s"] == pytest.approx(0.8)  # process CPU, Ray's threads included
    assert ph["brief_decide"]["critical_path_s"] == pytest.approx(0.55)
    assert ph["brief_decide"]["work_cpu_s"] == pytest.approx(0.7)
    assert ph["brief_decide"]["ray_thread_cpu_s"] == pytest.approx(0.1)
    assert ph["resolve"] == {
        "shards": 1,
        "wall_s": 0.3,
        "total_cpu_s": 0.3,
        "critical_path_s": 0.3,
        "parallelism": 1.0,
    }
    assert ph["narrate"]["total_cpu_s"] == pytest.approx(0.04) and ph["narrate"]["wall_s"] == pytest.approx(0.05)
    assert b["serial_s"] == pytest.approx(0.5)
    assert b["cast_shard_span_s"] == pytest.approx(0.8)  # waited 0.3 for views, then worked 0.5
    assert b["cast_overhead_s"] == pytest.approx(0.2)  # the director's 1.0 s span minus the shards' 0.8
    assert b["driver_overhead_s"] == pytest.approx(0.5)  # 2.0 - 1.0 (cast) - 0.5 (serial)
    # the whole turn: (serial + all shard CPU) / (serial + the slowest shard of each parallel phase)
    assert b["turn_parallelism"] == pytest.approx((0.5 + 0.4 + 0.8) / (0.5 + 0.3 + 0.55))


def test_the_projection_is_serial_plus_overheads_plus_the_parallel_phases_shared_by_k_cores():
    b = turn_breakdown(2.0, DIRECTOR, SHARDS)
    fixed = 0.5 + 0.2 + 0.5
    assert project_turn(b, 1) == pytest.approx(fixed + 0.4 + 0.8)  # one core does all the shards' work
    assert project_turn(b, 2) == pytest.approx(fixed + max(0.3, 0.2) + max(0.55, 0.4))
    # more cores than shards: the slowest shard is the floor
    assert project_turn(b, 16) == pytest.approx(fixed + 0.3 + 0.55)
    assert project_turn(b, 1, cores_per_node=2) == pytest.approx(project_turn(b, 2))
    # never faster with fewer nodes
    times = [project_turn(b, k) for k in (1, 2, 3, 4, 8)]
    assert times == sorted(times, reverse=True)
    assert project_turn(b, 2, overheads=False) == pytest.approx(project_turn(b, 2) - 0.2 - 0.5)
    with pytest.raises(ValueError):
        project_turn(b, 0)


def test_the_mean_of_turns_keeps_counts_and_recomputes_the_ratios():
    one = turn_breakdown(2.0, DIRECTOR, SHARDS)
    two = turn_breakdown(4.0, {**DIRECTOR, "decide": 3.0}, [{**s, "process_cpu": s["process_cpu"] * 3} for s in SHARDS])
    m = mean_breakdown([one, two])
    assert m["turn_s"] == pytest.approx(3.0)
    assert m["phases"]["believe"]["shards"] == 2
    p = m["phases"]["brief_decide"]
    assert p["total_cpu_s"] == pytest.approx((0.8 + 2.4) / 2)
    assert p["parallelism"] == pytest.approx(p["total_cpu_s"] / p["critical_path_s"])
    assert mean_breakdown([]) == {}


def test_work_is_counted_per_node_under_readable_names():
    nodes = per_node(SHARDS, {"a": "bench_node0", "b": "bench_node1"})
    assert list(nodes) == ["bench_node0", "bench_node1"]
    assert nodes["bench_node0"]["shards"] == 2
    assert nodes["bench_node0"]["cpu_s"] == pytest.approx(0.35)
    assert nodes["bench_node1"]["roles"] == {"belief": 1, "persona": 1}


def test_where_the_time_goes_is_largest_first_and_the_figures_are_per_turn():
    b = turn_breakdown(2.0, DIRECTOR, SHARDS)
    parts = where_time_goes(b)
    assert [s for _, s in parts] == sorted((s for _, s in parts), reverse=True)
    assert parts[0][0].startswith("brief_decide slowest shard")  # 0.55 s
    figures = scaling_figures([(2.0, DIRECTOR, SHARDS, None)] * 2, {"a": "A", "b": "B"})
    assert figures["per_node"]["A"]["shards"] == 2  # per turn, not summed over the two
    assert figures["per_node"]["A"]["cpu_s"] == pytest.approx(0.35)
    assert figures["projected_turn_s"]["1"] == pytest.approx(project_turn(b, 1), abs=1e-4)
    assert set(figures["projected_turn_s"]) == {"1", "2", "3", "4", "8", "16"}


def test_the_driver_overhead_splits_into_its_calls_and_the_store():
    # the driver's turn 2.0 s: the step call took 1.7 (the director's phases 1.5 of it), publishing
    # 0.1, no checkpoint: the store's part is what is left of the 0.5 s driver overhead
    b = turn_breakdown(2.0, DIRECTOR, SHARDS, driver={"step": 1.7, "publish": 0.1, "checkpoint": 0.0})
    assert b["driver"]["director_call_s"] == pytest.approx(0.2)
    assert b["driver"]["publish_s"] == pytest.approx(0.1)
    assert b["driver"]["store_s"] == pytest.approx(0.2)
    parts = dict(where_time_goes(b))
    assert parts["driver: the store (head read, turn commit)"] == pytest.approx(0.2)
    assert not any(k.startswith("driver overhead") for k in parts)  # split, not counted twice
    assert "driver" not in turn_breakdown(2.0, DIRECTOR, SHARDS)
    # the turn's time holds the wait for the shards' work ahead of the next turn: its own part
    ahead = turn_breakdown(2.0, DIRECTOR, SHARDS, driver={"step": 1.7, "publish": 0.1, "ahead": 0.15})["driver"]
    assert ahead["ahead_s"] == pytest.approx(0.15) and ahead["store_s"] == pytest.approx(0.05)


def test_the_cast_overhead_splits_into_dispatch_and_results_by_the_wall_clocks():
    # step began at t=100; perceive 0.1 s, so the cast began at 100.1 and spans 1.0 s (to 101.1);
    # the first shard call ran at 100.25, the last persona shard ended at 100.95
    timed = [
        {**s, "start": 100.25 + 0.1 * i, "end": 100.95 - 0.1 * (s["role"] == "belief")} for i, s in enumerate(SHARDS)
    ]
    b = turn_breakdown(2.0, DIRECTOR, timed, driver={"step": 1.7, "step_start": 100.0})
    assert b["cast_dispatch_s"] == pytest.approx(0.15)
    assert b["cast_results_s"] == pytest.approx(0.15)
    assert b["cast_in_shards_s"] == pytest.approx(0.7)
    assert b["persona_start_lag_s"] == pytest.approx(0.3)  # the last persona shard began at 100.55
    assert "cast_dispatch_s" not in turn_breakdown(2.0, DIRECTOR, SHARDS, driver={"step": 1.7})


def test_a_packed_cast_perceives_in_parallel_in_its_persona_shards():
    """A packed cast's shards route the fragments themselves: their ``perceive`` parts are a
    parallel phase, and the director's serial perceive is what it spent (nothing)."""
    director = {**DIRECTOR, "perceive": 0.0}
    shards = [
        _shard("perceive", 0.4, node="a"),
        _shard("perceive", 0.6, node="b"),
        _shard("persona", 0.5, node="a"),
        _shard("persona", 0.7, node="b"),
    ]
    b = turn_breakdown(2.0, director, shards)
    p = b["phases"]["perceive_sharded"]
    assert p["shards"] == 2 and p["total_cpu_s"] == pytest.approx(1.0) and p["critical_path_s"] == pytest.approx(0.6)
    assert b["phases"]["perceive"]["wall_s"] == 0.0
    # on one core the shards' perceive adds its whole CPU, on two or more only the slowest shard's
    assert project_turn(b, 1) - project_turn(b, 2) == pytest.approx((1.0 - 0.6) + (1.2 - 0.7))
