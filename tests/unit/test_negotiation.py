"""AgentNegotiationEngine: contrasting characters answer differently, deterministically."""

from __future__ import annotations

import pytest

from novel_engine.core.events import Action, ActionType
from novel_engine.core.negotiation import AgentNegotiationEngine, NegotiationContext, NegotiationResult, Stance
from novel_engine.core.world import CAPTIVE, Location, PersonaState, Relationship, WorldState
from novel_engine.errors import NovelEngineError


def persona(
    pid: str,
    courage=0.5,
    intelligence=0.5,
    compassion=0.5,
    aggressiveness=0.5,
    social=0.5,
    rel: dict[str, tuple[float, float]] | None = None,
    **kw,
) -> PersonaState:
    traits = {
        "courage": courage,
        "intelligence": intelligence,
        "compassion": compassion,
        "aggressiveness": aggressiveness,
        "social_tendency": social,
    }
    rels = {k: Relationship(t, a) for k, (t, a) in (rel or {}).items()}
    return PersonaState(pid, pid.capitalize(), "hall", traits, relationships=rels, **kw)


CAST = [
    persona("mira", social=0.8, intelligence=0.7),
    persona("brak", courage=0.9, aggressiveness=0.9, intelligence=0.4),  # brave brute
    persona("tim", courage=0.15, aggressiveness=0.1, intelligence=0.4),  # timid
    persona("vex", courage=0.4, aggressiveness=0.3, intelligence=0.95),  # clever
    persona("sela", courage=0.8, rel={"tim": (0.5, 0.7)}),  # Tim's brave friend
    persona("olo", courage=0.2, rel={"tim": (0.5, 0.9)}),  # Tim's timid friend
    persona("gorm", courage=0.9, aggressiveness=0.9, health=0.1),  # brave but nearly dead
    persona("shade", intelligence=0.2, hidden=True),
    persona("dora", rel={"mira": (-0.6, -0.4)}),  # distrusts Mira
    persona("ivo", social=0.1),  # proud loner, unhurt
    persona("pal", social=0.8, rel={"mira": (0.7, 0.6)}),  # Mira's friend
    persona("foe", social=0.3, rel={"mira": (-0.6, -0.5)}),
    persona("rook", aggressiveness=0.8, rel={"mira": (-0.2, 0.0)}),  # aggressive, a little distrustful
    persona("zed", health=0.0),
]


@pytest.fixture
def world() -> WorldState:
    return WorldState({"hall": Location("hall", "Hall")}, {p.id: p for p in CAST})


def negotiate(world, kind: ActionType, agents, beliefs=None, **params) -> NegotiationResult:
    action = Action("mira", kind, agents[0] if agents else None, parameters=params)
    return AgentNegotiationEngine().negotiate_action(action, agents, NegotiationContext(world, 3, beliefs))


def stances(result: NegotiationResult) -> list[tuple[str, str]]:
    return [(s.agent, s.stance) for s in result.stances]


# -- attack ----------------------------------------------------------------------------------------


def test_brave_aggressive_target_fights_back(world) -> None:
    r = negotiate(world, ActionType.ATTACK, ["brak"])
    assert stances(r) == [("brak", "counter")] and r.outcome == "modified"
    assert "fights back" in r.stances[0].reason and r.stances[0].score > 0.8


def test_timid_target_yields(world) -> None:
    r = negotiate(world, ActionType.ATTACK, ["tim"])
    assert stances(r) == [("tim", "accept")] and r.outcome == "accepted"
    assert r.stances[0].reason == "yields to Mira without a fight"


def test_clever_target_evades(world) -> None:
    r = negotiate(world, ActionType.ATTACK, ["vex"])
    assert stances(r) == [("vex", "refuse")] and r.outcome == "rejected"
    assert "evades" in r.stances[0].reason


