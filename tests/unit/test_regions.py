"""Regions of the map (core/regions.py): connected, covering, deterministic, independent of shards."""

from __future__ import annotations

import pytest

from novel_engine.core.regions import MIN_REGION_WEIGHT, assign_regions, partition_places
from novel_engine.core.setup import build_world
from novel_engine.scenarios import load_scenario
from novel_engine.scenarios.synthetic import synthetic


def _map_and_load(scenario):
    world, _ = build_world(scenario)
    load: dict[str, int] = {}
    for p in world.personas.values():
        load[p.location] = load.get(p.location, 0) + 1
    return {k: l.neighbours for k, l in world.locations.items()}, load


def _connected(places, neighbours) -> bool:
    places = set(places)
    seen, todo = set(), [min(places)]
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        todo.extend(n for n in neighbours[p] if n in places)
    return seen == places


@pytest.mark.parametrize("size", [300, 3000])
def test_regions_cover_the_map_once_and_each_is_connected(size):
    neighbours, load = _map_and_load(synthetic(size, seed=3))
    part = partition_places(neighbours, load)
    assert len(part) > 1
    placed = [p for r in part.regions for p in r]
    assert sorted(placed) == sorted(neighbours)  # every place in exactly one region
    assert all(part.of[p] == i for i, r in enumerate(part.regions) for p in r)
    assert all(_connected(r, neighbours) for r in part.regions)
    assert sum(part.weights) == len(neighbours) + sum(load.values())


def test_a_large_map_is_cut_into_regions_of_similar_weight_without_scraps():
    neighbours, load = _map_and_load(synthetic(10_000, seed=3))
    part = partition_places(neighbours, load)
    target = (len(neighbours) + sum(load.values())) // 64
    assert 32 <= len(part) <= 80
    assert min(part.weights) * 4 >= target  # scraps were folded into a neighbour
    assert max(part.weights) <= 3 * target


def test_the_partition_is_a_pure_function_of_map_and_load():
    neighbours, load = _map_and_load(synthetic(1000, seed=2))
    a = partition_places(neighbours, load)
    b = partition_places(dict(reversed(list(neighbours.items()))), dict(reversed(list(load.items()))))
    assert a == b  # the order the map is given in does not matter
    moved = dict(load)
    busiest = max(moved, key=lambda k: (moved[k], k))
    moved[busiest] += 500
    assert partition_places(neighbours, moved) != a  # where the cast stands does


@pytest.mark.parametrize("name", ["fantasy_world", "noir_city", "space_station"])
def test_a_small_cast_is_one_region(name):
    neighbours, load = _map_and_load(load_scenario(name))
    assert sum(load.values()) + len(neighbours) < MIN_REGION_WEIGHT
    assert len(partition_places(neighbours, load)) == 1


@pytest.mark.parametrize("shards", [1, 2, 4, 8])
def test_every_region_goes_to_exactly_one_shard_and_the_load_is_spread(shards):
    weights = [50, 300, 40, 120, 120, 90, 10, 200, 60, 60, 75]
    split = assign_regions(weights, shards)
    assert len(split) == shards
    assert sorted(i for s in split for i in s) == list(range(len(weights)))
    loads = [sum(weights[i] for i in s) for s in split]
    assert max(loads) <= max(max(weights), sum(weights) / shards + max(weights))
    if shards == 4:
        assert max(loads) - min(loads) <= 120
