"""A served replica's Prometheus endpoint: every ``novel_engine_*`` metric of its process, the store's
included, and whether its dependencies answer; no id in any label."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families


def test_a_replica_serves_every_novel_engine_metric_with_bounded_labels(serve_server, story, alice):
    assert httpx.get(f"{serve_server.url}/ready", timeout=60).status_code == 200
    alice.get(f"/api/v1/sessions/{story['id']}")
    text = httpx.get(f"{serve_server.url}/metrics", timeout=30).text
    got = {f.name: f.samples for f in text_string_to_metric_families(text)}
    for name in (
        "novel_engine_http_requests",
        "novel_engine_ws_connections",
        "novel_engine_store_cache_hits",
        "novel_engine_store_cache_hit_rate",
        "novel_engine_store_archives",
        "process_resident_memory_bytes",
    ):
        assert name in got, sorted(got)
    up = {s.labels["dependency"]: s.value for s in got["novel_engine_dependency_up"]}
    assert up == {"ray": 1.0, "store": 1.0, "cache": 1.0}
    assert story["id"] not in text and alice.username not in text
