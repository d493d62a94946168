"""The offline policy: characters behave recognisably, deterministically, within their brief."""

from __future__ import annotations

from collections import Counter

from novel_engine.core.briefs import MemoryItem, PresentPersona, TurnBrief
from novel_engine.core.events import ActionType, InformationFragment, SourceType
from novel_engine.core.perception import PerceivedFragment, Perception
from novel_engine.core.rng import RandomStreams
from novel_engine.core.world import Goal
from novel_engine.llm.offline_policy import decide, threat_level

BRAVE = dict(courage=0.95, intelligence=0.5, compassion=0.3, aggressiveness=0.85, social_tendency=0.4)
TIMID = dict(courage=0.05, intelligence=0.5, compassion=0.4, aggressiveness=0.05, social_tendency=0.3)
KIND = dict(courage=0.5, intelligence=0.5, compassion=0.97, aggressiveness=0.05, social_tendency=0.6)
CHATTY = dict(courage=0.5, intelligence=0.4, compassion=0.5, aggressiveness=0.1, social_tendency=0.98)


def brief(
    traits,
    *,
    present=(),
    perceived=(),
    memories=(),
    goals=(),
    health=1.0,
    turn=3,
    paths=None,
    neighbours=(("road", "The Road"),),
    agent="me",
) -> TurnBrief:
    actions = {a: () for a in ("observe", "investigate", "hide", "rest")}
    if neighbours:
        actions["move"] = actions["flee"] = tuple(n for n, _ in neighbours)
    if present:
        for a in ("speak", "persuade", "help", "attack"):
            actions[a] = tuple(p.id for p in present)
    return TurnBrief(
        agent_id=agent,
        name="Me",
        turn=turn,
        location="square",
        location_name="The Square",
        health=health,
        status="active" if health >= 0.6 else "wounded",
        traits=traits,
        goals=tuple(goals),
        present=tuple(present),
        neighbours=tuple(neighbours),
        perceived=tuple(perceived),
        beliefs=(),
        memories=tuple(memories),
        available_actions=actions,
        paths=paths or {},
    )


def many(traits, n=60, **kw) -> Counter:
    """Decisions of n different personas with the same traits (the noise differs per persona)."""
    streams = RandomStreams(11)
    return Counter(decide(brief(traits, agent=f"p{i}", **kw), streams).action_type.value for i in range(n))


def threat_fragment(valence=-0.9):
    f = InformationFragment(
        id="ev:e1",
        content="a beast attacks",
        source_type=SourceType.DIRECT_OBSERVATION,
        reliability=0.9,
        location="square",
        turn=2,
        valence=valence,
        salience=0.9,
    )
    return PerceivedFragment(Perception(f, 0.9, "here"), 0.95)


def test_brave_confront_foes_and_timid_hide_or_flee():
    foe = PresentPersona("foe", "Foe", "active", trust=-0.8, affinity=-0.7)
    brave = many(BRAVE, present=[foe], perceived=[threat_fragment()])
    timid = many(TIMID, present=[foe], perceived=[threat_fragment()])
    assert brave["attack"] > 30
    assert timid["hide"] + timid["flee"] > 40
    assert timid["attack"] == 0


def test_compassionate_help_the_wounded():
    hurt = PresentPersona("hurt", "Hurt", "wounded", trust=0.3, affinity=0.4)
    kind = many(KIND, present=[hurt])
    assert kind["help"] > 40
    brave = many(BRAVE, present=[hurt])
    assert brave["help"] < kind["help"]


def test_sociable_talk_and_the_hurt_rest():
    friend = PresentPersona("f", "Friend", "active", trust=0.6, affinity=0.6)
    assert many(CHATTY, present=[friend])["speak"] + many(CHATTY, present=[friend])["persuade"] > 40
    assert many(TIMID, health=0.15)["rest"] > 30


def test_idle_talk_wears_out_whoever_it_was_with():
    friend = PresentPersona("f", "Friend", "active", trust=0.6, affinity=0.6)

    def said(turn: int, to: str, progress: bool = False) -> MemoryItem:
        return MemoryItem(turn, f"e{turn}", "small talk", "actor", "speak", to, "success", progress=progress)

    fresh = many(CHATTY, present=[friend], turn=6)
    # three of the last four turns spent on talk that led nowhere, with one and then another
    talked = many(CHATTY, present=[friend], turn=6, memories=[said(2, "a"), said(4, "b"), said(5, "c")])
    told = many(CHATTY, present=[friend], turn=6, memories=[said(2, "a"), said(4, "b", True), said(5, "c", True)])
    assert fresh["speak"] + fresh["persuade"] > 40
    assert talked["speak"] + talked["persuade"] < 20  # people go and do something
    assert told["speak"] + told["persuade"] > 40  # talk that moved something on does not wear out


def test_goals_pull_toward_their_target_and_place():
    dragon = PresentPersona("dragon", "Dragon", "active")
    goal = Goal("slay the dragon", action=ActionType.ATTACK, target="dragon", priority=1.0)
    assert many(BRAVE, present=[dragon], goals=[goal])["attack"] > 50
    # a goal names one person present, for any personal action: even the gentle do what it asks
    bob, ann = PresentPersona("bob", "Bob", "active"), PresentPersona("ann", "Ann", "active")
    for act in (ActionType.ATTACK, ActionType.PERSUADE, ActionType.SPEAK, ActionType.HELP):
        got = Counter()
        for i in range(40):
            d = decide(
                brief(
                    TIMID,
                    agent=f"p{i}",
                    present=[ann, bob],
                    goals=[Goal("see to bob", action=act, target="bob", priority=1.0)],
                ),
                RandomStreams(11),
            )
            got[(d.action_type.value, d.target)] += 1
        assert got[(act.value, "bob")] > 30, (act, got)
    far = many(
        BRAVE, goals=[Goal("reach the tower", action=ActionType.MOVE, location="tower")], paths={"tower": "road"}
    )
    assert far["move"] > 45


def test_decisions_are_deterministic_and_valid():
    foe = PresentPersona("foe", "Foe", "active", trust=-0.5)
    b = brief(BRAVE, present=[foe])
    d1, d2 = decide(b, RandomStreams(3)), decide(b, RandomStreams(3))
    assert d1 == d2
    seen = {decide(brief(CHATTY, present=[foe], turn=t), RandomStreams(3)).action_type for t in range(1, 40)}
    assert len(seen) >= 2  # the seeded noise makes the same persona vary over turns
    for t in range(1, 40):
        d = decide(brief(CHATTY, present=[foe], turn=t), RandomStreams(5))
        targets = b.available_actions[d.action_type.value]
        assert (d.target in targets) if targets else d.target is None


def test_threat_level_reads_bad_news_foes_and_attacks():
    assert threat_level(brief(BRAVE)) == 0.0
    assert threat_level(brief(BRAVE, perceived=[threat_fragment()])) > 0.7
    mem = MemoryItem(turn=2, event_id="e", summary="x attacks me", role="target", action_type="attack", other="x")
    assert threat_level(brief(BRAVE, memories=[mem])) == 0.8
