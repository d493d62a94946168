"""Scenarios: built-ins, loading (name, path, mapping), error reporting, build_world, synthetic worlds."""

from __future__ import annotations

import copy
from collections import deque
from pathlib import Path

import pytest
import yaml

from novel_engine.core.events import ActionType, InformationFragment, SourceType, Visibility
from novel_engine.core.scenario import Scenario, validate_scenario
from novel_engine.core.setup import build_world, gc_paused, symmetric_neighbours
from novel_engine.core.world import CORE_TRAITS, Goal, Relationship
from novel_engine.errors import NovelEngineError, ScenarioError, UnknownScenarioError
from novel_engine.scenarios import MAX_SCENARIO_BYTES, builtin_names, describe_builtins, load_scenario, synthetic

BUILTINS = {"fantasy_world": "epic_fantasy", "noir_city": "noir", "space_station": "sci_fi"}
BUILTIN_DIR = Path(__file__).resolve().parents[2] / "novel_engine" / "scenarios" / "builtin"


def _traits(**over: float) -> dict[str, float]:
    return {**{t: 0.5 for t in CORE_TRAITS}, **over}


def _minimal(**over) -> dict:
    """A small valid scenario: three places in a line, three personas."""
    data = {
        "title": "Test",
        "locations": [
            {"id": "a", "name": "A", "neighbours": ["b"]},
            {"id": "b", "name": "B", "neighbours": ["c"]},
            {"id": "c", "name": "C"},
        ],
        "personas": [
            {
                "id": "p1",
                "name": "One",
                "traits": _traits(),
                "location": "a",
                "relationships": [{"target": "p2", "trust": 0.5, "affinity": -0.5}],
                "goals": ["wander", {"text": "hit two", "action": "attack", "target": "p2", "priority": 0.9}],
            },
            {"id": "p2", "name": "Two", "traits": _traits(), "location": "a"},
            {"id": "p3", "name": "Three", "traits": _traits(), "location": "c"},
        ],
    }
    data.update(over)
    return data


def _errors(exc: ScenarioError) -> list[str]:
    return [str(e) for e in exc.errors]


# --- built-ins -----------------------------------------------------------------------------------


def test_builtin_names_lists_the_shipped_files():
    assert set(BUILTINS) <= set(builtin_names())
    assert builtin_names() == sorted(builtin_names())


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_every_builtin_loads_validates_and_builds(name):
    sc = load_scenario(name)
    assert isinstance(sc, Scenario)
    assert sc.style == BUILTINS[name]
    assert 4 <= len(sc.personas) <= 8
    # a round trip through the validator accepts it as is
    assert validate_scenario(sc.model_dump()) == sc
    world, fragments = build_world(sc)
    assert set(world.personas) == {p.id for p in sc.personas}
    assert all(f.turn == 0 for f in fragments)
    for p in sc.personas:
        assert 2 <= len(p.voice) <= 4, p.id
        assert p.goals and all(g.action is not None for g in p.goals), p.id
        assert p.relationships, p.id
    assert any(r.trust < 0 or r.affinity < 0 for p in sc.personas for r in p.relationships)
    assert any(p.biases for p in sc.personas)
    assert any(f.visibility is Visibility.PRIVATE for f in sc.fragments)
    assert any(f.visibility is Visibility.PUBLIC for f in sc.fragments)
    assert sc.causal_rules and sc.narrative_goals and sc.complications and sc.facts


def test_fantasy_world_has_the_dragon_premise():
    sc = load_scenario("fantasy_world")
    personas = {p.id: p for p in sc.personas}
    dragon = personas["dragon"]
    assert dragon.location == "eastern_tower" and dragon.traits["aggressiveness"] >= 0.8
    assert any(
        g.action is ActionType.ATTACK and g.target == "dragon" for p in sc.personas if p.id != "dragon" for g in p.goals
    )
    claims = {(f.location, f.value) for f in sc.fragments if f.key == "location_of:dragon"}
    assert ("tavern", "eastern_tower") in claims
    assert any(value != "eastern_tower" for _, value in claims)  # a contradicting rumour
    secret = next(f for f in sc.fragments if f.visibility is Visibility.PRIVATE)
    assert secret.origin in personas
    assert any(f.visibility is Visibility.PUBLIC and f.source_type is SourceType.BROADCAST for f in sc.fragments)
    assert sc.facts["dragon_asleep"] is True
    wake = next(r for r in sc.causal_rules if r.when.target == "dragon")
    assert 1 <= wake.delay_turns <= 2
    assert any(e.kind == "set_fact" and e.key == "dragon_asleep" and e.value is False for e in wake.then.effects)
    assert any(e.kind == "tension" for e in wake.then.effects)
    assert 6 <= len(sc.locations) <= 8


