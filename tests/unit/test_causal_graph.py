"""CausalGraph: recording, causal rules and pending effects, explain/impact, frontier walks, export."""

from __future__ import annotations

import json
import pickle

import pytest

from novel_engine.core.causal_graph import (
    CausalGraph,
    DueEffect,
    ExplanationStep,
    condition_holds,
    explain_frontier,
    impact_frontier,
)
from novel_engine.core.events import Event, Outcome
from novel_engine.core.scenario import CausalRuleSpec, ComplicationSpec, Condition
from novel_engine.core.world import Location, PersonaState, WorldState
from novel_engine.errors import NovelEngineError


def ev(eid: str, turn: int, *causes: str, strength: float | dict | None = None, **kw) -> Event:
    data = {} if strength is None else {"cause_strength": strength}
    return Event(
        id=eid,
        turn=turn,
        kind=kw.pop("kind", "action"),
        summary=f"{eid} happened",
        causes=tuple(causes),
        data=data,
        **kw,
    )


def world(**facts) -> WorldState:
    locs = {"cave": Location("cave", "Cave"), "town": Location("town", "Town")}
    hero = PersonaState("hero", "Hero", "cave", {"courage": 0.9})
    return WorldState(locs, {"hero": hero}, facts=facts)


def rule(rid: str = "wake", once: bool = True, delay: int = 2, conditions=(), **when) -> CausalRuleSpec:
    when = when or {"action_type": "move", "location": "cave"}
    return CausalRuleSpec(
        id=rid,
        when=when,
        then={"description": "The dragon awakens", "intensity": 0.9},
        strength=0.7,
        delay_turns=delay,
        conditions=list(conditions),
        once=once,
    )


def chain() -> CausalGraph:
    g = CausalGraph()
    g.add_event(ev("a", 1))
    g.add_event(ev("b", 2, "a", strength=0.5))
    g.add_event(ev("c", 3, "b", strength=0.5))
    return g


# -- recording ---------------------------------------------------------------------------------------


def test_add_event_links_known_causes_with_their_strength() -> None:
    g = CausalGraph()
    g.add_event(ev("a", 1))
    g.add_event(ev("x", 1))
    g.add_event(ev("b", 2, "a", "x", "ghost", strength={"a": 0.4}))
    assert len(g) == 3 and "b" in g and "ghost" not in g
    assert g.parents_of({"b"}) == {"b": [("a", 0.4), ("x", 1.0)]}
    assert g.children_of(["a", "nope"]) == {"a": [("b", 0.4)]}
    info = g.node_info({"b"})["b"]
    assert info == {
        "turn": 2,
        "summary": "b happened",
        "kind": "action",
        "actor": None,
        "intensity": 0.0,
        "location": None,
    }


def test_add_event_rejects_duplicates_and_bad_strength() -> None:
    g = CausalGraph()
    g.add_event(ev("a", 1))
    with pytest.raises(NovelEngineError, match="already recorded"):
        g.add_event(ev("a", 2))
    with pytest.raises(NovelEngineError, match="between 0 and 1"):
        g.add_event(ev("b", 2, "a", strength=1.5))


def test_add_relationship_validates_input() -> None:
    g = chain()
    with pytest.raises(NovelEngineError, match="unknown cause"):
        g.add_relationship("nope", "dragon_awakens")
    with pytest.raises(NovelEngineError, match="between 0 and 1"):
        g.add_relationship("a", "dragon_awakens", strength=-0.1)
    with pytest.raises(NovelEngineError, match="non-negative"):
        g.add_relationship("a", "dragon_awakens", delay_turns=-1)
    with pytest.raises(NovelEngineError, match="itself"):
        g.add_relationship("a", "a")
    assert g.pending_count == 0