def test_hidden_and_badly_hurt_targets(world) -> None:
    hidden = negotiate(world, ActionType.ATTACK, ["shade"])
    assert stances(hidden) == [("shade", "refuse")] and "hidden" in hidden.stances[0].reason
    hurt = negotiate(world, ActionType.ATTACK, ["gorm"])
    assert stances(hurt) == [("gorm", "accept")] and "badly hurt" in hurt.stances[0].reason
    down = negotiate(world, ActionType.ATTACK, ["zed"])
    assert stances(down) == [("zed", "accept")] and down.outcome == "accepted"


def test_a_brave_friend_steps_in_but_a_timid_one_does_not(world) -> None:
    r = negotiate(world, ActionType.ATTACK, ["tim", "sela", "olo", "brak"])
    assert stances(r) == [("tim", "accept"), ("sela", "counter"), ("olo", "accept"), ("brak", "accept")]
    assert r.outcome == "modified"
    assert r.stances[1].reason == "steps in to defend Tim"
    assert r.summary == "Mira attacks Tim: Tim yields to Mira without a fight; Sela steps in to defend Tim (modified)"


def test_a_bound_friend_cannot_step_in(world) -> None:
    world.facts[CAPTIVE + "sela"] = "brak"  # tied up: she can only watch
    r = negotiate(world, ActionType.ATTACK, ["tim", "sela"])
    assert stances(r) == [("tim", "accept"), ("sela", "accept")] and r.outcome == "accepted"


def test_an_evading_target_rejects_even_if_a_friend_steps_in(world) -> None:
    world.personas["sela"].relationships["vex"] = Relationship(0.5, 0.5)
    r = negotiate(world, ActionType.ATTACK, ["vex", "sela"])
    assert stances(r) == [("vex", "refuse"), ("sela", "counter")] and r.outcome == "rejected"


def test_suspecting_hostility_hardens_resistance(world) -> None:
    calm = negotiate(world, ActionType.ATTACK, ["tim"])
    wary = negotiate(
        world, ActionType.ATTACK, ["tim"], beliefs={"tim": lambda key, value: 1.0 if key == "hostile:mira" else 0.5}
    )
    assert stances(calm) == [("tim", "accept")]
    assert stances(wary) == [("tim", "refuse")]  # forewarned, he slips away


# -- help, persuade, speak, others ----------------------------------------------------------------------


def test_help_is_refused_by_the_distrustful_and_the_proud(world) -> None:
    assert stances(negotiate(world, ActionType.HELP, ["tim"])) == [("tim", "accept")]
    dora = negotiate(world, ActionType.HELP, ["dora"])
    assert stances(dora) == [("dora", "refuse")] and dora.outcome == "rejected"
    assert dora.stances[0].reason == "trusts Mira too little to accept Mira's help"
    ivo = negotiate(world, ActionType.HELP, ["ivo"])
    assert stances(ivo) == [("ivo", "refuse")] and "proud" in ivo.stances[0].reason
    world.personas["ivo"].health = 0.3  # badly hurt, pride gives way
    assert stances(negotiate(world, ActionType.HELP, ["ivo"])) == [("ivo", "accept")]


def test_persuasion_depends_on_trust_and_sociability(world) -> None:
    assert negotiate(world, ActionType.PERSUADE, ["pal"]).outcome == "accepted"
    assert negotiate(world, ActionType.PERSUADE, ["tim"]).outcome == "modified"  # a counter-offer
    assert negotiate(world, ActionType.PERSUADE, ["foe"]).outcome == "rejected"


def test_persuasion_fails_against_contradicting_beliefs(world) -> None:
    beliefs = {"pal": lambda key, value: 0.1 if key == "treasure_at:cave" else 0.5}
    r = negotiate(world, ActionType.PERSUADE, ["pal"], beliefs=beliefs, key="treasure_at:cave", value=True)
    assert stances(r) == [("pal", "refuse")] and "does not believe" in r.stances[0].reason
    agreeable = {"pal": lambda key, value: 0.9}
    assert (
        negotiate(world, ActionType.PERSUADE, ["pal"], beliefs=agreeable, key="treasure_at:cave").outcome == "accepted"
    )


