"""``novel-engine bench runtime`` at a tiny size: the scaling figures of a Ray turn, and the same
story on a three-node ``ray.cluster_utils.Cluster`` as in process, with work on every node.

The workers start their own Ray instances (one local, one three-node cluster), never the test
session's cluster."""

from __future__ import annotations

import json

from novel_engine.cli import main


def test_bench_runtime_reports_scaling_and_plays_the_same_story_on_three_nodes(tmp_path, capsys):
    out = tmp_path / "runtime.json"
    args = ["bench", "runtime", "--personas", "200", "--turns", "2", "--parts", "compare,cluster", "--out", str(out)]
    assert main(args) == 0
    doc = json.loads(out.read_text())
    rows = {r["kind"]: r for r in doc["results"]}
    assert set(rows) == {"local", "ray", "cluster"}
    assert len(doc["load_average"]) == len(doc["load_average_before"]) == 3
    local, ray_row, cluster = rows["local"], rows["ray"], rows["cluster"]
    assert ray_row["story_sha256"] == local["story_sha256"] == cluster["story_sha256"]
    assert ray_row["same_story_as_local"] is True and cluster["same_story_as_local"] is True
    assert all(r["cpu_seconds_per_turn"] > 0 for r in rows.values()) and ray_row["cpu_ratio_to_local"] > 0
    # all of a Ray instance's processes, shared pages counted once in each (RSS) and shared out (PSS)
    assert 0 < ray_row["pss_mib"] < ray_row["rss_mib"] and local["pss_mib"] == local["rss_mib"] > 0
    for row in (ray_row, cluster):
        sc = row["scaling"]
        phases = sc["breakdown"]["phases"]
        assert set(phases) == {
            "perceive",
            "perceive_sharded",
            "believe",
            "brief_decide",
            "resolve",
            "narrate",
            "commit",
        }
        for name in ("perceive_sharded", "believe", "brief_decide"):  # a packed cast perceives in its shards
            p = phases[name]
            assert p["shards"] >= 2
            assert 0 < p["critical_path_s"] <= p["total_cpu_s"]
            assert 1.0 <= p["parallelism"] <= p["shards"]
        assert phases["resolve"]["parallelism"] == 1.0
        projected = sc["projected_turn_s"]
        assert set(projected) == {"1", "2", "3", "4", "8", "16"}
        assert projected["1"] >= projected["2"] >= projected["16"] > 0
        assert sc["where_time_goes"] and all(s >= 0 for _, s in sc["where_time_goes"])
    nodes = cluster["scaling"]["per_node"]
    assert sorted(nodes) == ["bench_node0", "bench_node1", "bench_node2"]
    for node in nodes.values():  # the shards spread (room for one on each node): every node works
        assert node["shards"] == 1 and node["cpu_s"] > 0
    roles = [(role, n) for node in nodes.values() for role, n in node["roles"].items()]
    # each persona shard holds its personas' beliefs too: both roles on every node
    assert sum(n for role, n in roles if role == "persona") == sum(n for role, n in roles if role == "belief") == 3
    printed = capsys.readouterr().out
    assert "where a ray turn of 200 personas goes" in printed
    assert "same story as in process: True" in printed
