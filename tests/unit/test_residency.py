"""Where a hosted session lives and when it leaves memory (the pure rules of the session hosts)."""

from __future__ import annotations

import pytest

from novel_engine.errors import ConfigError
from novel_engine.runtime.residency import HostSettings, Residency, host_of


def test_a_session_s_host_follows_from_its_id_alone():
    assert [host_of("abc", 4) for _ in range(3)] == [host_of("abc", 4)] * 3
    assert {host_of(f"s{i}", 4) for i in range(200)} == {0, 1, 2, 3}
    moved = sum(host_of(f"s{i}", 4) != host_of(f"s{i}", 5) for i in range(1000))
    assert moved < 350  # rendezvous hashing: a fifth move to the new host, not most of them
    assert all(host_of(f"s{i}", 1) == 0 for i in range(20))


def test_idle_sessions_and_least_recently_used_first():
    r = Residency(idle_s=10)
    r.touch("a", 0)
    r.touch("b", 5)
    r.touch("c", 8)
    r.touch("a", 9)  # used again: now the most recent
    assert r.idle(16) == ["b"]
    assert r.idle(18.5, busy=["b"]) == ["c"]
    assert r.least_recent(2) == ["b", "c"]
    assert r.least_recent(5, busy=["c"]) == ["b", "a"]
    r.drop("b", evicted=True)
    assert "b" in r.evicted and len(r) == 2
    r.touch("b", 30)  # came back
    assert "b" not in r.evicted
    r.drop("c", evicted=False)  # ended for good: nobody waits for it
    assert "c" not in r.evicted and r.least_recent(5) == ["a", "b"]
    assert Residency(idle_s=0).idle(1e9) == []


def test_dropped_ids_are_remembered_up_to_a_bound():
    r = Residency(idle_s=1, remember=3)
    for i in range(5):
        r.touch(f"s{i}", 0)
        r.drop(f"s{i}", evicted=True)
    assert list(r.evicted) == ["s2", "s3", "s4"]


def test_host_settings_are_checked_and_the_budget_is_a_fraction_or_bytes():
    assert HostSettings(memory_budget=0.5).budget_bytes(1000) == 500
    assert HostSettings(memory_budget=4096).budget_bytes(10**9) == 4096
    assert HostSettings().budget_bytes(1000) == 0
    for bad in ({"hosts": 0}, {"idle_s": -1}, {"sweep_s": 0}, {"memory_budget": -0.1}):
        with pytest.raises(ConfigError):
            HostSettings(**bad)