def test_add_relationship_to_an_existing_event_is_an_edge_now() -> None:
    g = chain()
    g.add_relationship("a", "c", strength=0.9, delay_turns=2, conditions=["storm"])
    assert g.parents_of({"c"})["c"] == [("a", 0.9), ("b", 0.5)]
    link = next(l for l in g.to_node_link()["links"] if l["source"] == "a" and l["target"] == "c")
    assert link["delay_turns"] == 2 and link["conditions"][0]["fact"] == "storm"
    assert g.pending_count == 0


def test_product_description_call_schedules_a_described_effect() -> None:
    g = CausalGraph()
    g.add_event(ev("hero_enters_dungeon", 1))
    g.add_relationship(
        cause="hero_enters_dungeon",
        effect="dragon_awakens",
        strength=0.8,
        delay_turns=2,
        conditions=["noise_threshold_exceeded"],
    )
    assert g.due_effects(2, world(noise_threshold_exceeded=True)) == []
    due = g.due_effects(3, world(noise_threshold_exceeded=True))
    assert due == [DueEffect("hero_enters_dungeon", ComplicationSpec(description="dragon_awakens"), 0.8, None, 3)]
    assert g.pending_count == 0


# -- rules and pending effects ---------------------------------------------------------------------


def test_rule_fires_after_the_delay_when_conditions_hold() -> None:
    g = CausalGraph()
    g.add_rule(rule(conditions=["noisy"]))
    assert g.add_event(ev("m1", 1, kind="action", action_type="move", location="cave")) == ["wake"]
    assert g.due_effects(2, world(noisy=True)) == []  # not yet due
    due = g.due_effects(3, world(noisy=True))
    assert [(d.cause, d.rule_id, d.due_turn, d.strength) for d in due] == [("m1", "wake", 3, 0.7)]
    assert due[0].spec.description == "The dragon awakens" and g.lapsed == 0


def test_rule_pattern_must_match_every_given_field() -> None:
    g = CausalGraph()
    g.add_rule(rule("wake", once=False))
    g.add_rule(rule("fail", once=False, delay=0, action_type="attack", outcome="failure"))
    assert g.add_event(ev("m1", 1, action_type="move", location="town")) == []
    assert g.add_event(ev("m2", 1, kind="world", location="cave")) == []
    assert g.add_event(ev("a1", 1, action_type="attack", outcome=Outcome.SUCCESS)) == []
    assert g.add_event(ev("a2", 1, action_type="attack", outcome=Outcome.FAILURE)) == ["fail"]
    assert g.add_events([ev("m3", 2, action_type="move", location="cave")]) == [("m3", "wake")]


def test_failed_conditions_lapse_and_are_counted() -> None:
    g = CausalGraph()
    g.add_rule(rule(conditions=["noisy", "!dragon_dead"], once=False))
    g.add_event(ev("m1", 1, action_type="move", location="cave"))
    g.add_event(ev("m2", 1, action_type="move", location="cave"))
    assert g.due_effects(10, world(noisy=True, dragon_dead=True)) == []
    assert g.lapsed == 2 and g.pending_count == 0


def test_once_rule_fires_once_but_rearms_after_a_lapse() -> None:
    g = CausalGraph()
    g.add_rule(rule(conditions=["noisy"]))
    assert g.add_event(ev("m1", 1, action_type="move", location="cave")) == ["wake"]
    assert g.add_event(ev("m2", 2, action_type="move", location="cave")) == []  # already pending
    assert g.due_effects(3, world(noisy=False)) == [] and g.lapsed == 1
    assert g.add_event(ev("m3", 4, action_type="move", location="cave")) == ["wake"]  # rearmed
    assert [d.cause for d in g.due_effects(6, world(noisy=True))] == ["m3"]
    assert g.add_event(ev("m4", 7, action_type="move", location="cave")) == []  # spent for good
    assert g.due_effects(99, world(noisy=True)) == []


def test_repeatable_rule_fires_every_time_and_due_effects_are_sorted() -> None:
    g = CausalGraph()
    g.add_rule(rule(once=False, delay=1))
    for eid, turn in (("z", 2), ("b", 1), ("a", 1)):
        g.add_event(ev(eid, turn, action_type="move", location="cave"))
    due = g.due_effects(5, world())
    assert [(d.due_turn, d.cause) for d in due] == [(2, "a"), (2, "b"), (3, "z")]


