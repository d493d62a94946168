"""Point-of-view chapters tell nothing the persona could not know, misconceptions included."""

from __future__ import annotations

import re

import pytest

from novel_engine import Engine
from novel_engine.errors import SessionError
from novel_engine.testing.tales import TRAITS


def _place(lid, name, neighbours):
    return {"id": lid, "name": name, "neighbours": neighbours}


def _persona(pid, name, location, **kw):
    return {"id": pid, "name": name, "location": location, "traits": TRAITS, **kw}


ISOLATED = {
    "title": "Two Rooms",
    "style": "noir",
    "seed": 5,
    "locations": [
        _place("cellar", "Cellar", ["hall"]),
        _place("hall", "Hall", ["cellar", "yard"]),
        _place("yard", "Yard", ["hall", "field"]),
        _place("field", "Field", ["yard", "tower"]),
        _place("tower", "Tower", ["field"]),
    ],
    "personas": [
        _persona("watcher", "Wilma Watcher", "cellar"),
        _persona("brute", "Bruno Brute", "tower"),
        _persona("victim", "Vera Victim", "tower"),
    ],
    # a public rumour that puts Vera in the yard: she is in the tower all along
    "fragments": [
        {
            "id": "rumour",
            "content": "Vera was seen in the yard",
            "visibility": "public",
            "key": "location_of:victim",
            "value": "yard",
            "reliability": 0.9,
            "subjects": ["victim"],
        }
    ],
}


def _names(text: str, names: dict[str, str]) -> set[str]:
    return {pid for pid, name in names.items() if re.search(rf"\b{re.escape(name)}\b", text)}


def test_a_far_away_fight_is_not_told_and_a_false_rumour_is_told_as_believed():
    session = Engine("local").create_session(ISOLATED, seed=5)
    for _ in range(4):
        # Vera stands her ground (a player's choice), so the fight stays in the tower
        session.step(
            {
                "watcher": {"action_type": "rest"},
                "brute": {"action_type": "attack", "target": "victim"},
                "victim": {"action_type": "rest"},
            }
        )
    world = session.world
    assert world.personas["victim"].location == "tower" and world.personas["watcher"].location == "cellar"
    told = session.narrative()
    pov = session.narrative(pov="watcher")
    assert "Bruno Brute" in told  # the fight is in the story...
    assert "Bruno Brute" not in pov and "Tower" not in pov  # ...and not in what Wilma could know of it
    assert "Wilma Watcher" in pov
    # she believes the rumour: Vera in the yard, which is false, and her chapter says so
    assert re.search(r"Vera Victim was (at|now at) the Yard|Vera Victim was at Yard", pov), pov
    chapters = session.pov_chapters("watcher")
    assert [c.turn for c in chapters] == [1, 2, 3, 4]
    assert "brute" not in chapters[-1].people and "tower" not in chapters[-1].places
    # the fight's victim seen from the tower's side
    assert "Wilma Watcher" not in session.narrative(pov="brute")


@pytest.mark.parametrize("scenario,seed", [("fantasy_world", 1), ("noir_city", 2), ("space_station", 3)])
def test_pov_chapters_tell_only_what_each_persona_perceived(scenario, seed):
    """For every persona: each event told happened where it stood (or to it, or reached it), and
    every person or place named is one it met, stood at, saw from there, or holds a belief about."""
    session = Engine("local").create_session(scenario, seed=seed)
    ids = [p.id for p in session.scenario.personas]
    where = {pid: [p.location for p in session.scenario.personas if p.id == pid] for pid in ids}
    for _ in range(8):
        session.step()
        world = session.world
        for pid in ids:
            where[pid].append(world.personas[pid].location)
    world = session.world
    people = {pid: p.name for pid, p in world.personas.items()}
    places = {lid: loc.name for lid, loc in world.locations.items()}
    events = {e.id: e for r in session.reports() for e in r.events}
    told_someone_else = 0
    for pid in ids:
        beliefs = session._sync(session._rt.belief_model_of(pid))
        believed_people, believed_places = set(), set()
        for entry in beliefs["keys"]:
            _, _, subject = entry["key"].partition(":")
            values = {r[1] for r in entry["evidence"]} | {subject}
            believed_people |= {v for v in values if v in people}
            believed_places |= {v for v in values if v in places}
            # news it heard (a world event's description) may name people
            believed_people |= {x for v in values if isinstance(v, str) for x in _names(v, people)}
        rels = {r.target for p in session.scenario.personas if p.id == pid for r in p.relationships}
        met = {pid} | rels | believed_people  # grows as the story goes
        for chapter in session.pov_chapters(pid):
            t = chapter.turn
            stood = {where[pid][t - 1], where[pid][t]}
            near = stood | {n for s in stood for n in world.locations[s].neighbours}
            for eid in chapter.witnessed:
                e = events[eid]
                involved = pid in (e.actor, e.target, *e.participants)
                assert e.turn == t
                assert (
                    involved
                    or e.location is None
                    or e.location in (near if e.kind != "action" else stood)
                    or (e.data or {}).get("from") in stood
                ), (pid, e)
                met |= {x for x in (e.actor, e.target, *e.participants) if x}
                met |= {x for k in ("wounded", "incapacitated", "counter_by") for x in (e.data or {}).get(k, ())}
                met |= {s["agent"] for s in (e.data or {}).get("stances", ())}
                if not involved and e.kind == "action":
                    told_someone_else += 1
                if e.kind != "action":  # a world event it perceived may name people
                    met |= _names(e.summary, people)
            text = chapter.text.replace(session.scenario.title, "")  # the book's title is no knowledge
            assert _names(text, people) <= met, (pid, t, _names(text, people) - met, text)
            # a place it never stood at, saw across to, or believes something about is never named
            seen_places = {x for s in where[pid][: t + 1] for x in (s, *world.locations[s].neighbours)}
            assert _names(text, places) <= seen_places | believed_places, (pid, t, text)
    assert told_someone_else > 0  # the chapters do tell what others did in sight


def test_unknown_pov_is_a_clear_error():
    session = Engine("local").create_session("fantasy_world", seed=1)
    session.step()
    with pytest.raises(SessionError, match="nobody"):
        session.narrative(pov="nobody")
