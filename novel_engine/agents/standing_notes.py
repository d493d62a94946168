"""What still stands in the story as told: the chronicler's memory of consequences, and which a chapter tells.

The world keeps consequences as facts (:func:`novel_engine.core.standing.standing_conditions`), but
the chronicler sees only what it told: the events and the people and places they mention (the same
on every runtime; the Ray chronicler is never sent the whole world). So it keeps its own account,
turn by turn, of what the story has told and what has not been undone since:

- ``fallen``: someone told falling, until a chapter shows them up again;
- ``wounded``: someone told hurt, until a chapter shows them whole (or fallen);
- ``danger``: a place a fire, raid or hazard struck (an event marked ``danger_turns``), for as
  long as the director keeps it dangerous;
- ``muster``: the place an order sends everyone to (an event marked ``muster_at``);
- ``captive``: someone told taken captive, until freed (told or not) or they slip free.

:func:`choose` marks which of them a chapter tells, so a consequence neither vanishes after its
turn nor is repeated every turn: one at a place the chapter is at is told there (a danger each
time, the others when not told in the chapters just before); one far away is told the chapter
after it happened, then now and again. Nothing about a fallen person the chapter's events
already name; a wound, on the contrary, is told only when its bearer is in the chapter's events
(the first time they appear after it, then every few chapters).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from novel_engine.agents.perils import CAPTIVE_TURNS
from novel_engine.core.events import Event
from novel_engine.llm.port import NarrationInput, StandingNote

__all__ = ["Kept", "advance", "choose", "kept_to_dict", "kept_from_dict", "condition_text"]

_REMOTE_GAP = {"fallen": 3, "danger": 1, "muster": 4, "captive": 3}  # chapters between tellings of one far away
_HERE_GAP = {"fallen": 1, "danger": 1, "muster": 3, "captive": 1}  # ... and of one where the chapter is
_WOUND_GAP = 3  # chapters between tellings of a wound whose bearer keeps appearing
# far from the chapter's places, at most one danger or order and a handful of the fallen (told in
# one sentence) a chapter: it is the turn's events that matter
_MAX_REMOTE = {"fallen": 5, "danger": 1, "muster": 1, "captive": 2}


@dataclass(frozen=True, slots=True)
class Kept:
    """One standing consequence as the chronicler remembers it: a :class:`StandingNote` plus
    ``until`` (the last turn it holds, 0: until undone) and ``told`` (the last chapter that told it)."""

    kind: str
    place: str = ""
    place_name: str = ""
    subject: str = ""
    subject_name: str = ""
    subject_kind: str = "human"
    since: int = 0
    until: int = 0
    told: int = 0
    holder_kind: str = "human"  # a captive's captor's kind

    def note(self, tell: bool) -> StandingNote:
        """The note a chapter gets."""
        return StandingNote(
            self.kind,
            self.place,
            self.place_name,
            self.subject,
            self.subject_name,
            self.since,
            tell,
            self.subject_kind,
            self.holder_kind,
        )


def _people(events: Sequence[Event]) -> set[str]:
    """Everyone the events name (acting, acted on, hurt, helped)."""
    out: set[str] = set()
    for e in events:
        out.update(p for p in (e.actor, e.target, *e.participants) if p)
        data = e.data or {}
        for key in ("wounded", "incapacitated", "counter_by"):
            out.update(p for p in data.get(key) or () if isinstance(p, str))
    return out


def _places(events: Sequence[Event]) -> set[str]:
    """Where the events happen (a move's destination included)."""
    return {e.location for e in events if e.location}


def _ended(events: Sequence[Event]) -> set[tuple[str, str]]:
    """The conditions the chapter's own events end ((kind, subject or place)): a captive freed or
    slipped free, a fire out, someone raised. A note told after them would contradict the chapter."""
    out: set[tuple[str, str]] = set()
    for e in events:
        data = e.data
        if not data:
            continue
        for pid in (*(data.get("freed") or ()), *(data.get("escaped") or ())):
            out.add(("captive", pid))
        for pid in data.get("raised") or ():
            out.add(("fallen", pid))
        if data.get("fire_out"):
            out.add(("danger", str(data["fire_out"])))
    return out


def choose(kept: Mapping[str, Kept], turn: int, events: Sequence[Event]) -> tuple[StandingNote, ...]:
    """The notes for the chapter of ``turn``: everything standing, the ones to tell marked.

    Args:
        kept: what stood after the turn before (see :func:`advance`).
        turn: the chapter's turn.
        events: the events the chapter tells.
    """
    ended = _ended(events)
    standing = [
        k for k in kept.values() if (not k.until or k.until >= turn) and (k.kind, k.subject or k.place) not in ended
    ]
    named, here = _people(events), _places(events)
    # a captive's rest or failed flight is told under the captor's hold: the bonds are in view
    bound = {e.actor for e in events if e.kind == "action" and (e.data or {}).get("captor_kind")}
    remote: list[tuple[int, str, Kept]] = []
    tell: set[Kept] = set()
    for k in standing:
        if k.kind == "wounded":  # told of its bearer, when they are in the chapter
            if k.subject in named and turn - k.told >= (1 if k.told == k.since else _WOUND_GAP):
                tell.add(k)
            continue
        if k.kind == "captive" and k.subject in named:  # their own acts do not show the bonds
            if turn - k.told >= 2 and k.subject not in bound:
                tell.add(k)
            continue
        if k.subject and k.subject in named:
            continue  # the chapter's own events show them
        at_hand = k.place in here
        gap = (_HERE_GAP if at_hand else _REMOTE_GAP)[k.kind]
        if k.told == k.since and not at_hand:
            gap = 1  # the chapter after it happened says it still holds
        if turn - k.told < gap:
            continue
        if at_hand:
            tell.add(k)
        else:
            remote.append((k.told, k.kind + k.subject + k.place, k))
    room = dict(_MAX_REMOTE)
    for _, _, k in sorted(remote):  # those told longest ago first
        if room[k.kind] > 0:
            room[k.kind] -= 1
            tell.add(k)
    # someone down and in chains at once is told as down: one line, and no straining at chains
    # that a body lying still cannot strain at
    down = {k.subject for k in tell if k.kind == "fallen"}
    tell = {k for k in tell if k.kind != "captive" or k.subject not in down}
    return tuple(k.note(k in tell) for k in sorted(standing, key=lambda k: (k.kind, k.subject, k.place)))


def advance(
    kept: Mapping[str, Kept],
    inp: NarrationInput,
    characters: Mapping[str, Any],
    turn: int,
    events: Sequence[Event] = (),
    acted: Collection[str] = (),
) -> dict[str, Kept]:
    """What stands after the chapter ``inp`` told: expired dangers gone, those helped up gone,
    new falls, dangers and orders added, and what the chapter told marked as told.

    Args:
        kept: what stood before the turn.
        inp: the chapter's input (its told events, the people and places they mention, its notes).
        characters: the people the chapter may name, by id (their place, for a fall).
        turn: the chapter's turn.
        events: every event of the turn, told or not: someone raised or acting in an untold event
            is up again, whatever the chapter said (a large cast's chapter tells a few of them).
            Or, with ``acted``, the told events and the untold ones that raise, free or put a
            fire out (``highlights.Untold.notable``).
        acted: who acted in the untold events left out of ``events`` (``highlights.Untold.acted``).
    """
    out = {key: k for key, k in kept.items() if not k.until or k.until > turn}
    told = {(n.kind, n.subject, n.place) for n in inp.standing if n.tell}
    for key, k in out.items():
        if (k.kind, k.subject, k.place) in told:
            out[key] = replace(k, told=turn)
    down = {k.subject for k in out.values() if k.kind == "fallen"}
    for pid in down.intersection(acted):
        out.pop("fallen:" + pid, None)
    for e in events if down else ():  # a large cast's turn has thousands of events: look only if needed
        if e.actor in down and e.kind == "action":
            out.pop("fallen:" + e.actor, None)
        raised = e.data.get("raised") if e.data else None
        for pid in raised or ():
            if pid in down:
                out.pop("fallen:" + pid, None)
    for pid, sketch in inp.characters.items():
        key, hurt = "fallen:" + pid, "wounded:" + pid
        if sketch.status == "wounded":
            if hurt not in out:
                out[hurt] = Kept("wounded", "", "", pid, sketch.name, sketch.kind, turn, 0, turn)
        else:
            out.pop(hurt, None)
        if sketch.status != "incapacitated":
            if key in out:
                del out[key]
            continue
        if key in out:
            continue
        c = characters.get(pid)
        lid = getattr(c, "location", None) or ""
        name = inp.locations.get(lid, ("", ""))[0]
        out[key] = Kept("fallen", lid if name else "", name, pid, sketch.name, sketch.kind, turn, 0, turn)
    for e in (events or inp.events) if any(k.kind == "captive" or k.kind == "danger" for k in out.values()) else ():
        data = e.data
        if not data or not ("freed" in data or "escaped" in data or "fire_out" in data):
            continue  # most events of a large cast: no call made for them
        for pid in (*(data.get("freed") or ()), *(data.get("escaped") or ())):  # no longer held
            out.pop("captive:" + pid, None)
        if data.get("fire_out"):  # the fire is out: the danger there is over
            out.pop("danger:" + str(data["fire_out"]), None)
    for e in inp.events:
        data = e.data or {}
        for pid in data.get("captured") or ():
            sketch = inp.characters.get(pid)
            if sketch is not None and e.location in inp.locations:
                name = inp.locations[e.location][0]
                captor = inp.characters.get(e.actor) if e.actor else None
                out["captive:" + pid] = Kept(
                    "captive",
                    e.location,
                    name,
                    pid,
                    sketch.name,
                    sketch.kind,
                    turn,
                    turn + CAPTIVE_TURNS - 1,
                    turn,
                    captor.kind if captor is not None else "human",
                )
        n = data.get("danger_turns")
        if isinstance(n, int) and e.location in inp.locations:
            name = inp.locations[e.location][0]
            out["danger:" + e.location] = Kept("danger", e.location, name, since=turn, until=turn + n - 1, told=turn)
        muster = data.get("muster_at")
        if isinstance(muster, str) and muster in inp.locations:
            out["muster"] = Kept("muster", muster, inp.locations[muster][0], since=turn, told=turn)
    return dict(sorted(out.items()))


def condition_text(n: StandingNote) -> str:
    """A note in words, for a language model's prompt (``NarrationInput.conditions``)."""
    where = f" at {n.place_name}" if n.place_name else ""
    if n.kind == "fallen":
        return f"{n.subject_name} lies fallen{where}"
    if n.kind == "danger":
        return f"danger still threatens{where or ' a place'}"
    if n.kind == "wounded":
        return f"{n.subject_name} is still wounded"
    if n.kind == "captive":
        return f"{n.subject_name} is held captive{where}"
    return f"an order sends everyone to {n.place_name or 'one place'}"


def kept_to_dict(kept: Mapping[str, Kept]) -> dict[str, list]:
    """JSON-friendly form of :func:`advance`'s result."""
    return {
        key: [
            k.kind,
            k.place,
            k.place_name,
            k.subject,
            k.subject_name,
            k.subject_kind,
            k.since,
            k.until,
            k.told,
            k.holder_kind,
        ]
        for key, k in kept.items()
    }


def kept_from_dict(d: Mapping[str, Sequence]) -> dict[str, Kept]:
    """Inverse of :func:`kept_to_dict`."""
    return {
        str(key): Kept(
            str(v[0]),
            str(v[1]),
            str(v[2]),
            str(v[3]),
            str(v[4]),
            str(v[5]),
            int(v[6]),
            int(v[7]),
            int(v[8]),
            str(v[9]) if len(v) > 9 else "human",  # checkpoints before captors had kinds
        )
        for key, v in d.items()
    }