def test_condition_holds_on_facts_and_personas() -> None:
    w = world(level=3, flag=True)
    assert condition_holds(Condition(fact="level", equals=3), w)
    assert not condition_holds(Condition(fact="level", equals=4), w)
    assert condition_holds(Condition(fact="missing", equals=False), w)
    assert condition_holds(Condition(persona="hero", status="active", at="cave"), w)
    assert not condition_holds(Condition(persona="hero", at="town"), w)
    assert not condition_holds(Condition(persona="ghost"), w)


# -- explain and impact ------------------------------------------------------------------------------


def test_impact_weights_descendants_by_strongest_path() -> None:
    g = chain()
    assert g.calculate_narrative_impact("a") == pytest.approx(0.5 + 0.25)
    assert g.calculate_narrative_impact("c") == 0.0
    # a stronger shortcut a -> c replaces the 0.25 path, it does not add to it
    g.add_relationship("a", "c", strength=0.9)
    assert g.calculate_narrative_impact("a") == pytest.approx(0.5 + 0.9)
    with pytest.raises(NovelEngineError, match="unknown event"):
        g.calculate_narrative_impact("nope")


def test_explain_orders_roots_first_with_strength_and_depth() -> None:
    g = CausalGraph()
    g.add_event(ev("storm", 1, kind="world"))
    g.add_event(ev("rumour", 1, kind="world"))
    g.add_event(ev("flood", 2, "storm", strength=0.8, kind="causal"))
    g.add_event(ev("panic", 2, "rumour", "flood", strength={"rumour": 0.3, "flood": 0.5}, kind="reaction"))
    g.add_event(ev("riot", 3, "panic", strength=0.5))
    steps = g.explain("riot")
    assert [s.event_id for s in steps] == ["rumour", "storm", "flood", "panic"]
    by_id = {s.event_id: s for s in steps}
    assert by_id["panic"] == ExplanationStep("panic", 2, "panic happened", 0.5, 1)
    assert by_id["flood"].strength == pytest.approx(0.25) and by_id["flood"].depth == 2
    assert by_id["storm"].strength == pytest.approx(0.2) and by_id["storm"].depth == 3
    assert by_id["rumour"].strength == pytest.approx(0.15)
    assert [s.event_id for s in g.explain("riot", max_depth=1)] == ["panic"]
    assert g.explain("storm") == [] and g.explain("riot", max_depth=0) == []
    assert g.roots("riot") == ["rumour", "storm"] and g.roots("storm") == []


def test_explain_keeps_same_turn_causes_before_their_effects() -> None:
    g = CausalGraph()
    g.add_event(ev("z_spark", 4))
    g.add_event(ev("a_fire", 4, "z_spark"))
    g.add_event(ev("end", 5, "a_fire"))
    assert [s.event_id for s in g.explain("end")] == ["z_spark", "a_fire"]


class CountingFetcher:
    """A fetcher over a fixed adjacency that records every call."""

    def __init__(self, links: dict[str, list[tuple[str, float]]]) -> None:
        self.links, self.calls = links, []

    def __call__(self, ids: set[str]) -> dict[str, list[tuple[str, float]]]:
        self.calls.append(set(ids))
        return {i: self.links[i] for i in ids if i in self.links}


