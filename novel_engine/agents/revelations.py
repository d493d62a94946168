"""What an action leaves behind: what onlookers see of it, and what it tells or reveals to some.

:class:`Revelations` is the part of the :class:`~novel_engine.agents.resolution.ActionResolver`
that writes a resolved act's information fragments (the only way anyone learns anything): what
bystanders see, what a conversation confides, what an investigation uncovers where it is kept,
what a watch observes. :class:`Resolution` collects an act's outcome for the director.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from novel_engine.core.events import (
    Event,
    InformationFragment,
    Outcome,
    SourceType,
    Visibility,
    build_fragment,
)
from novel_engine.core.world import PersonaState

__all__ = ["Resolution", "Revelations"]

_SUCCESS, _PARTIAL, _BLOCKED = Outcome.SUCCESS, Outcome.PARTIAL, Outcome.BLOCKED
_DIRECT, _LOCAL, _PRIVATE = SourceType.DIRECT_OBSERVATION, Visibility.LOCAL, Visibility.PRIVATE


@dataclass(slots=True)
class Resolution:
    """The outcome of one action: its event, what it changes and the fragments it leaves behind."""

    event: Event
    fragments: list[InformationFragment] = field(default_factory=list)
    health: dict[str, float] = field(default_factory=dict)  # persona -> health change
    move: str | None = None  # destination of the actor
    hide: bool = False
    relations: list[tuple[str, str, float, float]] = field(default_factory=list)  # (who, of whom, trust, affinity)
    facts: dict[str, Any] | None = None  # world facts the act sets (None: deletes the fact)


class Revelations:
    """The fragments of a resolved act. A mixin of ``ActionResolver``: it reads the resolver's
    ``world``, ``discoveries``, ``_place``, ``region`` and ``hidden_before``."""

    def _seen(
        self,
        ev: Event,
        fid: str,
        key: str,
        value: Any,
        valence: float,
        salience: float,
        reach: int = 0,
        reliability: float = 0.9,
        location: str | None = None,
        subjects: tuple[str, ...] | None = None,
    ) -> InformationFragment:
        """A local fragment of what bystanders see of ``ev`` (at ``location``, default: where it happened)."""
        actor, target = ev.actor, ev.target
        if subjects is None:
            subjects = (actor, target) if actor and target else (actor,) if actor else (target,) if target else ()
        return build_fragment(
            fid,
            ev.summary,
            _DIRECT,
            reliability,
            ev.location if location is None else location,
            ev.turn,
            subjects,
            _LOCAL,
            actor or "world",
            key,
            value,
            valence,
            salience,
            reach,
        )

    def _private(
        self,
        ev: Event,
        owner: str,
        suffix: str,
        content: str,
        key: str,
        value: Any,
        reliability: float = 0.9,
        valence: float = 0.0,
        source=SourceType.DIRECT_OBSERVATION,
        salience: float = 0.7,
    ) -> InformationFragment:
        return build_fragment(
            f"ev:{ev.id}:{suffix}",
            content,
            source,
            reliability,
            ev.location,
            ev.turn,
            (ev.actor,) if ev.actor else (),
            _PRIVATE,
            owner,
            key,
            value,
            valence,
            salience,
            0,
        )

    def _fragments(
        self,
        res: Resolution,
        ev: Event,
        kind: str,
        actor: PersonaState,
        t: PersonaState | None,
        outcome: Outcome,
        data: dict,
    ) -> None:
        """What the act leaves behind: what onlookers see of it, and what it tells or reveals to some."""
        ok = outcome is _SUCCESS or outcome is _PARTIAL
        if kind == "hide" and ok:
            return  # nobody sees someone hide well
        aid, target = actor.id, ev.target
        # what onlookers see: a key, the value it claims, how bad or good it is, how striking, how far it carries
        reach = 0
        if kind == "move" or kind == "flee":
            key, value, valence, salience = f"location_of:{aid}", ev.location, -0.2 if kind == "flee" else 0.0, 0.45
        elif kind == "attack" or kind == "capture":
            key, value, valence, salience, reach = f"hostile:{aid}", target, -0.8, 0.95, 1
        elif kind == "help":
            key, value, valence, salience = f"ally:{aid}", target, 0.5, 0.5
        elif kind == "speak" or kind == "persuade":
            key, value, valence, salience = f"talks:{aid}", target, 0.0, 0.35
        else:
            key, value, valence, salience = f"location_of:{aid}", ev.location, 0.0, 0.15
        out = res.fragments
        out.append(
            build_fragment(
                f"ev:{ev.id}",
                ev.summary,
                _DIRECT,
                0.9,
                ev.location,
                ev.turn,
                (aid, target) if target else (aid,),
                _LOCAL,
                aid,
                key,
                value,
                valence,
                salience,
                reach,
            )
        )
        if kind == "move" or kind == "flee":
            out.append(self._seen(ev, f"ev:{ev.id}:left", key, value, 0.0, 0.3, reliability=0.8, location=data["from"]))
            if data.get("escaped"):  # the captors see their captive gone
                out.append(
                    self._seen(
                        ev, f"ev:{ev.id}:free:{aid}", f"status_of:{aid}", "free", 0.0, 0.9, 1, location=data["from"]
                    )
                )
            if ev.location != data["from"]:
                # a mover knows for certain where it now stands; without this its own old sightings
                # (and anchoring) would keep it believing it is still where it set out from
                out.append(
                    self._private(
                        ev,
                        aid,
                        "arrived",
                        f"You are now at {self._place(ev.location)}",
                        key,
                        ev.location,
                        reliability=1.0,
                        salience=1.0,
                    )
                )
        elif kind == "attack":
            for victim in data.get("incapacitated", ()):
                out.append(
                    self._seen(
                        ev,
                        f"ev:{ev.id}:down:{victim}",
                        f"status_of:{victim}",
                        "incapacitated",
                        -0.9,
                        1.0,
                        1,
                        subjects=(victim,),
                    )
                )
        elif kind == "capture" or kind == "help" or kind == "fight_fire":
            # a capture, a rescue from it, a fire put out: standing states onlookers learn of
            for who, value, valence in (
                *((c, "captive", -0.8) for c in data.get("captured", ())),
                *((c, "free", 0.4) for c in data.get("freed", ())),
            ):
                out.append(
                    self._seen(
                        ev, f"ev:{ev.id}:{value}:{who}", f"status_of:{who}", value, valence, 0.95, 1, subjects=(who,)
                    )
                )
            if data.get("fire_out"):
                out.append(self._seen(ev, f"ev:{ev.id}:fire_out", f"fire_at:{ev.location}", "out", 0.4, 0.8, 1))
        elif kind == "speak" or kind == "persuade":
            for kid in data.get("confided", ()):
                k = self.discoveries.by_id[kid]
                out.append(
                    self._private(
                        ev,
                        aid,
                        f"confided:{kid}",
                        k.content,
                        k.key or f"found:{kid}",
                        k.value,
                        reliability=0.9,
                        source=SourceType.HEARSAY,
                        salience=max(0.8, k.salience),
                    )
                )
            tells = data.get("tells")
            if t is not None and outcome is not _BLOCKED and isinstance(tells, dict):
                out.append(
                    self._private(
                        ev,
                        t.id,
                        "told",
                        f"{actor.name} says: {tells.get('content', '')}",
                        tells["key"],
                        tells.get("value"),
                        reliability=0.75,
                        source=SourceType.HEARSAY,
                    )
                )
        elif kind == "investigate" and ok:
            self._findings(res, actor)
        elif kind == "observe":
            self._observations(res, actor)

    def _search(self, actor: PersonaState, full: bool, res: Resolution, data: dict) -> None:
        """Searching a place uncovers what is kept there (see :mod:`novel_engine.agents.discoveries`)."""
        world, here = self.world, actor.location
        items, clues, out = self.discoveries.search(world, actor.id, here, 2 if full else 1)
        if items or clues:
            data["found"] = [k.id for k in items] + clues
            things = [k.key[5:] for k in items if k.key and k.key.startswith("item:")]
            if things:
                data["picked_up"] = things
            data["finding"] = "; ".join([k.content for k in items] + [str(world.facts[c]) for c in clues])
        if out and full:
            data["searched_out"] = True
        if items or clues or (out and full):
            res.facts = dict(
                res.facts or {}, **self.discoveries.facts_after(world, actor.id, here, items, clues, out and full)
            )

    def _findings(self, res: Resolution, actor: PersonaState) -> None:
        """The private fragments of what a search found (one per item)."""
        ev, world = res.event, self.world
        for item in ev.data.get("found", ()):
            k = self.discoveries.by_id.get(item)
            if k is not None:
                res.fragments.append(
                    self._private(
                        ev,
                        actor.id,
                        f"found:{k.id}",
                        k.content,
                        k.key or f"found:{k.id}",
                        k.value,
                        reliability=0.95,
                        salience=max(0.8, k.salience),
                    )
                )
            else:  # a clue fact
                name = item.split(":", 2)[2]
                res.fragments.append(
                    self._private(
                        ev,
                        actor.id,
                        f"clue:{name}",
                        str(world.facts[item]),
                        f"clue:{name}",
                        str(world.facts[item]),
                        reliability=0.95,
                    )
                )

    def _confide(self, actor: PersonaState, t: PersonaState, res: Resolution, data: dict) -> None:
        """Won over, the target tells the actor its most salient secret still kept (face to face)."""
        k = self.discoveries.confided(self.world, t.id)
        if k is None:
            return
        data["confided"] = [k.id]
        data["finding"] = k.content
        res.facts = dict(
            res.facts or {}, **self.discoveries.facts_after(self.world, actor.id, t.location, (k,), (), False)
        )

    def _observations(self, res: Resolution, actor: PersonaState) -> None:
        """Keeping watch shows who is in the neighbouring places (up to three people)."""
        ev, world = res.event, self.world
        seen = 0
        for n in world.neighbours(actor.location):
            if world.locations[n].visibility <= 0.0:
                continue
            # another region's people as they stood when the regions began (agents/regional.py)
            elsewhere = self.region is not None and n not in self.region
            for pid in sorted(world.present_at(n))[:2]:
                p = world.personas[pid]
                if (pid in self.hidden_before if elsewhere else p.hidden) or seen >= 3:
                    continue
                seen += 1
                res.fragments.append(
                    self._private(
                        ev,
                        actor.id,
                        f"saw:{pid}",
                        f"{p.name} is at {self._place(n)}",
                        f"location_of:{pid}",
                        n,
                        reliability=0.6 + 0.3 * world.locations[n].visibility,
                    )
                )
