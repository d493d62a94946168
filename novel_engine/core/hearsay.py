"""Hearsay: how news passes from persona to persona, hop by hop (the rules: ``fog_of_war``).

A speaker who can act tells every persona it trusts at least ``trust_threshold`` (and who can act)
its top ``gossip`` items of the level before: at hop 1 what it perceived here or nearby, at hop
``h`` what it heard at hop ``h - 1``. :func:`spread` runs every hop for the turn;
:func:`reach` finds who can matter to some personas (a persona shard's), so the spread for them
starts from those only.

Entries are ``(-attention, fragment id, Perception)`` tuples: built once per perception, they sort
natively, and ids are unique in every list sorted, so a perception itself is never compared.
"""

from __future__ import annotations

from typing import Any

from novel_engine.core.perception import Perception, Via, build_perception
from novel_engine.core.world import PersonaState, WorldState

__all__ = ["Entry", "entry", "dedup_sorted", "better", "trusted_listeners", "reach", "spread", "TELLABLE", "EMPTY"]

_HEARSAY = Via.HEARSAY
TELLABLE = (Via.HERE, Via.NEARBY)  #: what a speaker passes on at hop 1: what it perceived itself
EMPTY: tuple = ()

Entry = tuple  # (-attention, fragment id, Perception): sorts natively, by attention then id


def entry(p: Perception) -> Entry:
    """The entry of a perception (see the module)."""
    return (-(p.fragment.salience * (0.5 + 0.5 * p.reliability)), p.fragment.id, p)


def dedup_sorted(entries: list[Entry], owned: bool = False) -> list[Entry]:
    """Entries deduplicated by fragment id (best kept), sorted; in place only if ``owned``."""
    if len({e[1] for e in entries}) == len(entries):  # the common case: nothing to merge
        out = entries if owned else entries[:]
    else:
        best: dict[str, Entry] = {}
        for e in entries:
            old = best.get(e[1])
            if old is None or better(e[2], old[2]):
                best[e[1]] = e
        out = list(best.values())
    out.sort()
    return out


def better(a: Perception, b: Perception) -> bool:
    """Whether ``a`` beats ``b`` for the same fragment: reliability, then fewer hops, then teller id."""
    if a.reliability != b.reliability:
        return a.reliability > b.reliability
    if a.hops != b.hops:
        return a.hops < b.hops
    return (a.told_by or "") < (b.told_by or "")


def trusted_listeners(speaker: PersonaState, world: WorldState, threshold: float) -> list[str]:
    """Whom ``speaker`` tells: those it trusts at least ``threshold`` who can act (not itself)."""
    personas, sid = world.personas, speaker.id
    out = []
    for x, rel in speaker.relationships.items():
        if x != sid and rel.trust >= threshold:
            p = personas.get(x)
            if p is not None and p.can_act:
                out.append(x)
    return out


def reach(svc: Any, targets: list[str], world: WorldState, listeners_of: dict[str, list[str]]) -> set[str]:
    """The personas whose telling reaches one of ``targets`` within ``svc.max_hops`` hops (the
    trust edges walked backwards), filling ``listeners_of`` for every persona that can tell
    anyone. ``svc``: the :class:`~novel_engine.core.fog_of_war.FogOfWarService` (its settings)."""
    told_by: dict[str, list[str]] = {}
    for pid, p in world.personas.items():
        if p.can_act and p.relationships:
            listeners = listeners_of[pid] = trusted_listeners(p, world, svc.trust_threshold)
            for x in listeners:
                told_by.setdefault(x, []).append(pid)
    found: set[str] = set()
    frontier = set(targets)
    for _ in range(svc.max_hops):
        frontier = {y for x in frontier for y in told_by.get(x, EMPTY)} - found
        found |= frontier
    return found


def spread(
    svc: Any,
    candidates: dict[str, list[Entry]],
    world: WorldState,
    direct,
    private: dict[str, list[Entry]],
    speakers: set[str] | None = None,
    listeners_of: dict[str, list[str]] | None = None,
) -> dict[str, list[Entry]]:
    """All hearsay of the turn, by listener, starting from personas with local news only
    (``svc``: the fog of war service, ``direct``: a persona's direct entries); ``speakers``:
    spread only from these (see :func:`reach`; None: from everyone).

    Lists are shared between personas wherever they are equal (what one speaker tells, what
    everyone at one place can tell), so nothing here may be mutated in place.
    """
    personas, occupants, gossip, decay = world.personas, world.occupants, svc.gossip, svc.hearsay_decay
    opening: dict[str, list[Entry]] = {}  # place -> level 0 of anyone there without private news
    level: dict[str, list[Entry]] = {}
    for place in candidates:
        for pid in occupants.get(place, EMPTY):
            p = personas[pid]
            if not (p.can_act and p.relationships) or (speakers is not None and pid not in speakers):
                continue
            if pid in private:
                items = [e for e in direct(p) if e[2].via in TELLABLE][:gossip]
            else:
                items = opening.get(p.location)
                if items is None:
                    items = opening[p.location] = [e for e in direct(p) if e[2].via in TELLABLE][:gossip]
            if items:
                level[pid] = items
    if listeners_of is None:
        listeners_of = {}
    heard: dict[str, list[Entry]] = {}
    for hop in range(1, svc.max_hops + 1):
        received: dict[str, list[Entry]] = {}
        merged: set[str] = set()  # listeners told by more than one speaker at this hop
        for speaker, items in level.items():
            listeners = listeners_of.get(speaker)
            if listeners is None:
                listeners = listeners_of[speaker] = trusted_listeners(personas[speaker], world, svc.trust_threshold)
            if not listeners:
                continue
            told = []  # one sorted list per speaker, shared by all its listeners
            for e in items:
                f = e[2].fragment
                r = e[2].reliability * decay
                told.append((-(f.salience * (0.5 + 0.5 * r)), e[1], build_perception(f, r, _HEARSAY, hop, speaker)))
            told.sort()
            for x in listeners:
                got = received.get(x)
                if got is None:
                    received[x] = told
                else:
                    received[x] = got + told
                    merged.add(x)
        level = {}
        last = hop == svc.max_hops
        for x, got in received.items():
            old = heard.get(x)
            heard[x] = got if old is None else old + got
            if last:
                continue
            if speakers is not None and x not in speakers:
                continue  # what x would tell reaches none of the personas asked for
            listeners = listeners_of.get(x)
            if listeners is None:
                listeners = listeners_of[x] = trusted_listeners(personas[x], world, svc.trust_threshold)
            if listeners:  # only those who will speak need their level sorted out
                level[x] = dedup_sorted(got)[:gossip] if x in merged else got
    return heard
