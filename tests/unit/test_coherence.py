"""NarrativeCoherenceEngine: every violation kind, the score arithmetic and the report helpers."""

from __future__ import annotations

import pytest

from novel_engine.core.coherence import (
    CharacterArc,
    CoherenceReport,
    NarrativeCoherenceEngine,
    Violation,
    character_arcs,
)
from novel_engine.core.events import ActionType, Event
from novel_engine.core.world import Location, PersonaState, Relationship, WorldState
from novel_engine.errors import NovelEngineError

GENTLE = {"compassion": 0.9, "aggressiveness": 0.1}
BRUTE = {"compassion": 0.1, "aggressiveness": 0.9}
PLAIN = {"compassion": 0.5, "aggressiveness": 0.5}


def arc(pid: str, location: str = "hall", status: str = "active", traits=PLAIN, hostile=()) -> CharacterArc:
    return CharacterArc(pid, location, status, traits, frozenset(hostile))


ARCS = {
    "ann": arc("ann"),
    "gil": arc("gil", traits=GENTLE, hostile={"rat"}),
    "bo": arc("bo", traits=BRUTE),
    "kai": arc("kai", status="incapacitated"),
    "wen": arc("wen", status="wounded", location="yard"),
}


def act(
    eid: str,
    actor: str | None,
    kind: str = "speak",
    target: str | None = "ann",
    location: str | None = "hall",
    turn: int = 5,
    causes: tuple[str, ...] = (),
    **data,
) -> Event:
    return Event(
        id=eid,
        turn=turn,
        kind="action",
        summary=eid,
        actor=actor,
        action_type=kind,
        target=target,
        location=location,
        causes=causes,
        data=data,
    )


def other(eid: str, kind: str, causes: tuple[str, ...] = (), turn: int = 5) -> Event:
    return Event(id=eid, turn=turn, kind=kind, summary=eid, causes=causes)


def evaluate(proposed, previous=(), arcs=ARCS, engine=None, **kw) -> CoherenceReport:
    return (engine or NarrativeCoherenceEngine()).evaluate_coherence(list(previous), list(proposed), arcs, **kw)


def kinds(report: CoherenceReport) -> list[tuple[str, str]]:
    return [(v.event_id, v.kind) for v in report.violations]


def test_a_coherent_turn_scores_one() -> None:
    report = evaluate(
        [
            act("e1", "ann", target="bo"),
            act("e2", "wen", "rest", None, "yard"),
            act("e3", "bo", "move", "yard", "yard", **{"from": "hall"}),
        ]
    )
    assert report == CoherenceReport(1.0, ())
    assert evaluate([]).score == 1.0


def test_absent_and_incapacitated_actors() -> None:
    report = evaluate([act("e1", "ghost"), act("e2", "kai")])
    assert kinds(report) == [("e1", "absent_actor"), ("e2", "incapacitated_actor")]
    assert report.violations[0] == Violation("absent_actor", "e1", "ghost is not in the story", 1.0)
    assert report.score == 0.0


def test_location_contradictions() -> None:
    report = evaluate(
        [
            act("away", "ann", location="yard"),  # ann is in the hall
            act("badmove", "bo", "move", "hall", "hall", **{"from": "yard"}),  # bo starts in the hall
            act("goodmove", "wen", "flee", "hall", "hall", **{"from": "yard"}),
        ]
    )
    assert kinds(report) == [("away", "location_contradiction"), ("badmove", "location_contradiction")]


def test_one_actor_in_two_places_in_one_turn() -> None:
    report = evaluate(
        [
            act("a1", "wen", "rest", None, "yard"),
            act("a2", "wen", "observe", None, "hall"),
            act("a3", "wen", "rest", None, "yard", turn=6),
        ]
    )
    assert ("a2", "location_contradiction") in kinds(report)
    details = [v.detail for v in report.by_event()["a2"]]
    assert "wen acts at both yard and hall in one turn" in details
    assert "a1" not in report.by_event() and "a3" not in report.by_event()


def test_out_of_character_only_without_cause_or_provocation() -> None:
    report = evaluate(
        [
            act("gentle_attack", "gil", "attack", "ann"),
            act("provoked_attack", "gil", "attack", "rat"),  # rat is in gil's hostile_toward
            act("caused_attack", "gil", "attack", "bo", causes=("insult",)),
            act("brute_help", "bo", "help", "ann"),
            act("brute_attack", "bo", "attack", "ann"),
            act("caused_help", "bo", "help", "gil", causes=("bribe",)),
        ],
        previous=[other("insult", "action", turn=4), other("bribe", "world", turn=4)],
    )
    assert kinds(report) == [("gentle_attack", "out_of_character"), ("brute_help", "out_of_character")]
    assert all(v.severity == 0.6 for v in report.violations)
    assert report.score == pytest.approx(1.0 - 1.2 / 6)


