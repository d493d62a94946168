"""Fog of war: which persona perceives which information fragment, and how reliably.

Rules (``route`` and ``filter_information`` implement exactly these):

- Fragment ids are expected to be unique; if an id appears more than once in the input, the
  first occurrence wins and the others are ignored.
- Only personas that can act perceive anything; an incapacitated persona gets ``[]``.
- PUBLIC fragment: every persona perceives it, via ``BROADCAST``, at the fragment's reliability.
- PRIVATE fragment: only the persona whose id equals ``fragment.origin`` perceives it, via
  ``PRIVATE``. Nobody else ever does, and it is never passed on as hearsay.
- LOCAL fragment at the persona's own location: via ``HERE``, at the fragment's reliability.
- LOCAL fragment at a place ``M`` at graph distance ``d`` (``1 <= d <= fragment.reach``) from the
  persona's location ``L``, where ``d`` is the length of the shortest path ``L -> ... -> M``
  following ``Location.neighbours``: via ``NEARBY``, at reliability
  ``fragment.reliability * (nearby_factor * visibility(M)) ** d``, with ``visibility(M)`` clamped
  to [0, 1] and 0 for a place that is not in the world. If that factor is 0 it is not perceived.
  A LOCAL fragment whose location is None is perceived by nobody directly.
- Direct set ``D(a)``: the above, deduplicated by fragment id (highest reliability kept), sorted
  by ``(-perception.attention, fragment.id)``, truncated to ``attention`` items.
- Hearsay, by levels ``h = 1 .. max_hops``: a speaker ``y`` who can act tells every listener ``x``
  with ``y.relationships[x].trust >= trust_threshold`` (``x`` can act, ``x != y``) its top
  ``gossip`` items of level ``h - 1``, ordered by ``(-attention, fragment.id)``. Level 0 of ``y``
  is the items of ``D(y)`` whose via is ``HERE`` or ``NEARBY``; level ``h`` of ``y`` is what ``y``
  heard at hop ``h``, deduplicated by fragment id (highest reliability kept). The listener
  receives ``Perception(fragment, reliability * hearsay_decay, HEARSAY, hops=h, told_by=y)``.
  A persona may hear back a fragment it perceived or originated itself.
- Final list of ``x``: ``D(x)`` and every hearsay it received, deduplicated by fragment id keeping
  the highest reliability (ties: fewer hops, then the smallest ``told_by``), sorted by
  ``(-attention, fragment.id)``, truncated to ``attention``.

``filter_information`` is the plain reference for one persona (it scans every fragment for every
persona). ``route`` computes the same lists for many personas at once with indexes: fragments are
grouped by place once, each place's capped candidate list is built once and shared by everyone
standing there, and hearsay spreads only from personas who actually have something to tell.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from novel_engine.core.events import InformationFragment, Visibility
from novel_engine.core.hearsay import (
    EMPTY,
    TELLABLE,
    Entry,
    better,
    dedup_sorted,
    entry,
    reach,
    spread,
    trusted_listeners,
)
from novel_engine.core.perception import Perception, Via, build_perception
from novel_engine.core.world import PersonaState, WorldState
from novel_engine.errors import ConfigError, NovelEngineError

__all__ = ["FogOfWarService"]

_PUBLIC, _LOCAL, _PRIVATE = Visibility.PUBLIC, Visibility.LOCAL, Visibility.PRIVATE
_HERE, _NEARBY, _HEARSAY, _BROADCAST, _OWN = Via.HERE, Via.NEARBY, Via.HEARSAY, Via.BROADCAST, Via.PRIVATE


def _rank(p: Perception) -> tuple[float, str]:
    # inlines Perception.attention (same float operations, so the same order) to skip a property call
    return (-(p.fragment.salience * (0.5 + 0.5 * p.reliability)), p.fragment.id)


def _unique(fragments: InformationFragment | Iterable[InformationFragment]) -> list[InformationFragment]:
    if isinstance(fragments, InformationFragment):
        return [fragments]
    first: dict[str, InformationFragment] = {}
    for f in fragments:
        first.setdefault(f.id, f)
    return list(first.values())


def _dedup(items: Iterable[Perception]) -> list[Perception]:
    best: dict[str, Perception] = {}
    for p in items:
        old = best.get(p.fragment.id)
        if old is None or better(p, old):
            best[p.fragment.id] = p
    return list(best.values())


def _top(items: list[Perception], n: int) -> list[Perception]:
    items.sort(key=_rank)
    del items[n:]
    return items


def _visibility(world: WorldState, place: str) -> float:
    loc = world.locations.get(place)
    if loc is None:
        return 0.0
    return min(1.0, max(0.0, loc.visibility))


class FogOfWarService:
    """Routes information fragments to the personas that can perceive them.

    Args:
        trust_threshold: the least trust a speaker must have in a listener to tell it anything.
        hearsay_decay: factor applied to reliability at every hearsay hop, in [0, 1].
        max_hops: how many hearsay hops news travels (0: no hearsay).
        nearby_factor: per-hop factor for LOCAL fragments seen from other places, in [0, 1].
        attention: the most perceptions a persona keeps per call.
        gossip: the most items a speaker passes on per hop.

    Raises:
        ConfigError: a parameter is out of range.
    """

    __slots__ = ("trust_threshold", "hearsay_decay", "max_hops", "nearby_factor", "attention", "gossip")

    def __init__(
        self,
        *,
        trust_threshold: float = 0.4,
        hearsay_decay: float = 0.6,
        max_hops: int = 2,
        nearby_factor: float = 0.7,
        attention: int = 8,
        gossip: int = 2,
    ) -> None:
        for name, value in (("hearsay_decay", hearsay_decay), ("nearby_factor", nearby_factor)):
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {value!r}", setting=name)
        for name, value in (("max_hops", max_hops), ("attention", attention), ("gossip", gossip)):
            if not isinstance(value, int) or value < 0:
                raise ConfigError(f"{name} must be a non-negative integer, got {value!r}", setting=name)
        if not -1.0 <= trust_threshold <= 1.0:
            raise ConfigError(f"trust_threshold must be in [-1, 1], got {trust_threshold!r}", setting="trust_threshold")
        self.trust_threshold = float(trust_threshold)
        self.hearsay_decay = float(hearsay_decay)
        self.max_hops = max_hops
        self.nearby_factor = float(nearby_factor)
        self.attention = attention
        self.gossip = gossip

    def filter_information(
        self, fragments: InformationFragment | Iterable[InformationFragment], agent_id: str, world: WorldState
    ) -> list[Perception]:
        """Return what one persona perceives of ``fragments`` (the reference implementation).

        It computes every persona's direct set and all hearsay, so it costs O(personas x fragments);
        use :meth:`route` for many personas.

        Args:
            fragments: one fragment or many.
            agent_id: the persona.
            world: the world (locations, positions, relationships).

        Returns:
            At most ``attention`` perceptions, most attention-grabbing first.

        Raises:
            NovelEngineError: ``agent_id`` is not a persona of ``world``.
        """
        agent = world.persona(agent_id)
        if not agent.can_act:
            return []
        frags = _unique(fragments)
        direct = {pid: self._direct_one(frags, p, world) for pid, p in world.personas.items() if p.can_act}
        level = {pid: [p for p in d if p.via in TELLABLE][: self.gossip] for pid, d in direct.items()}
        heard: list[Perception] = []
        for hop in range(1, self.max_hops + 1):
            received: dict[str, list[Perception]] = {}
            for speaker, items in level.items():
                if items:
                    for listener in self._listeners(world.personas[speaker], world):
                        received.setdefault(listener, []).extend(
                            Perception(p.fragment, p.reliability * self.hearsay_decay, _HEARSAY, hop, speaker)
                            for p in items
                        )
            heard.extend(received.get(agent_id, EMPTY))
            level = {x: _top(_dedup(got), self.gossip) for x, got in received.items()}
        return _top(_dedup(direct[agent_id] + heard), self.attention)

    def _direct_one(
        self, frags: list[InformationFragment], persona: PersonaState, world: WorldState
    ) -> list[Perception]:
        here = persona.location
        reach = max((f.reach for f in frags if f.visibility is _LOCAL), default=0)
        dist = {here: 0}
        frontier = [here]
        for d in range(1, reach + 1):
            nxt = []
            for node in frontier:
                for n in world.neighbours(node):
                    if n not in dist:
                        dist[n] = d
                        nxt.append(n)
            frontier = nxt
        out: list[Perception] = []
        for f in frags:
            if f.visibility is _PUBLIC:
                out.append(Perception(f, f.reliability, _BROADCAST))
            elif f.visibility is _PRIVATE:
                if f.origin == persona.id:
                    out.append(Perception(f, f.reliability, _OWN))
            elif f.location is not None:
                if f.location == here:
                    out.append(Perception(f, f.reliability, _HERE))
                    continue
                d = dist.get(f.location)
                if d is not None and d <= f.reach:
                    factor = (self.nearby_factor * _visibility(world, f.location)) ** d
                    if factor > 0.0:
                        out.append(Perception(f, f.reliability * factor, _NEARBY))
        return _top(_dedup(out), self.attention)

    def _listeners(self, speaker: PersonaState, world: WorldState) -> list[str]:
        return trusted_listeners(speaker, world, self.trust_threshold)

    def route(
        self, fragments: Sequence[InformationFragment], world: WorldState, agents: Iterable[str] | None = None
    ) -> dict[str, list[Perception]]:
        """Return what every persona (or each of ``agents``) perceives of ``fragments``.

        ``route(...)[a]`` equals ``filter_information(fragments, a, world)``, but the cost grows with
        fragments + personas + actual recipients, not personas x fragments. It relies on the
        world's location index (``occupants``) being in step with persona locations.

        Args:
            fragments: the fragments of this turn.
            world: the world (locations, positions, relationships).
            agents: the personas to return lists for; every persona of ``world`` when None.
                Their hearsay is what it is through the whole world: it is spread from everyone
                whose telling can reach them within ``max_hops``, and from no one else.

        Returns:
            A dict from persona id to its perceptions (``[]`` for a persona that cannot act).

        Raises:
            NovelEngineError: one of ``agents`` is not a persona of ``world``.
        """
        personas = world.personas
        targets = list(personas) if agents is None else list(agents)
        for a in targets:
            if a not in personas:
                raise NovelEngineError(f"unknown persona {a!r}", persona=a)
        # Entries (see Entry) are built once per perception and then sorted natively; ids are unique
        # in every list sorted here, so the perception itself is never compared.
        attention = self.attention
        public: list[Entry] = []
        private: dict[str, list[Entry]] = {}
        local: dict[str, list[InformationFragment]] = {}
        for f in _unique(fragments):
            if f.visibility is _PUBLIC:
                public.append(entry(build_perception(f, f.reliability, _BROADCAST, 0, None)))
            elif f.visibility is _PRIVATE:
                private.setdefault(f.origin, []).append(entry(build_perception(f, f.reliability, _OWN, 0, None)))
            elif f.location is not None:
                local.setdefault(f.location, []).append(f)
        public = sorted(public)[:attention]
        candidates = self._local_candidates(local, world)

        shared: dict[str, list[Entry]] = {}  # place -> capped public + local entries

        def direct(p: PersonaState) -> list[Entry]:
            place = p.location
            base = shared.get(place)
            if base is None:
                extra = candidates.get(place)
                base = shared[place] = sorted(public + extra)[:attention] if extra else public
            own = private.get(p.id)
            return sorted(base + own)[:attention] if own else base

        heard: dict[str, list[Entry]] = {}
        if self.max_hops and self.gossip:
            # for some personas only (a persona shard's), hearsay is spread only from those whose
            # telling can reach them: a fraction of a large cast (a quarter of 100,000 for one of
            # 8 shards), and the same lists, since no one else's level can change theirs
            listeners_of: dict[str, list[str]] = {}
            reachable = None if agents is None else reach(self, targets, world, listeners_of)
            heard = spread(self, candidates, world, direct, private, reachable, listeners_of)
        out: dict[str, list[Perception]] = {}
        plain: dict[str, list[Perception]] = {}
        for a in targets:
            p = personas[a]
            if not p.can_act:
                out[a] = []
                continue
            got = heard.get(a)
            if got:
                out[a] = [e[2] for e in dedup_sorted(direct(p) + got, owned=True)[:attention]]
            elif a in private:
                out[a] = [e[2] for e in direct(p)]
            else:  # the same list for everyone here without news of their own: convert it once
                seen_here = plain.get(p.location)
                if seen_here is None:
                    seen_here = plain[p.location] = [e[2] for e in direct(p)]
                out[a] = seen_here[:]
        return out

    def _local_candidates(
        self, local: dict[str, list[InformationFragment]], world: WorldState
    ) -> dict[str, list[Entry]]:
        """Capped HERE/NEARBY entries for every occupied place that some local fragment reaches."""
        occupants = world.occupants
        reverse: dict[str, list[str]] | None = None
        found: dict[str, list[Entry]] = {}
        for place, frags in local.items():
            if occupants.get(place):
                here = found.setdefault(place, [])
                here.extend(entry(build_perception(f, f.reliability, _HERE, 0, None)) for f in frags)
            reach = max(f.reach for f in frags)
            base = self.nearby_factor * _visibility(world, place)
            if reach < 1 or base <= 0.0:
                continue
            if reverse is None:  # built once per call, only when something is seen from afar
                reverse = {}
                for loc in world.locations.values():
                    for n in loc.neighbours:
                        reverse.setdefault(n, []).append(loc.id)
            seen = {place}
            frontier = [place]
            for d in range(1, reach + 1):
                factor = base**d
                if factor <= 0.0:  # underflow: every farther hop is 0 too
                    break
                nxt = []
                for node in frontier:
                    for src in reverse.get(node, EMPTY):
                        if src not in seen:
                            seen.add(src)
                            nxt.append(src)
                if not nxt:
                    break
                # one Perception per (fragment, distance), shared by every place at that distance
                seen_here = [
                    entry(build_perception(f, f.reliability * factor, _NEARBY, 0, None)) for f in frags if f.reach >= d
                ]
                for src in nxt:
                    if occupants.get(src):
                        found.setdefault(src, []).extend(seen_here)
                frontier = nxt
        attention = self.attention
        return {place: sorted(lst)[:attention] if len(lst) > attention else lst for place, lst in found.items()}