def test_speech_is_heard_refused_or_retorted(world) -> None:
    assert stances(negotiate(world, ActionType.SPEAK, ["tim"])) == [("tim", "accept")]
    assert stances(negotiate(world, ActionType.SPEAK, ["foe"])) == [("foe", "refuse")]
    rook = negotiate(world, ActionType.SPEAK, ["rook"])
    assert stances(rook) == [("rook", "counter")] and rook.outcome == "modified" and "retorts" in rook.stances[0].reason


def test_other_actions_are_accepted_by_everyone(world) -> None:
    r = negotiate(world, ActionType.OBSERVE, ["foe", "brak"])
    assert stances(r) == [("foe", "accept"), ("brak", "accept")] and r.outcome == "accepted"


# -- mechanics ----------------------------------------------------------------------------------------


def test_negotiation_is_deterministic_and_well_formed(world) -> None:
    agents = ["tim", "sela", "olo"]
    first = negotiate(world, ActionType.ATTACK, agents)
    assert all(negotiate(world, ActionType.ATTACK, agents) == first for _ in range(5))
    assert isinstance(first.stances[0], Stance) and all(0.0 <= s.score <= 1.0 for s in first.stances)
    assert first.action.target == "tim"


def test_actor_and_duplicates_are_skipped_and_unknown_agents_raise(world) -> None:
    r = negotiate(world, ActionType.ATTACK, ["brak", "mira", "brak"])
    assert stances(r) == [("brak", "counter")]
    assert negotiate(world, ActionType.ATTACK, []).outcome == "accepted"
    with pytest.raises(NovelEngineError, match="unknown persona"):
        negotiate(world, ActionType.ATTACK, ["nobody"])


def test_different_characters_really_answer_differently(world) -> None:
    answers = {pid: negotiate(world, ActionType.ATTACK, [pid]).stances[0].stance for pid in ("brak", "tim", "vex")}
    assert answers == {"brak": "counter", "tim": "accept", "vex": "refuse"}


def test_compassion_and_fondness_temper_a_counter_attack(world) -> None:
    world.personas["sage"] = persona("sage", courage=0.6, aggressiveness=0.4, intelligence=0.3, compassion=1.0)
    world.personas["bull"] = persona("bull", courage=0.6, aggressiveness=0.4, intelligence=0.3)
    world.personas["kin"] = persona("kin", courage=0.6, aggressiveness=0.4, intelligence=0.3, rel={"mira": (0.8, 0.9)})
    answers = {pid: negotiate(world, ActionType.ATTACK, [pid]).stances[0].stance for pid in ("bull", "sage", "kin")}
    assert answers == {"bull": "counter", "sage": "refuse", "kin": "accept"}


def test_claims_may_be_named_as_what_the_speaker_tells(world) -> None:
    asked = []
    beliefs = {"pal": lambda key, value: asked.append((key, value)) or (0.05 if key == "dragon_at:cave" else 0.5)}
    r = negotiate(world, ActionType.PERSUADE, ["pal"], beliefs=beliefs, tells_key="dragon_at:cave", tells_value=False)
    assert r.outcome == "rejected" and ("dragon_at:cave", False) in asked


def test_a_lone_target_is_answered_as_in_a_crowd(world) -> None:
    # one affected persona takes a shortcut; listing it twice (or with the actor) takes the general path
    for kind in (ActionType.ATTACK, ActionType.HELP, ActionType.PERSUADE, ActionType.SPEAK, ActionType.OBSERVE):
        for pid in ("brak", "tim", "vex", "dora", "ivo", "rook", "zed", "shade"):
            alone = negotiate(world, kind, [pid])
            assert alone == negotiate(world, kind, [pid, pid]) == negotiate(world, kind, [pid, "mira"])