def test_describe_builtins():
    rows = {r["name"]: r for r in describe_builtins()}
    assert set(BUILTINS) <= set(rows)
    row = rows["fantasy_world"]
    assert set(row) == {"name", "title", "style", "personas", "locations"}
    assert row["style"] == "epic_fantasy" and row["personas"] == 6 and row["locations"] == 8


# --- loading ---------------------------------------------------------------------------------------


def test_load_by_path_str_pathlike_and_mapping(tmp_path):
    text = (BUILTIN_DIR / "noir_city.yaml").read_text()
    path = tmp_path / "my_city.yaml"
    path.write_text(text)
    by_name = load_scenario("noir_city")
    assert load_scenario(path) == by_name
    assert load_scenario(str(path)) == by_name
    assert load_scenario(yaml.safe_load(text)) == by_name
    assert load_scenario(by_name) is by_name


def test_unknown_name_lists_builtins():
    with pytest.raises(UnknownScenarioError) as info:
        load_scenario("atlantis")
    message = str(info.value)
    assert "atlantis" in message
    for name in BUILTINS:
        assert name in message
    assert isinstance(info.value, ScenarioError)


def test_missing_file_is_unknown_scenario(tmp_path):
    with pytest.raises(UnknownScenarioError):
        load_scenario(tmp_path / "nope.yaml")


def test_yaml_syntax_error_names_file_line_and_column(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("title: Broken\nstyle: noir\nlocations: [a, b\npersonas: []\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    err = info.value
    assert err.source == str(path)
    text = str(err)
    assert str(path) in text and "line 4" in text and "column" in text
    assert "YAML syntax error" in err.message


def test_validation_error_path_for_trait_out_of_range(tmp_path):
    data = _minimal()
    data["personas"][2]["traits"]["courage"] = 1.5
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert _errors(info.value) == ["personas[2].traits.courage: must be between 0 and 1"]
    assert info.value.source == str(path)
    assert str(path) in str(info.value)


def test_several_schema_errors_reported_at_once():
    data = _minimal()
    data["personas"][0]["traits"]["courage"] = -0.1
    data["personas"][1]["health"] = 2
    data["locations"][0]["visibility"] = 7
    data["personas"][2]["mood"] = "grim"
    with pytest.raises(ScenarioError) as info:
        load_scenario(data)
    assert set(_errors(info.value)) == {
        "personas[0].traits.courage: must be between 0 and 1",
        "personas[1].health: must be between 0 and 1",
        "locations[0].visibility: must be between 0 and 1",
        "personas[2].mood: unknown field",
    }


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (
            lambda d: d["locations"][0]["neighbours"].append("atlantis"),
            "locations[0].neighbours[1]: unknown location 'atlantis'",
        ),
        (lambda d: d["personas"][1]["traits"].pop("compassion"), "personas[1].traits: missing trait(s): compassion"),
        (
            lambda d: d["personas"][0]["relationships"].append({"target": "ghost"}),
            "personas[0].relationships[1].target: unknown persona 'ghost'",
        ),
        (lambda d: d["personas"][2].update(id="p1"), "personas[2].id: duplicate id 'p1'"),
        (lambda d: d["locations"][2].update(id="a"), "locations[2].id: duplicate id 'a'"),
    ],
)
def test_cross_reference_errors(mutate, expected):
    data = _minimal()
    mutate(data)
    with pytest.raises(ScenarioError) as info:
        load_scenario(data)
    assert expected in _errors(info.value)


def test_all_cross_reference_errors_at_once():
    data = _minimal()
    data["locations"][1]["neighbours"] = ["nowhere"]
    data["personas"][0]["traits"].pop("courage")
    data["personas"][0]["relationships"][0]["target"] = "ghost"
    data["personas"][2]["id"] = "p2"
    with pytest.raises(ScenarioError) as info:
        load_scenario(data)
    assert set(_errors(info.value)) >= {
        "locations[1].neighbours[0]: unknown location 'nowhere'",
        "personas[0].traits: missing trait(s): courage",
        "personas[0].relationships[0].target: unknown persona 'ghost'",
        "personas[2].id: duplicate id 'p2'",
    }


def test_oversized_file_rejected(tmp_path):
    path = tmp_path / "huge.yaml"
    path.write_bytes(b"#" * (MAX_SCENARIO_BYTES + 1))
    with pytest.raises(ScenarioError, match="too large"):
        load_scenario(path)