def test_frontier_walks_make_one_batched_call_per_hop() -> None:
    # a diamond: root -> l, r -> tip, plus a long tail root -> t1 -> t2 -> tip
    children = {
        "root": [("l", 0.5), ("r", 1.0), ("t1", 1.0)],
        "l": [("tip", 1.0)],
        "r": [("tip", 0.5)],
        "t1": [("t2", 1.0)],
        "t2": [("tip", 0.9)],
    }
    parents: dict[str, list[tuple[str, float]]] = {}
    for u, vs in children.items():
        for v, s in vs:
            parents.setdefault(v, []).append((u, s))
    down = CountingFetcher(children)
    assert impact_frontier("root", down) == pytest.approx(0.5 + 1.0 + 1.0 + 1.0 + 0.9)
    assert down.calls == [{"root"}, {"l", "r", "t1"}, {"tip", "t2"}]  # tip is never fetched twice
    up = CountingFetcher(parents)
    info_calls = []
    steps = explain_frontier(
        "tip", up, 10, fetch_info=lambda ids: info_calls.append(ids) or {i: {"turn": 0, "summary": i} for i in ids}
    )
    assert up.calls == [{"tip"}, {"l", "r", "t2"}, {"root", "t1"}]
    assert len(info_calls) == 1 and info_calls[0] == {"l", "r", "t2", "t1", "root"}
    assert steps[0].event_id == "root" and steps[0].strength == pytest.approx(0.9) and steps[0].depth == 2
    assert [s.event_id for s in steps].index("t1") < [s.event_id for s in steps].index("t2")
    limited = CountingFetcher(parents)
    explain_frontier("tip", limited, 1, fetch_info=lambda ids: {})
    assert limited.calls == [{"tip"}]
    with pytest.raises(NovelEngineError):
        explain_frontier("tip", limited, -1, fetch_info=lambda ids: {})


def test_frontier_walks_survive_cycles() -> None:
    loop = {"a": [("b", 0.5)], "b": [("a", 0.5), ("c", 1.0)]}
    assert impact_frontier("a", CountingFetcher(loop)) == pytest.approx(0.5 + 0.5)
    steps = explain_frontier(
        "c",
        CountingFetcher({"c": [("b", 1.0)], "b": [("a", 0.5)], "a": [("b", 0.5)]}),
        fetch_info=lambda ids: {i: {"turn": 1, "summary": i} for i in ids},
    )
    assert sorted(s.event_id for s in steps) == ["a", "b"]


# -- export --------------------------------------------------------------------------------------------


def test_node_link_export_is_json_and_excludes_pending() -> None:
    g = chain()
    g.add_relationship("a", "c", conditions=["storm", "!calm"])
    g.add_relationship("a", "dragon_awakens", delay_turns=3)
    data = json.loads(json.dumps(g.to_node_link()))
    assert {n["id"] for n in data["nodes"]} == {"a", "b", "c"}
    assert {(l["source"], l["target"], l["strength"]) for l in data["links"]} == {
        ("a", "b", 0.5),
        ("b", "c", 0.5),
        ("a", "c", 1.0),
    }
    assert "dragon_awakens" not in json.dumps(data)


def test_to_dict_round_trip_is_exact_and_keeps_behaviour() -> None:
    g = CausalGraph()
    g.add_rule(rule(conditions=["noisy"]))
    g.add_rule(rule("other", once=True, delay=0, kind="world"))
    g.add_event(ev("w", 1, kind="world"))
    g.due_effects(1, world())  # "other" fires and is spent
    g.add_event(ev("m1", 2, "w", strength=0.25, action_type="move", location="cave", intensity=0.7))
    g.add_relationship(
        "m1",
        ComplicationSpec(description="A rockfall", effects=[{"kind": "tension", "value": 0.2}]),
        strength=0.6,
        delay_turns=1,
        conditions=[Condition(persona="hero", status="wounded")],
    )
    g.due_effects(0, world())
    d = g.to_dict()
    copy = CausalGraph.from_dict(json.loads(json.dumps(d)))
    assert copy.to_dict() == d
    assert pickle.loads(pickle.dumps(d)) == d
    assert copy.add_event(ev("m2", 3, action_type="move", location="cave")) == []  # still armed
    assert copy.add_event(ev("w2", 3, kind="world")) == []  # still spent
    assert [d.rule_id for d in copy.due_effects(4, world(noisy=True))] == ["wake"]
    assert copy.lapsed == 1  # the rockfall: hero is not wounded
    assert copy.explain("m1")[0].event_id == "w"
    with pytest.raises(NovelEngineError):
        CausalGraph.from_dict({"v": 99})


