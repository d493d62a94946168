"""Hop-by-hop walks over a causal graph that may be split across many owners.

The walks never touch a graph directly: they ask a *fetcher* for the links of a whole frontier at
once (``fetch(ids) -> {id: [(neighbour id, strength), ...]}``). A local graph answers from its
adjacency; a sharded graph groups the ids by shard and makes one batched call per shard, so a walk
costs one round of calls per hop however wide the frontier is. Each node is fetched once, then the
strongest paths are computed locally over what was fetched.

Path strength is the product of the link strengths along it (all in [0, 1]), so extending a path
never makes it stronger and a max-product Dijkstra finds the strongest path, cycles included.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from novel_engine.errors import NovelEngineError

__all__ = [
    "ExplanationStep",
    "FetchLinks",
    "FetchInfo",
    "explain_frontier",
    "explain_frontier_async",
    "impact_frontier",
]

#: ``fetch(ids)`` -> for each id it knows, its neighbours as ``(id, strength)``; unknown ids may be left out.
FetchLinks = Callable[[set[str]], Mapping[str, Sequence[tuple[str, float]]]]
#: ``fetch(ids)`` -> for each id it knows, its attributes (at least ``turn`` and ``summary``).
FetchInfo = Callable[[set[str]], Mapping[str, Mapping[str, Any]]]


@dataclass(frozen=True, slots=True)
class ExplanationStep:
    """One cause in the chain behind an event.

    Args:
        event_id: the cause.
        turn: the turn it happened.
        summary: its one-line summary.
        strength: product of the link strengths along the strongest path from it to the explained event.
        depth: hops from the explained event (1 for a direct cause).
    """

    event_id: str
    turn: int
    summary: str
    strength: float
    depth: int


def _walk(start: str, max_depth: int | None) -> Generator[set[str], Mapping[str, Sequence[tuple[str, float]]], tuple]:
    """Breadth-first discovery from ``start``, one frontier per hop: yields the ids to fetch, is
    sent their links, and returns the links fetched and hop depths (so a caller may fetch however
    it must: directly, or awaiting shard actors)."""
    depth = {start: 0}
    links: dict[str, list[tuple[str, float]]] = {}
    frontier = {start}
    hop = 0
    while frontier and (max_depth is None or hop < max_depth):
        answer = yield set(frontier)
        hop += 1
        following: set[str] = set()
        for node in frontier:
            got = [(other, float(strength)) for other, strength in answer.get(node, ())]
            links[node] = got
            for other, _ in got:
                if other not in depth:
                    depth[other] = hop
                    following.add(other)
        frontier = following
    return links, depth


def _discover(
    start: str, fetch: FetchLinks, max_depth: int | None
) -> tuple[dict[str, list[tuple[str, float]]], dict[str, int]]:
    """Breadth-first discovery from ``start``: one ``fetch`` per hop; return the links fetched and hop depths."""
    walk = _walk(start, max_depth)
    try:
        ids = next(walk)
        while True:
            ids = walk.send(fetch(ids))
    except StopIteration as done:
        return done.value


def _strongest(start: str, links: Mapping[str, Sequence[tuple[str, float]]]) -> dict[str, float]:
    """Max-product path strength from ``start`` to every node reachable through ``links``."""
    best = {start: 1.0}
    heap: list[tuple[float, str]] = [(-1.0, start)]
    while heap:
        negative, node = heapq.heappop(heap)
        reached = -negative
        if reached < best[node]:
            continue  # a stronger path to this node was already expanded
        for other, strength in links.get(node, ()):
            candidate = reached * strength
            if candidate > best.get(other, -1.0):
                best[other] = candidate
                heapq.heappush(heap, (-candidate, other))
    return best


def impact_frontier(event_id: str, fetch_children: FetchLinks, max_depth: int | None = None) -> float:
    """Narrative impact: the sum over every descendant of the strongest path strength to it.

    Args:
        event_id: the event whose reach is measured.
        fetch_children: answers a whole frontier's effects in one call (see :data:`FetchLinks`).
        max_depth: stop after this many hops (None: follow every descendant).
    Returns:
        The impact; 0.0 for an event with no descendants.
    Raises:
        NovelEngineError: negative ``max_depth``.
    """
    if max_depth is not None and max_depth < 0:
        raise NovelEngineError("max_depth must not be negative", max_depth=max_depth)
    links, _ = _discover(event_id, fetch_children, max_depth)
    best = _strongest(event_id, links)
    # fsum: the result does not depend on the order in which shards answered
    return math.fsum(strength for node, strength in best.items() if node != event_id)


def explain_frontier(
    event_id: str, fetch_parents: FetchLinks, max_depth: int = 10, *, fetch_info: FetchInfo
) -> list[ExplanationStep]:
    """The causes behind an event, up to ``max_depth`` hops back, root causes first.

    Steps are in topological order (every cause before the causes it led to), ties broken by
    (turn, id), so the list reads as the story of how the event came about.

    Args:
        event_id: the event to explain.
        fetch_parents: answers a whole frontier's causes in one call (see :data:`FetchLinks`);
            called at most ``max_depth`` times.
        max_depth: how many hops back to look (0 gives an empty explanation).
        fetch_info: attributes of the causes found, called once with all of them.
    Returns:
        One :class:`ExplanationStep` per ancestor within ``max_depth`` hops; [] for an uncaused event.
    Raises:
        NovelEngineError: negative ``max_depth``.
    """
    if max_depth < 0:
        raise NovelEngineError("max_depth must not be negative", max_depth=max_depth)
    links, depth = _discover(event_id, fetch_parents, max_depth)
    ancestors = {node for node in depth if node != event_id}
    return _explanation(event_id, links, depth, fetch_info(set(ancestors)) if ancestors else {})


async def explain_frontier_async(
    event_id: str,
    fetch_parents: Callable[[set[str]], Awaitable[Mapping[str, Sequence[tuple[str, float]]]]],
    max_depth: int = 10,
    *,
    fetch_info: Callable[[set[str]], Awaitable[Mapping[str, Mapping[str, Any]]]],
) -> list[ExplanationStep]:
    """:func:`explain_frontier` with fetchers to await (graph shard actors): the same steps.

    Raises:
        NovelEngineError: negative ``max_depth``.
    """
    if max_depth < 0:
        raise NovelEngineError("max_depth must not be negative", max_depth=max_depth)
    walk = _walk(event_id, max_depth)
    try:
        ids = next(walk)
        while True:
            ids = walk.send(await fetch_parents(ids))
    except StopIteration as done:
        links, depth = done.value
    ancestors = {node for node in depth if node != event_id}
    return _explanation(event_id, links, depth, await fetch_info(set(ancestors)) if ancestors else {})


def _explanation(
    event_id: str,
    links: Mapping[str, Sequence[tuple[str, float]]],
    depth: Mapping[str, int],
    info: Mapping[str, Mapping[str, Any]],
) -> list[ExplanationStep]:
    """The steps of an explanation from what a walk fetched, root causes first."""
    ancestors = {node for node in depth if node != event_id}
    if not ancestors:
        return []
    best = _strongest(event_id, links)

    def key(node: str) -> tuple[int, str]:
        return (int(info.get(node, {}).get("turn", 0)), node)

    # Kahn's algorithm over the ancestors, the next candidate picked by (turn, id)
    effects: dict[str, set[str]] = {}
    waiting = {node: 0 for node in ancestors}
    for child, parents in links.items():
        if child not in ancestors:
            continue
        for parent in {p for p, _ in parents if p in ancestors}:
            effects.setdefault(parent, set()).add(child)
            waiting[child] += 1
    ready = [key(node) for node, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    ordered: list[str] = []
    while ready:
        _, node = heapq.heappop(ready)
        ordered.append(node)
        for child in effects.get(node, ()):
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, key(child))
    if len(ordered) < len(ancestors):  # a cycle: keep what is left in (turn, id) order
        placed = set(ordered)
        ordered.extend(sorted((n for n in ancestors if n not in placed), key=key))
    return [
        ExplanationStep(node, key(node)[0], str(info.get(node, {}).get("summary", "")), best[node], depth[node])
        for node in ordered
    ]
