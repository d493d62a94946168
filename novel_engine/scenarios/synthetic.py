"""Synthetic worlds for scale work: any number of personas, generated from a seed.

:func:`synthetic` builds a :class:`~novel_engine.core.scenario.Scenario` that is valid by
construction, so it skips validation (``model_construct``) and makes a hundred thousand personas in
a few seconds (about 300 MB). Every draw comes from one ``random.Random(seed)`` and only from its
``random()`` method, whose sequence is fixed across Python versions (unlike ``choice`` or
``randrange``); the same arguments therefore give an identical scenario everywhere.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from novel_engine.core.events import ActionType, Effect, SourceType, Visibility
from novel_engine.core.rng import seed_problem
from novel_engine.core.scenario import (
    STYLES,
    CausalRuleSpec,
    ComplicationSpec,
    Condition,
    EventPattern,
    FragmentSpec,
    LocationSpec,
    NarrativeGoalSpec,
    Scenario,
)
from novel_engine.core.setup import gc_paused
from novel_engine.errors import NovelEngineError
from novel_engine.scenarios.synthetic_cast import Places, make_cast
from novel_engine.scenarios.synthetic_words import _FLAVOUR, _STEMS, _SYLLABLES, _UNIT

__all__ = ["synthetic"]


def _check(personas: Any, locations: Any, seed: Any, style: Any) -> None:
    # bool is an int subclass; synthetic(True) is a mistake, not a one-persona world
    def is_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    if not is_int(personas) or personas < 1:
        raise NovelEngineError(
            f"synthetic(): personas must be an integer >= 1, got {personas!r}",
            argument="personas",
            value=repr(personas),
        )
    if locations is not None and (not is_int(locations) or locations < 1):
        raise NovelEngineError(
            f"synthetic(): locations must be an integer >= 1 or None, got {locations!r}",
            argument="locations",
            value=repr(locations),
        )
    if seed_problem(seed) is not None:  # the generator seed is also the session seed
        raise NovelEngineError(f"synthetic(): seed {seed_problem(seed)}", argument="seed", value=repr(seed))
    if style not in STYLES:
        raise NovelEngineError(
            f"synthetic(): style must be one of {', '.join(STYLES)}, got {style!r}", argument="style", value=repr(style)
        )


def _graph(n: int, rand: Callable[[], float]) -> list[list[int]]:
    """A ring (connected, two neighbours each) plus random chords, keeping every degree <= 4."""
    adj: list[list[int]] = [[] for _ in range(n)]
    if n == 2:
        adj[0].append(1)
        adj[1].append(0)
    elif n >= 3:
        for i in range(n):
            adj[i].append((i + 1) % n)
            adj[(i + 1) % n].append(i)
        for _ in range(n // 3):  # attempts, not chords: a rejected pair is simply skipped
            a, b = int(rand() * n), int(rand() * n)
            if a != b and b not in adj[a] and len(adj[a]) < 4 and len(adj[b]) < 4:
                adj[a].append(b)
                adj[b].append(a)
    return adj


def _effects(*pairs: tuple[str, Any, Any]) -> list[Effect]:
    return [Effect.model_construct(kind=k, target=None, key=key, value=v) for k, key, v in pairs]


def _complication(
    description: str,
    location: str | None,
    visibility: Visibility,
    intensity: float,
    key: str | None,
    value: Any,
    effects: list[Effect],
    kind: str = "world",
) -> ComplicationSpec:
    return ComplicationSpec.model_construct(
        description=description,
        kind=kind,
        location=location,
        visibility=visibility,
        intensity=intensity,
        key=key,
        value=value,
        subjects=[],
        effects=effects,
    )


def _pattern(
    action_type: ActionType | None = None, location: str | None = None, outcome: str | None = None
) -> EventPattern:
    return EventPattern.model_construct(
        kind=None, action_type=action_type, actor=None, target=None, location=location, outcome=outcome
    )


def _fragment(
    fid: str,
    content: str,
    source_type: SourceType,
    reliability: float,
    location: str | None,
    subjects: list[str],
    visibility: Visibility,
    origin: str,
    key: str,
    value: Any,
    valence: float,
    salience: float,
) -> FragmentSpec:
    return FragmentSpec.model_construct(
        id=fid,
        content=content,
        source_type=source_type,
        reliability=reliability,
        location=location,
        subjects=subjects,
        visibility=visibility,
        origin=origin,
        key=key,
        value=value,
        valence=valence,
        salience=salience,
        reach=0,
    )


def synthetic(personas: int = 1000, locations: int | None = None, seed: int = 0, style: str = "sci_fi") -> Scenario:
    """Generate a large, valid scenario from a seed.

    The world is a connected graph of places (a ring plus random chords, two to four neighbours
    each) with varied visibility. Each persona has the five core traits, a name made of syllables,
    one or two structured goals (attack, help or persuade someone it knows, move to a nearby place,
    or investigate a place), two to four relationships mostly with personas at the same or a
    neighbouring place, and, for some, cognitive biases. The scenario also has a public broadcast,
    local rumours (``location_of:<persona>``, ``threat_at:<location>``), a few private secrets, two
    causal rules, three narrative goals and the style's complications.

    Args:
        personas: cast size, at least 1.
        locations: number of places, at least 1; default ``max(4, personas // 10)``.
        seed: the generator seed (also the scenario's session seed).
        style: ``epic_fantasy``, ``noir`` or ``sci_fi`` (names, places and flavour text).

    Returns:
        A :class:`Scenario` built without validation; ``validate_scenario(s.model_dump())``
        accepts it. The same arguments always give an equal scenario.

    Raises:
        NovelEngineError: an argument is out of range or of the wrong type.
    """
    _check(personas, locations, seed, style)
    with gc_paused():
        return _generate(personas, locations, seed, style)


def _generate(personas: int, locations: int | None, seed: int, style: str) -> Scenario:
    n_loc = locations if locations is not None else max(4, personas // 10)
    rand = random.Random(seed).random
    roles, place_kinds, broadcast, complication_texts = _FLAVOUR[style]
    stems, n_stems, syl, n_syl = _STEMS, len(_STEMS), _SYLLABLES, len(_SYLLABLES)

    def word(long: bool = False) -> str:
        stem = stems[int(rand() * n_stems)]
        return stem + syl[int(rand() * n_syl)] if long else stem

    lw = max(3, len(str(n_loc - 1)))
    loc_ids = [f"loc_{i:0{lw}d}" for i in range(n_loc)]
    loc_names = [f"{word()} {place_kinds[int(rand() * len(place_kinds))]}" for _ in range(n_loc)]
    adj = _graph(n_loc, rand)
    location_specs = [
        LocationSpec.model_construct(
            id=loc_ids[i],
            name=loc_names[i],
            description=f"The {loc_names[i]}.",
            neighbours=[loc_ids[j] for j in adj[i]],
            visibility=_UNIT[15 + int(rand() * 76)],
        )
        for i in range(n_loc)
    ]
    # who is where and what they are called first: goals and relationships refer to both
    pw = max(3, len(str(personas - 1)))
    ids = [f"p_{i:0{pw}d}" for i in range(personas)]
    home = [int(rand() * n_loc) for _ in range(personas)]
    names = [f"{word(rand() < 0.3)} {word()}" for _ in range(personas)]
    places = Places(loc_ids, loc_names, adj)
    persona_specs = make_cast(rand, ids, names, home, places, roles)
    fragments = _fragments(rand, ids, names, home, places, broadcast)
    hub, quiet = 0, n_loc // 2
    threat_key = f"threat_at:{loc_ids[hub]}"
    return Scenario.model_construct(
        title=f"Synthetic {style} world ({personas} personas, seed {seed})",
        style=style,
        description=f"A generated {style} world of {personas} personas in {n_loc} places, for scale work.",
        seed=seed,
        difficulty=0.5,
        llm=None,
        facts={"alert_level": "high", threat_key: False, "hidden_cache_found": False},
        locations=location_specs,
        personas=persona_specs,
        fragments=fragments,
        causal_rules=_causal_rules(places, hub, quiet, threat_key),
        narrative_goals=[
            NarrativeGoalSpec.model_construct(
                id="first_blood", description="Someone comes to blows.", when=_pattern(ActionType.ATTACK), main=False
            ),
            NarrativeGoalSpec.model_construct(
                id="alliance",
                description="Two strangers make common cause.",
                when=_pattern(ActionType.PERSUADE, outcome="success"),
                main=False,
            ),
            NarrativeGoalSpec.model_construct(
                id="rescue",
                description="Someone is helped in time.",
                when=_pattern(ActionType.HELP, outcome="success"),
                main=False,
            ),
        ],
        complications=[
            _complication(
                text,
                loc_ids[int(rand() * n_loc)],
                Visibility.LOCAL,
                _UNIT[40 + int(rand() * 41)],
                None,
                True,
                _effects(("tension", None, 0.15)),
            )
            for text in complication_texts
        ],
    )


def _fragments(
    rand: Callable[[], float], ids: list[str], names: list[str], home: list[int], places: Places, broadcast: str
) -> list[FragmentSpec]:
    """A public broadcast, local rumours (whereabouts, threats) and a few private secrets."""
    n, n_loc = len(ids), len(places.ids)
    loc_ids, loc_names = places.ids, places.names
    out = [
        _fragment(
            "f_broadcast",
            broadcast,
            SourceType.BROADCAST,
            0.9,
            None,
            [],
            Visibility.PUBLIC,
            "world",
            "alert_level",
            "high",
            -0.5,
            0.85,
        )
    ]
    for k in range(min(2000, max(3, n // 50))):
        reliability = _UNIT[30 + int(rand() * 51)]
        if rand() < 0.5:
            j = int(rand() * n)
            # most rumours about whereabouts are right; some send people to the wrong place
            claimed = home[j] if rand() < 0.7 else int(rand() * n_loc)
            out.append(
                _fragment(
                    f"f_rumor_{k}",
                    f"Someone swears {names[j]} was seen at {loc_names[claimed]}.",
                    SourceType.RUMOR,
                    reliability,
                    loc_ids[home[j]],
                    [ids[j]],
                    Visibility.LOCAL,
                    "world",
                    f"location_of:{ids[j]}",
                    loc_ids[claimed],
                    0.0,
                    0.5,
                )
            )
        else:
            at = int(rand() * n_loc)
            out.append(
                _fragment(
                    f"f_rumor_{k}",
                    f"Word is that something dangerous waits at {loc_names[at]}.",
                    SourceType.HEARSAY,
                    reliability,
                    loc_ids[at],
                    [],
                    Visibility.LOCAL,
                    "world",
                    f"threat_at:{loc_ids[at]}",
                    True,
                    -0.6,
                    0.65,
                )
            )
    for k in range(max(1, n // 500)):
        j = int(rand() * n)
        out.append(
            _fragment(
                f"f_secret_{k}",
                f"{names[j]} hides something from everyone at {loc_names[home[j]]}.",
                SourceType.DIRECT_OBSERVATION,
                1.0,
                loc_ids[home[j]],
                [ids[j]],
                Visibility.PRIVATE,
                ids[j],
                f"secret_of:{ids[j]}",
                True,
                -0.2,
                0.8,
            )
        )
    return out


def _causal_rules(places: Places, hub: int, quiet: int, threat_key: str) -> list[CausalRuleSpec]:
    """Fighting at the hub draws danger there; investigating a quiet place uncovers a cache."""
    ids, names = places.ids, places.names
    return [
        CausalRuleSpec.model_construct(
            id="fighting_draws_danger",
            when=_pattern(ActionType.ATTACK, ids[hub]),
            then=_complication(
                f"The fighting at {names[hub]} draws something worse.",
                ids[hub],
                Visibility.LOCAL,
                0.7,
                threat_key,
                True,
                _effects(("set_fact", threat_key, True), ("tension", None, 0.2)),
                kind="causal",
            ),
            strength=0.8,
            delay_turns=1,
            conditions=[],
            once=True,
        ),
        CausalRuleSpec.model_construct(
            id="cache_uncovered",
            when=_pattern(ActionType.INVESTIGATE, ids[quiet]),
            then=_complication(
                f"A hidden cache is uncovered at {names[quiet]}.",
                ids[quiet],
                Visibility.LOCAL,
                0.5,
                "hidden_cache_found",
                True,
                _effects(("set_fact", "hidden_cache_found", True), ("tension", None, 0.1)),
                kind="causal",
            ),
            strength=0.7,
            delay_turns=0,
            conditions=[
                Condition.model_construct(fact="hidden_cache_found", equals=False, persona=None, status=None, at=None)
            ],
            once=True,
        ),
    ]