def test_to_networkx_is_a_copy_that_node_link_export_agrees_with() -> None:
    import networkx as nx

    g = chain()
    g.add_relationship("a", "c", strength=0.9, conditions=["storm"], rule_id="r1")
    nxg = g.to_networkx()
    assert isinstance(nxg, nx.DiGraph) and list(nxg.nodes) == ["a", "b", "c"]
    assert list(nxg.edges) == [("a", "b"), ("a", "c"), ("b", "c")]  # by cause, in recording order
    assert nxg.nodes["b"] == {
        "turn": 2,
        "summary": "b happened",
        "kind": "action",
        "actor": None,
        "intensity": 0.0,
        "location": None,
    }
    assert nxg.edges["a", "c"] == {
        "strength": 0.9,
        "delay_turns": 0,
        "rule_id": "r1",
        "conditions": [{"fact": "storm", "equals": True, "persona": None, "status": None, "at": None}],
    }
    assert g.to_node_link() == nx.node_link_data(nxg, edges="links")
    nxg.edges["a", "c"]["conditions"].clear()
    nxg.remove_node("b")
    assert len(g) == 3 and g.parents_of({"c"})["c"] == [("a", 0.9), ("b", 0.5)]  # the graph is untouched
    assert g.to_dict()["edges"][1]["conditions"][0]["fact"] == "storm"


def test_relinking_a_pair_replaces_the_link_in_place() -> None:
    g = chain()
    g.add_relationship("a", "c", strength=0.2)
    g.add_relationship("b", "c", strength=0.7)  # b -> c exists: its attributes change, not its place
    assert [(e["source"], e["target"], e["strength"]) for e in g.to_dict()["edges"]] == [
        ("a", "b", 0.5),
        ("a", "c", 0.2),
        ("b", "c", 0.7),
    ]
    assert g.parents_of({"c"}) == {"c": [("a", 0.2), ("b", 0.7)]}


def test_roots_ignore_cycles_and_unlinked_events_have_none() -> None:
    g = chain()
    g.add_relationship("c", "a", strength=0.5)  # a cycle a -> b -> c -> a: no event of it is a root
    assert g.roots("c") == [] and g.roots("a") == []
    g.add_event(ev("lone", 4))
    assert g.roots("lone") == [] and g.children_of({"lone"}) == {"lone": []} and g.parents_of({"lone"}) == {"lone": []}


def test_rules_without_an_action_type_see_every_event() -> None:
    g = CausalGraph()
    g.add_rule(rule("moved", once=False, delay=0))  # names move: other action types are skipped at once
    assert g.add_event(ev("w1", 1, kind="world", location="cave")) == []
    g.add_rule(CausalRuleSpec(id="storm", when={"kind": "world"}, then={"description": "Thunder"}, delay_turns=1))
    assert g.add_event(ev("w2", 1, kind="world", location="cave")) == ["storm"]
    assert g.add_event(ev("m1", 1, action_type="move", location="cave")) == ["moved"]


def test_a_graph_pickles_with_its_rules_and_pending_effects() -> None:
    g = CausalGraph()
    g.add_rule(rule(conditions=["noisy"]))
    g.add_event(ev("m1", 1, action_type="move", location="cave"))
    g.add_event(ev("m2", 2, "m1", strength=0.5))
    copy = pickle.loads(pickle.dumps(g))
    assert copy.to_dict() == g.to_dict() and copy.add_event(ev("m3", 3, action_type="move", location="cave")) == []
    assert [d.cause for d in copy.due_effects(3, world(noisy=True))] == ["m1"]


def test_recorded_picks_the_known_ids() -> None:
    g = chain()
    assert g.recorded({"a", "c", "ghost"}) == {"a", "c"} and g.recorded(frozenset()) == set()