def test_directory_and_non_utf8_rejected(tmp_path):
    with pytest.raises(ScenarioError, match="directory"):
        load_scenario(tmp_path)
    path = tmp_path / "latin1.yaml"
    path.write_bytes("title: Caf\u00e9\n".encode("latin-1"))
    with pytest.raises(ScenarioError, match="UTF-8"):
        load_scenario(path)


def test_not_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.source == str(path)
    with pytest.raises(ScenarioError):
        load_scenario(42)  # type: ignore[arg-type]


# --- build_world ---------------------------------------------------------------------------------


def test_build_world_symmetric_neighbours_and_location_index():
    sc = load_scenario(_minimal())
    world, fragments = build_world(sc)
    assert world.locations["a"].neighbours == ("b",)
    assert world.locations["b"].neighbours == ("c", "a")  # its own first, then the ones pointing at it
    assert world.locations["c"].neighbours == ("b",)
    assert isinstance(world.locations["b"].neighbours, tuple)
    assert world.present_at("a") == {"p1", "p2"}
    assert world.present_at("b") == set()
    assert world.present_at("c") == {"p3"}
    assert fragments == []


def test_symmetric_neighbours_dedupes():
    sc = load_scenario(
        _minimal(
            locations=[
                {"id": "a", "name": "A", "neighbours": ["b", "b"]},
                {"id": "b", "name": "B", "neighbours": ["a"]},
                {"id": "c", "name": "C", "neighbours": ["a"]},
            ]
        )
    )
    assert symmetric_neighbours(sc.locations) == {"a": ("b", "c"), "b": ("a",), "c": ("a",)}


def test_build_world_personas_fragments_and_facts():
    sc = load_scenario("fantasy_world")
    world, fragments = build_world(sc)
    hero = world.personas["hero_001"]
    assert isinstance(hero.goals[0], Goal) and hero.goals[0].action is ActionType.ATTACK
    assert hero.goals[0].target == "dragon"
    assert isinstance(hero.relationships["dragon"], Relationship)
    assert hero.relationships["dragon"].trust == -1.0
    assert hero.voice and isinstance(hero.voice, tuple)
    assert hero.biases == {"confirmation": 0.6, "negativity": 0.3}
    assert world.facts["dragon_asleep"] is True and world.turn == 0
    assert [f.id for f in fragments] == [f.id for f in sc.fragments]
    rumor = next(f for f in fragments if f.id == "rumor_dragon_in_tower")
    assert isinstance(rumor, InformationFragment)
    assert (rumor.key, rumor.value, rumor.location, rumor.turn) == ("location_of:dragon", "eastern_tower", "tavern", 0)
    assert rumor.subjects == ("dragon",)
    assert "village_square" in world.neighbours("tavern")


def test_build_world_shares_no_mutable_state_with_the_scenario():
    sc = load_scenario("fantasy_world")
    before = copy.deepcopy(sc)
    world, _ = build_world(sc)
    hero = world.personas["hero_001"]
    hero.traits["courage"] = 0.0
    hero.biases.clear()
    hero.relationships["dragon"].shift(trust=1.0)
    world.facts["dragon_asleep"] = False
    world.move("hero_001", "tavern")
    assert sc == before
    again, _ = build_world(sc)
    assert again.personas["hero_001"].traits["courage"] == 0.95


def test_gc_paused_restores_state():
    import gc

    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


# --- synthetic -----------------------------------------------------------------------------------


def _components(world) -> int:
    seen: set[str] = set()
    parts = 0
    for start in world.locations:
        if start in seen:
            continue
        parts += 1
        queue = deque([start])
        seen.add(start)
        while queue:
            for n in world.neighbours(queue.popleft()):
                if n not in seen:
                    seen.add(n)
                    queue.append(n)
    return parts


def test_synthetic_is_deterministic():
    assert synthetic(300, seed=5) == synthetic(300, seed=5)
    assert synthetic(300, seed=5).model_dump() == synthetic(300, seed=5).model_dump()
    assert synthetic(300, seed=5) != synthetic(300, seed=6)
    assert synthetic(300, seed=5, style="noir") != synthetic(300, seed=5)