def test_uncaused_effects() -> None:
    report = evaluate(
        [
            other("c1", "causal"),  # no cause at all
            other("c2", "reaction", causes=("old",)),  # cause only in history: fine
            other("c3", "causal", causes=("c1",)),  # cause proposed this turn: fine
            other("c4", "reaction", causes=("nowhere",)),
            other("w1", "world"),  # world events need no cause
        ],
        previous=[other("old", "world", turn=2)],
    )
    assert kinds(report) == [("c1", "uncaused_effect"), ("c4", "uncaused_effect")]
    older = evaluate([other("c5", "causal", causes=("ancient",))], known_event_ids={"ancient"})
    assert older.violations == ()


def test_repetition_needs_the_same_action_in_each_window_turn() -> None:
    history = [
        act("h1", "ann", "persuade", "bo", turn=3),
        act("h2", "ann", "persuade", "bo", turn=4),
        act("h3", "bo", "rest", None, turn=4),
    ]
    report = evaluate(
        [
            act("p1", "ann", "persuade", "bo"),
            act("p2", "bo", "rest", None),
            act("p3", "ann", "persuade", "gil", turn=5),
        ],
        previous=history,
    )
    assert kinds(report) == [("p1", "repetition")]  # bo rested only once before; p3 has another target
    assert report.violations[0].severity == 0.3
    assert report.score == pytest.approx(1.0 - 0.3 / 3)
    wide = NarrativeCoherenceEngine(repetition_window=3)
    assert evaluate([act("p1", "ann", "persuade", "bo")], history, engine=wide).violations == ()
    off = NarrativeCoherenceEngine(repetition_window=0)
    assert evaluate([act("p1", "ann", "persuade", "bo")], history, engine=off).violations == ()


def test_action_types_may_be_enum_members() -> None:
    history = [act(f"h{t}", "ann", ActionType.PERSUADE, "bo", turn=t) for t in (3, 4)]
    report = evaluate([act("p1", "ann", ActionType.PERSUADE, "bo")], history)
    assert kinds(report) == [("p1", "repetition")]


def test_score_caps_each_event_at_one_and_averages() -> None:
    # e1: absent (1.0); e2: incapacitated + away (2.0 -> 1); e3: repetition 0.3 + out of character 0.6; e4 clean
    history = [act(f"h{t}", "gil", "attack", "ann", turn=t) for t in (3, 4)]
    report = evaluate(
        [act("e1", "ghost"), act("e2", "kai", location="yard"), act("e3", "gil", "attack", "ann"), act("e4", "ann")],
        previous=history,
    )
    assert report.by_event().keys() == {"e1", "e2", "e3"}
    assert [v.kind for v in report.by_event()["e3"]] == ["out_of_character", "repetition"]
    assert report.score == pytest.approx(1.0 - (1.0 + 1.0 + 0.9 + 0.0) / 4)
    assert report.rejected_ids() == {"e1", "e2"}
    assert report.rejected_ids(threshold=0.5) == {"e1", "e2", "e3"}


def test_threshold_and_validation() -> None:
    engine = NarrativeCoherenceEngine(threshold=0.8)
    assert engine.threshold == 0.8 and NarrativeCoherenceEngine().threshold == 0.7
    assert engine.acceptable(CoherenceReport(0.85)) and not engine.acceptable(CoherenceReport(0.75))
    with pytest.raises(NovelEngineError):
        NarrativeCoherenceEngine(threshold=1.5)
    with pytest.raises(NovelEngineError):
        NarrativeCoherenceEngine(repetition_window=-1)


def test_character_arcs_from_the_world() -> None:
    ann = PersonaState(
        "ann", "Ann", "hall", dict(PLAIN), relationships={"bo": Relationship(-0.5, 0.0), "gil": Relationship(0.2, 0.5)}
    )
    bo = PersonaState("bo", "Bo", "yard", dict(BRUTE), health=0.0)
    w = WorldState({"hall": Location("hall", "Hall"), "yard": Location("yard", "Yard")}, {"ann": ann, "bo": bo})
    arcs = character_arcs(w, {"ann": {"rat"}})
    assert arcs["ann"] == CharacterArc("ann", "hall", "active", ann.traits, frozenset({"bo", "rat"}))
    assert arcs["bo"].status == "incapacitated" and arcs["bo"].location == "yard"
    report = evaluate([act("e1", "ann", "attack", "bo"), act("e2", "bo", location="yard")], arcs=arcs)
    assert kinds(report) == [("e2", "incapacitated_actor")]


def test_hostility_may_be_any_container_that_answers_in() -> None:
    class Grudges:
        def __contains__(self, persona_id: object) -> bool:
            return persona_id == "rat"

    arcs = {"gil": CharacterArc("gil", "hall", "active", GENTLE, Grudges())}
    report = evaluate([act("e1", "gil", "attack", "rat"), act("e2", "gil", "attack", "ann", turn=6)], arcs=arcs)
    assert kinds(report) == [("e2", "out_of_character")]
