"""bench story's reader: it counts every kind of contradiction, loop and pay-off it is meant to,
independently of the engine's coherence engine; and the built-ins read clean on fixed seeds."""

from __future__ import annotations

import json

import pytest

from novel_engine.benchmarks.story import bench_story, play_and_check
from novel_engine.benchmarks.story_checks import CONTRADICTIONS, check_story
from novel_engine.core.events import Event, Outcome
from tests.unit.test_story_engine import FRAGMENTS, scenario


def ev(n, actor, kind, target=None, location="hall", outcome=Outcome.SUCCESS, turn=1, causes=(), dialogue=None, **data):
    return Event(
        id=f"e{turn:04d}.{n:06d}",
        turn=turn,
        kind="action",
        summary=f"{actor} {kind}",
        actor=actor,
        action_type=kind,
        target=target,
        location=location,
        outcome=outcome,
        causes=causes,
        dialogue=dialogue,
        data=data,
    )


def test_the_reader_counts_each_kind_of_contradiction():
    goals = [{"id": "never", "description": "x", "when": {"action_type": "help"}}]
    sc = scenario(fragments=FRAGMENTS, narrative_goals=goals)
    events = [
        ev(1, "bob", "move", "gate", location="gate", **{"from": "hall", "to": "gate"}),  # not next door
        ev(2, "ann", "persuade", "cat"),  # cat is in the yard
        ev(3, "ann", "attack", "bob", location="gate", causes=("e0001.000009",)),  # ann is in the hall; cause later
        ev(4, "ann", "investigate", found=["far"]),  # kept at the gate
        ev(5, "cat", "attack", "cat", location="yard", damage=2.0, incapacitated=["cat"]),
        ev(6, "cat", "speak", "cat", location="yard", dialogue="I rise."),  # down, and speaking
        ev(7, "bob", "attack", "cat", location="gate"),  # cat is down (and away)
        ev(9, "ann", "observe"),
    ]
    sealed = {"kind": "set_fact", "key": "closed:yard", "value": True}
    sc = scenario(
        fragments=FRAGMENTS,
        narrative_goals=goals,
        complications=[
            {"description": "The yard gate slams shut.", "location": "yard", "danger": False, "effects": [sealed]}
        ],
    )
    shut = Event(  # news left standing as a danger
        id="e0001.000000",
        turn=1,
        kind="world",
        summary="The yard gate slams shut.",
        location="yard",
        data={"danger_turns": 3},
    )
    into = ev(10, "ann", "move", "yard", location="yard", **{"from": "hall", "to": "yard"})  # sealed this turn
    perils = [
        ev(11, "ann", "capture", "cat", location="yard", captured=["cat"]),  # cat, down, taken captive
        ev(12, "cat", "flee", "hall", location="hall", **{"from": "yard", "to": "hall"}),  # a captive walks off
        ev(13, "ann", "fight_fire", location="yard"),  # nothing burns in the yard
        ev(14, "bob", "attack", "ann", location="hall", counter_by=["cat"]),  # cat, bound, steps in
    ]
    f = check_story(sc, [([shut, *events, into, *perils], "", ("never",))])
    # every kind read from the events alone (a standing line told after its end is read from the prose)
    assert set(CONTRADICTIONS) - {"held_after_release"} == {k for k, n in f.contradictions.items() if n}, f.examples
    assert f.contradictions["captive_acting"] == 2 and f.contradictions["phantom_fire"] == 1
    assert f.milestones == 1 and f.milestones_holding == 0


def test_the_reader_catches_a_captive_told_still_held_after_getting_loose():
    sc = scenario(fragments=FRAGMENTS)
    taken = ev(1, "ann", "capture", "bob", captured=["bob"])
    away = ev(1, "bob", "flee", "gate", location="gate", turn=2, escaped=["bob"], **{"from": "hall", "to": "gate"})
    before = ([taken], "Ann ties Bob to a chair.", ())
    late = check_story(
        sc, [before, ([away], "Bob bolts for the Gate. Bob is loose. In the Hall, Bob is still tied up.", ())]
    )
    assert late.contradictions["held_after_release"] == 1, late.examples
    ok = check_story(sc, [before, ([away], "Bob is still tied up in the Hall. Then Bob slips free and bolts.", ())])
    assert ok.contradictions["held_after_release"] == 0, ok.examples