@pytest.mark.parametrize(
    "n, locations, expected_locations",
    [(1, None, 4), (9, None, 4), (57, None, 5), (1000, None, 100), (50, 1, 1), (50, 2, 2), (50, 3, 3), (10, 40, 40)],
)
def test_synthetic_sizes_and_connectivity(n, locations, expected_locations):
    sc = synthetic(n, locations=locations, seed=1)
    assert len(sc.personas) == n
    assert len(sc.locations) == expected_locations
    assert len({p.id for p in sc.personas}) == n
    world, _ = build_world(sc)
    assert _components(world) == 1
    degrees = [len(world.neighbours(loc)) for loc in world.locations]
    if expected_locations >= 3:
        assert min(degrees) >= 2 and max(degrees) <= 4


@pytest.mark.parametrize("style", ["sci_fi", "noir", "epic_fantasy"])
@pytest.mark.parametrize("n", [1, 2, 7, 600])
def test_synthetic_output_validates(n, style):
    sc = synthetic(n, seed=n, style=style)
    assert sc.style == style
    assert validate_scenario(sc.model_dump()) == sc


def test_synthetic_content():
    sc = synthetic(2000, seed=3)
    world, fragments = build_world(sc)
    ids = set(world.personas)
    rel_counts = [len(p.relationships) for p in sc.personas]
    assert 2.0 <= sum(rel_counts) / len(rel_counts) <= 4.0
    near = total = 0
    for p in world.personas.values():
        assert set(p.traits) == set(CORE_TRAITS)
        assert all(0.0 <= v <= 1.0 for v in p.traits.values())
        assert 1 <= len(p.goals) <= 2
        for g in p.goals:
            assert g.action in {
                ActionType.ATTACK,
                ActionType.HELP,
                ActionType.PERSUADE,
                ActionType.MOVE,
                ActionType.INVESTIGATE,
            }
            assert g.target in ids or g.target in world.locations
        for target, rel in p.relationships.items():
            assert target in ids and target != p.id
            assert -1.0 <= rel.trust <= 1.0 and -1.0 <= rel.affinity <= 1.0
            loc = world.personas[target].location
            total += 1
            near += loc == p.location or loc in world.neighbours(p.location)
    assert near / total > 0.7  # mostly people at the same or a neighbouring place
    assert sum(bool(p.biases) for p in sc.personas) > 0.2 * len(sc.personas)
    assert any(f.visibility is Visibility.PUBLIC for f in fragments)
    assert any(f.key and f.key.startswith("location_of:") for f in fragments)
    assert any(f.key and f.key.startswith("threat_at:") for f in fragments)
    assert any(f.visibility is Visibility.PRIVATE and f.origin in ids for f in fragments)
    assert len({f.id for f in fragments}) == len(fragments)
    assert len(sc.causal_rules) >= 2 and len(sc.narrative_goals) >= 2 and sc.complications


@pytest.mark.parametrize(
    "kwargs",
    [
        {"personas": 0},
        {"personas": -5},
        {"personas": 2.5},
        {"personas": True},
        {"locations": 0},
        {"locations": -1},
        {"seed": "x"},
        {"style": "western"},
    ],
)
def test_synthetic_rejects_bad_arguments(kwargs):
    with pytest.raises(NovelEngineError) as info:
        synthetic(**kwargs)
    assert next(iter(kwargs)) in str(info.value)


def test_synthetic_large_world_is_whole_and_connected():
    # speed at 100,000 personas is measured by `novel-engine bench core`, not here
    sc = synthetic(20_000, seed=0)
    world, fragments = build_world(sc)
    assert len(world.personas) == 20_000 and len(world.locations) == 2_000
    assert sum(len(s) for s in world.occupants.values()) == 20_000
    assert _components(world) == 1


def test_a_turn_leaves_no_cyclic_garbage_so_freezing_its_survivors_leaks_nothing(monkeypatch):
    """The in-process runtime freezes what a turn keeps (gc_paused(freeze=True)); that is only
    free of leaks while a turn makes no reference cycles that become garbage."""
    import gc

    frozen = []
    real_freeze = gc.freeze
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(1))  # look at the garbage before it is hidden

    from novel_engine.api import Engine
    from novel_engine.scenarios.synthetic import synthetic

    for scenario in ("fantasy_world", synthetic(personas=300, seed=3)):
        session = Engine().create_session(scenario, seed=5)
        gc.collect()
        was = gc.isenabled()
        gc.disable()
        try:
            for _ in range(3):
                session.step()
                assert gc.collect() == 0
        finally:
            if was:
                gc.enable()
    assert len(frozen) >= 8  # two sessions built, six turns played: each froze what it kept
    monkeypatch.setattr(gc, "freeze", real_freeze)
    with gc_paused(freeze=True):
        made = [[]]
    assert gc.get_freeze_count() > 0 and made
