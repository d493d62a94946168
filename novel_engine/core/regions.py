"""Regions: connected groups of places, the unit of sharded resolution.

The director settles a turn's actions region by region (see :mod:`novel_engine.agents.regional`):
an act's target must share the actor's place, so almost everything an act touches stays in its
region, and what does not is settled at the end of the turn in event-id order. Resolver shards
take whole regions, so the story depends on the partition into regions but never on how regions
are spread over shards: the partition is a pure function of the map and of where the cast stands,
and never of the shard count.

How places are grouped: places in id order; a region grows breadth-first from the first place
not yet taken (neighbours in id order) until its weight (one per place plus the actors who act
there) reaches the target weight, then the next region starts. Every region is connected. The
target weight is ``max(MIN_REGION_WEIGHT, total / MAX_REGIONS)``: a small cast is one region (so
its story is resolved exactly as one sequence), a large one is at most about ``MAX_REGIONS``
regions of similar weight, enough to balance over 8 shards.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["MIN_REGION_WEIGHT", "MAX_REGIONS", "Partition", "partition_places", "assign_regions"]

MIN_REGION_WEIGHT = 64  # below this a region's work is smaller than the cost of handing it to a shard
MAX_REGIONS = 64


@dataclass(frozen=True, slots=True)
class Partition:
    """Places grouped into regions: ``regions[i]`` is region i's places (sorted), ``of`` maps place -> i,
    ``weights[i]`` is region i's weight (places plus acts)."""

    regions: tuple[tuple[str, ...], ...]
    of: Mapping[str, int]
    weights: tuple[int, ...] = ()

    def __len__(self) -> int:
        return len(self.regions)


def partition_places(
    neighbours: Mapping[str, Sequence[str]],
    load: Mapping[str, int],
    *,
    min_weight: int = MIN_REGION_WEIGHT,
    max_regions: int = MAX_REGIONS,
) -> Partition:
    """Group places into connected regions of similar weight.

    Args:
        neighbours: place id -> the ids of the places next to it (ids not in the map are ignored).
        load: place id -> how many acts happen there (missing: none).
        min_weight: the smallest target weight of a region.
        max_regions: about how many regions a large world is cut into.

    Returns:
        The partition; the same arguments always give the same one.
    """
    places = sorted(neighbours)
    weight = {p: 1 + max(0, int(load.get(p, 0))) for p in places}
    total = sum(weight.values())
    target = max(min_weight, -(-total // max(1, max_regions)))
    of: dict[str, int] = {}
    regions: list[tuple[str, ...]] = []
    for start in places:
        if start in of:
            continue
        index = len(regions)
        members = [start]
        of[start] = index
        got = weight[start]
        queue = deque([start])
        while queue and got < target:
            for n in sorted(neighbours[queue.popleft()]):
                if n in of or n not in weight:
                    continue
                of[n] = index
                members.append(n)
                got += weight[n]
                queue.append(n)
                if got >= target:
                    break
        regions.append(tuple(sorted(members)))
    return _merged(regions, of, neighbours, weight, target)


def _merged(
    regions: list[tuple[str, ...]],
    of: dict[str, int],
    neighbours: Mapping[str, Sequence[str]],
    weight: Mapping[str, int],
    target: int,
) -> Partition:
    """Fold each region lighter than a quarter of the target into its lightest neighbouring region.

    Growing regions one after another leaves scraps where a region ran out of free neighbours
    (about half the regions of a 1,000-place map): each costs a region's fixed overhead and
    balances nothing. Folding keeps every region connected (the scrap touches the region it joins).
    """
    weights = [sum(weight[p] for p in r) for r in regions]
    into = list(range(len(regions)))  # region -> the region it was folded into

    def root(i: int) -> int:
        while into[i] != i:
            i = into[i]
        return i

    for i, places in enumerate(regions):
        if weights[i] * 4 >= target:
            continue
        nearby = sorted(
            {root(of[n]) for p in places for n in neighbours[p] if n in of} - {i},
            key=lambda j: (weights[j], j),
        )
        if nearby:
            j = nearby[0]
            into[i] = j
            weights[j] += weights[i]
    groups: dict[int, list[str]] = {}
    for i, places in enumerate(regions):
        groups.setdefault(root(i), []).extend(places)
    merged = tuple(tuple(sorted(groups[k])) for k in sorted(groups))
    return Partition(
        merged, {p: i for i, r in enumerate(merged) for p in r}, tuple(sum(weight[p] for p in r) for r in merged)
    )


def assign_regions(weights: Sequence[int], shards: int) -> tuple[tuple[int, ...], ...]:
    """Which regions each of ``shards`` resolver shards settles (region indices, ascending).

    Heaviest region first onto the least loaded shard (ties: the lower index): a few crowded
    regions do not pile up on one shard. Only the work's spread depends on this, never the story.
    """
    shards = max(1, shards)
    load = [0] * shards
    out: list[list[int]] = [[] for _ in range(shards)]
    for i in sorted(range(len(weights)), key=lambda i: (-weights[i], i)):
        k = min(range(shards), key=lambda k: (load[k], k))
        out[k].append(i)
        load[k] += weights[i]
    return tuple(tuple(sorted(o)) for o in out)