def test_the_reader_counts_repeats_bounces_secrets_quotes_and_templates():
    sc = scenario(
        fragments=FRAGMENTS,
        personas=[
            *scenario().model_dump()["personas"][:2],
            {**scenario().model_dump()["personas"][2], "voice": ["Not again, not ever."]},
        ],
    )
    turns = []
    trail = ["yard", "hall", "yard", "hall"]
    for t in range(1, 5):
        events = [
            ev(
                1,
                "cat",
                "move",
                trail[t - 1],
                location=trail[t - 1],
                turn=t,
                **{"from": (["yard", *trail])[t - 1], "to": trail[t - 1]},
            ),
            ev(2, "ann", "observe", turn=t),
            ev(3, "bob", "investigate", turn=t, **({"found": ["ledger"]} if t == 1 else {})),
        ]
        turns.append((events, 'Ann keeps watch over the Hall. Cat says: "Not again, not ever." Ann waits 3 days.', ()))
    f = check_story(sc, turns)
    assert f.bounces == 1  # yard, hall, yard, hall
    assert f.repeat_candidates == 9 and f.repeats == 6  # ann observes thrice more; bob searches on, finding nothing
    assert f.secrets == 1 and f.secrets_uncovered == 0  # bob found his own ledger: no news
    assert f.quotes == 4 and f.quotes_verbatim == 4
    assert f.sentences == 12 and f.templates == 3  # names and numbers normalised
    assert sum(f.contradictions.values()) == 0, f.examples


def test_the_reader_catches_a_standing_condition_forgotten_and_calm_under_a_standing_threat():
    sc = scenario(fragments=FRAGMENTS)
    fall = ev(1, "ann", "attack", "bob", damage=1.0, incapacitated=["bob"])
    fire = Event("e0001.000002", 1, "world", "Fire sweeps the Yard", location="yard", intensity=0.9)
    quiet = [ev(1, "cat", "observe", location="yard", turn=t) for t in (2, 3, 4)]
    told = (
        [fall, fire],
        "Ann strikes Bob down. Fire sweeps the yard, roaring.",
        (),
    )
    # the chapters after never name Bob, who lies in the hall, nor the burning yard; one speaks of peace
    f = check_story(
        sc, [told, *[([e], "Cat keeps watch. The day dawns gently, and all is at peace.", ()) for e in quiet]]
    )
    assert (f.standing, f.standing_forgotten) == (2, 2), f.examples
    assert f.calm_under_threat == 2  # turns 2 and 3, while the fire stands; by turn 4 it has died down
    kept = check_story(
        sc,
        [
            told,
            (quiet[:1], "Bob still lies in the Hall. Smoke still hangs over the Yard.", ()),
            (quiet[1:2], "Cat keeps watch.", ()),
        ],
    )
    assert (kept.standing, kept.standing_forgotten, kept.calm_under_threat) == (2, 0, 0), kept.examples


def test_the_reader_catches_a_wound_its_bearer_carries_unmentioned():
    sc = scenario(fragments=FRAGMENTS)
    blow = ev(1, "ann", "attack", "bob", damage=0.5, wounded=["bob"])
    later = [ev(1, "bob", "observe", turn=t) for t in (2, 3)]
    forgotten = check_story(
        sc,
        [([blow], "Ann cuts Bob, and Bob bleeds.", ()), *[([e], "Bob keeps watch over the Hall.", ()) for e in later]],
    )
    assert (forgotten.standing, forgotten.standing_forgotten) == (1, 1), forgotten.examples
    told = check_story(
        sc,
        [
            ([blow], "Ann cuts Bob, and Bob bleeds.", ()),
            (later[:1], "Bob, bandaged, keeps watch.", ()),
            (later[1:], "Bob waits.", ()),
        ],
    )
    assert (told.standing, told.standing_forgotten) == (1, 0), told.examples
    unseen = check_story(
        sc, [([blow], "Ann cuts Bob, and Bob bleeds.", ()), ([ev(1, "ann", "observe", turn=2)], "Ann waits.", ())]
    )
    assert unseen.standing == 0  # Bob is not in the chapter after: nothing to remind of


@pytest.mark.parametrize("name", ["fantasy_world", "noir_city", "space_station"])
def test_builtins_tell_stories_without_contradictions_on_fixed_seeds(name):
    for seed in (1, 2):
        f = play_and_check(name, seed, 20)
        assert sum(f.contradictions.values()) == 0, f.examples
        assert f.bounces == 0
        assert f.milestones_holding == f.milestones
        # what was told stays told: no fall or danger is dropped, no calm sky over a fire
        assert f.standing > 0 and f.standing_forgotten == 0 and f.calm_under_threat == 0, f.examples
        # pacing: three complications over 20 stalled-prone turns; a story that reached its main
        # goals sooner has ended (run stops there) and needed fewer, but not none
        assert f.complications_fired >= (3 if f.turns == 20 else 1), (seed, f.turns, f.complications_fired)


def test_bench_story_writes_its_figures(tmp_path, capsys):
    out = tmp_path / "story.json"
    result = bench_story(seeds=(1,), turns=4, personas=20, out=out, scenarios=["noir_city"])
    data = json.loads(out.read_text())
    assert set(data["scenarios"]) == {"noir_city", "synthetic_20"} and data["turns"] == 4
    assert data["overall"]["stories"] == 2 and "load_average" in data
    assert result["scenarios"]["noir_city"]["turns"] == 4
    assert "overall" in capsys.readouterr().out
