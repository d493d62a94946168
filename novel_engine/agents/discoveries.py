"""What can be found, and where: the secrets and clues a story keeps in its places.

A scenario plants fragments at places (local rumours, private secrets with an owner). Searching a
place (``investigate``) uncovers what is kept there and not yet uncovered, most salient first,
plus the place's clue facts (``clue:<place>:<name>``); a place with nothing left is *searched out*
(fact ``searched_out:<place>``), says so, and stops drawing searchers. Persuading an owner of a
secret makes them confide it. Nothing is learnt from afar: every finding is kept where it is found,
or told by its owner face to face.

What is found is remembered in world facts (``uncovered:<fragment>`` names the finder), so the story
is the same on every runtime and survives checkpoints; ``suspects:<finder>`` names the persona a
finding points to (the value of its key is a persona), whom the finder then means to confront. A
kept fragment keyed ``item:<name>`` is a thing: whoever finds it picks it up (``holder:<name>``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from novel_engine.core.scenario import FragmentSpec
from novel_engine.core.world import SEARCHED_OUT, SUSPECTS, WorldState

__all__ = ["Kept", "Discoveries", "SEARCHED_OUT", "UNCOVERED", "SUSPECTS", "ITEM", "HOLDER"]

UNCOVERED = "uncovered:"
ITEM, HOLDER = "item:", "holder:"  # a kept fragment keyed item:<name> is a thing; holder:<name> who has it


@dataclass(frozen=True, slots=True)
class Kept:
    """A fragment kept at a place: what finding it tells, and whose secret it is."""

    id: str
    place: str
    content: str
    key: str | None
    value: Any
    salience: float
    owner: str | None  # the persona whose secret it is (None: nobody's)


class Discoveries:
    """The session's findable things, by place (built once from the scenario; state lives in world facts).

    Args:
        fragments: the scenario's fragments; those with a place and not public are kept there.
    """

    def __init__(self, fragments: Iterable[FragmentSpec]) -> None:
        self.at: dict[str, list[Kept]] = {}
        self.owned: dict[str, list[Kept]] = {}
        for f in fragments:
            owner = f.origin if f.visibility.value == "private" and f.origin not in ("", "world") else None
            if f.location is None or f.visibility.value == "public":
                continue
            k = Kept(f.id, f.location, f.content, f.key, f.value, f.salience, owner)
            self.at.setdefault(f.location, []).append(k)
            if owner is not None:
                self.owned.setdefault(owner, []).append(k)
        self.by_id = {k.id: k for items in self.at.values() for k in items}
        self._turn: int | None = None
        self._clues: dict[str, list[str]] = {}  # place -> clue fact keys (see search)
        for items in (*self.at.values(), *self.owned.values()):
            items.sort(key=lambda k: (-k.salience, k.id))  # most salient first

    def where(self) -> dict[str, str]:
        """Fragment id -> the place it is kept (what the coherence check compares findings with)."""
        return {k.id: k.place for items in self.at.values() for k in items}

    def search(self, world: WorldState, actor: str, place: str, limit: int) -> tuple[list[Kept], list[str], bool]:
        """What searching ``place`` turns up for ``actor``: (kept fragments, clue fact keys, searched out after).

        At most ``limit`` items in all, fragments first; the actor's own secrets are not news to it,
        and a rumour the world has overtaken (see ``_outdated``) is not found at all.
        """
        facts = world.facts
        left = [
            k
            for k in self.at.get(place, ())
            if UNCOVERED + k.id not in facts and k.owner != actor and not _outdated(k, world)
        ]
        found = left[:limit]
        if self._turn != world.turn:  # clue facts are set before a turn's actions: index them once a turn
            self._turn, self._clues = world.turn, {}
            for key in facts:
                if key.startswith("clue:"):
                    self._clues.setdefault(key.split(":")[1], []).append(key)
        hidden = [key for key in sorted(self._clues.get(place, ())) if UNCOVERED + key not in facts]
        clues = hidden[: max(0, limit - len(found))]
        return found, clues, len(left) - len(found) + len(hidden) - len(clues) <= 0

    def confided(self, world: WorldState, owner: str) -> Kept | None:
        """The owner's most salient secret not yet uncovered (told to whoever wins them over)."""
        for k in self.owned.get(owner, ()):
            if UNCOVERED + k.id not in world.facts:
                return k
        return None

    def facts_after(
        self,
        world: WorldState,
        finder: str,
        place: str,
        items: Iterable[Kept],
        clues: Iterable[str],
        searched_out: bool,
    ) -> dict[str, Any]:
        """The world facts a finding sets: who uncovered what, whom it points to, a place searched out."""
        out: dict[str, Any] = {}
        for k in items:
            out[UNCOVERED + k.id] = finder
            if k.key and k.key.startswith(ITEM):
                out[HOLDER + k.key[len(ITEM) :]] = finder  # a thing found is picked up
            if isinstance(k.value, str) and k.value in world.personas and k.value != finder:
                out[SUSPECTS + finder] = k.value
        for key in clues:
            out[UNCOVERED + key] = finder
        if searched_out:
            out[SEARCHED_OUT + place] = True
        return out


def _outdated(k: Kept, world: WorldState) -> bool:
    """Whether a kept rumour (nobody's secret) says what the world no longer holds: a fact it names
    now has another value ("the dragon sleeps" after it woke), or someone is no longer where it says.
    A finding never reports what is known false: such a rumour is gone by the time anyone looks."""
    if k.owner is not None or not k.key:
        return False
    facts = world.facts
    if k.key in facts:
        return facts[k.key] != k.value
    if k.key.startswith("location_of:"):
        p = world.personas.get(k.key[len("location_of:") :])
        return p is not None and p.location != k.value
    return False
