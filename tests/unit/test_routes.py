"""Next hops: lazily grown trees, small (dict, node by node) and large (numpy, a queue at a time),
always equal to a plain breadth-first search from the destination."""

from __future__ import annotations

from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from novel_engine.core import routes
from novel_engine.core.routes import HopTrees


class _Map:
    """The two things HopTrees reads of a world: its places and their (directed) neighbours."""

    def __init__(self, adjacency: dict[str, list[str]]) -> None:
        self.locations = dict.fromkeys(adjacency)
        self._adj = adjacency

    def neighbours(self, place: str) -> list[str]:
        return self._adj[place]


def _reference(m: _Map, here: str, dest: str) -> str | None:
    """The first-in-first-out search from ``dest``, neighbours in id order, run to the end."""
    parent, queue = {dest: None}, deque([dest])
    while queue:
        node = queue.popleft()
        for n in sorted(m.neighbours(node)):
            if n in m.locations and n not in parent:
                parent[n] = node
                queue.append(n)
    return None if here == dest else parent.get(here)


maps = st.integers(1, 40).flatmap(
    lambda n: st.lists(st.lists(st.integers(0, n + 1), max_size=5), min_size=n, max_size=n)
)  # n + 1: a place off the map


@settings(max_examples=150, deadline=None)
@given(maps, st.sampled_from([1, 2, 5, 10_000]), st.data())
def test_next_hops_equal_a_plain_breadth_first_search(rows, grow_from, data):
    ids = [f"p{i:02d}" for i in range(len(rows))]
    m = _Map({ids[i]: [f"p{j:02d}" for j in row] for i, row in enumerate(rows)})
    queries = data.draw(st.lists(st.tuples(st.sampled_from(ids), st.sampled_from(ids)), min_size=1, max_size=60))
    mp = pytest.MonkeyPatch()
    mp.setattr(routes, "LEVEL_GROWTH_FROM", grow_from)  # 1: numpy from the first node; 10,000: never
    try:
        trees = HopTrees()
        for here, dest in queries:
            assert trees.next_hop(m, here, dest) == _reference(m, here, dest), (here, dest)
    finally:
        mp.undo()


def test_a_large_tree_grows_past_the_threshold_and_counts_its_places():
    ring = {f"p{i:04d}": [f"p{(i - 1) % 1000:04d}", f"p{(i + 1) % 1000:04d}"] for i in range(1000)}
    m = _Map(ring)
    trees = HopTrees()
    assert trees.next_hop(m, "p0001", "p0000") == "p0000"
    assert trees.nodes() < routes.LEVEL_GROWTH_FROM  # grown only as far as asked
    assert trees.next_hop(m, "p0500", "p0000") == _reference(m, "p0500", "p0000")
    assert trees._trees["p0000"].big and trees.nodes() == 1000
    assert trees.next_hop(m, "p0000", "p0000") is None and trees.next_hop(m, "nowhere", "p0000") is None


@pytest.mark.parametrize("grow_from", [1, 7, 64])
def test_large_random_maps_in_any_query_order(grow_from, monkeypatch):
    import random

    rng = random.Random(grow_from)
    ids = [f"p{i:03d}" for i in range(400)]
    m = _Map({p: rng.sample(ids, rng.randint(1, 3)) for p in ids})
    monkeypatch.setattr(routes, "LEVEL_GROWTH_FROM", grow_from)
    trees = HopTrees()
    for _ in range(1500):
        here, dest = rng.choice(ids), rng.choice(ids[:40])  # few destinations: trees grow far, then are reused
        assert trees.next_hop(m, here, dest) == _reference(m, here, dest), (here, dest)


def test_the_queue_keeps_the_order_places_were_reached_not_their_id_order(monkeypatch):
    # from d: a then b (id order); a reaches q, b reaches p, so the queue is [q, p] though p < q,
    # and q, first in the queue, is the one that reaches x
    m = _Map({"d": ["a", "b"], "a": ["q"], "b": ["p"], "q": ["x"], "p": ["x"], "x": []})
    assert _reference(m, "x", "d") == "q"
    for grow_from in (1, 10_000):
        monkeypatch.setattr(routes, "LEVEL_GROWTH_FROM", grow_from)
        assert HopTrees().next_hop(m, "x", "d") == "q"
