"""Which of a turn's events the chronicler tells, and when a story ends.

:func:`select_highlights` picks the events worth telling in a large turn (the Ray director calls
it too, to ship only the told events and the characters the chapter will name, so it depends on
nothing but the events), :func:`untold_of` sums up the rest; :func:`ends_story` says whether a turn reached the last of the scenario's main goals.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from novel_engine.core.events import Event

__all__ = ["select_highlights", "Untold", "untold_of", "ends_story", "main_goals", "THREADS_CLOSED"]

THREADS_CLOSED = "threads_closed"  # the milestone of a story whose threads have all closed (the director's)


def main_goals(scenario: Any) -> frozenset[str]:
    """The ids of the narrative goals whose reaching ends the story (``main``; none: it never ends)."""
    return frozenset(g.id for g in getattr(scenario, "narrative_goals", ()) if getattr(g, "main", True))


def ends_story(scenario: Any, reached: Mapping[str, Any] | Sequence[str], milestones: Sequence[str]) -> bool:
    """Whether this turn's ``milestones`` reached the last of the scenario's main goals, or closed
    the story's last thread (``THREADS_CLOSED``)."""
    if THREADS_CLOSED in milestones:
        return True
    main = main_goals(scenario)
    return bool(main) and any(m in main for m in milestones) and main <= set(reached)


def closed_threads(scenario: Any, reached: Mapping[str, int]) -> tuple[str, ...]:
    """What the story's ending closed: the narrative goals reached, in the order they were, each as
    the scenario describes it (the epilogue names them rather than saying "it ended")."""
    order = sorted((turn, gid) for gid, turn in reached.items() if gid != THREADS_CLOSED)
    text = {g.id: g.description for g in scenario.narrative_goals}
    return tuple(text[gid] for _, gid in order if gid in text)


def select_highlights(
    events: Sequence[Event], limit: int, impact: Callable[[Event], float] | None = None
) -> tuple[list[Event], int]:
    """Pick the events worth telling, in their original order, and count the rest.

    Every event is kept when there are at most ``limit``. Otherwise player events are always kept;
    a large cast is followed through three protagonists (the acting personas with the smallest
    ids, so the same people from turn to turn), whose events take up to half the places; the rest
    go to the highest ``impact(event)`` (or ``event.intensity``), ties broken by event id, so the
    choice never depends on the order events arrived in; and if no exchange of words made it, the
    weightiest one takes the last place.

    Returns:
        (the highlights in their original order, how many events were left out)
    """
    if len(events) <= limit:
        return list(events), 0
    score = impact if impact is not None else (lambda e: e.intensity)
    keep = {i for i, e in enumerate(events) if "player" in e.flags}
    room = limit - len(keep)
    heroes = set(heapq.nsmallest(3, {e.actor for e in events if e.actor and e.kind == "action"}))
    if room > 1 and heroes:
        theirs = [
            (-float(score(e)), e.id, i)
            for i, e in enumerate(events)
            if i not in keep and (e.actor in heroes or e.target in heroes)
        ]
        keep.update(i for _, _, i in heapq.nsmallest(room // 2, theirs))
        room = limit - len(keep)
    if room > 0:
        rest = [(-float(score(e)), e.id, i) for i, e in enumerate(events) if i not in keep]
        best = heapq.nsmallest(room, rest)
        keep.update(i for _, _, i in best)
        # a large cast talks too: fights outscore words, so one exchange takes the last place
        if room >= 4 and not any(_talk(events[i]) for i in keep):
            talk = [r for r in rest if _talk(events[r[2]])]
            if talk:
                keep.discard(best[-1][2])
                keep.add(min(talk)[2])
    return [e for i, e in enumerate(events) if i in keep], len(events) - len(keep)


#: the data keys by which an untold event still changes what the story holds as standing
#: (someone helped up, freed or escaped, a fire out; see ``standing_notes.advance``)
_NOTABLE = ("raised", "freed", "escaped", "fire_out")


@dataclass(frozen=True)
class Untold:
    """What a chronicler must know of a turn's events it will not tell, without the events: a
    large cast's turn has tens of thousands, and a chronicler in another process is sent only
    the told ones and this (the Ray narrator).

    Attributes:
        count: how many events are left out.
        kinds: the untold action events by action type, most first (see :func:`_kinds_left_out`).
        acted: who acted in an untold action event (up again, if the story had them down).
        notable: the untold events whose data changes what stands (someone raised, freed or
            escaped, a fire out), in their original order.
    """

    count: int
    kinds: tuple[tuple[str, int], ...]
    acted: frozenset[str]
    notable: tuple[Event, ...]


def untold_of(events: Sequence[Event], told: Sequence[Event]) -> Untold:
    """The :class:`Untold` of ``events`` once ``told`` (from :func:`select_highlights`) are told."""
    shown = {e.id for e in told}
    rest = [e for e in events if e.id not in shown]
    return Untold(
        count=len(rest),
        kinds=_kinds_left_out(events, told),
        acted=frozenset(e.actor for e in rest if e.kind == "action" and e.actor),
        notable=tuple(e for e in rest if e.data and any(k in e.data for k in _NOTABLE)),
    )


def _kinds_left_out(events: Sequence[Event], told: Sequence[Event]) -> tuple[tuple[str, int], ...]:
    """The untold action events by action type, most first (ties by name)."""
    shown = {e.id for e in told}
    counts: dict[str, int] = {}
    for e in events:
        if e.kind == "action" and e.id not in shown:
            action = getattr(e.action_type, "value", e.action_type)
            counts[action] = counts.get(action, 0) + 1
    return tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _talk(e: Event) -> bool:
    return getattr(e.action_type, "value", e.action_type) in ("speak", "persuade") and not (e.data or {}).get("missing")
