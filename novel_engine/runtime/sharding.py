"""How a session's personas are spread over persona shards and belief-store shards.

Assignment is a pure function of the persona ids and the shard counts: ``stable_hash(id) % n``
(the same in every process), except with ``personas_per_actor == 1``, where every persona gets its
own actor. Nothing about a story depends on the assignment: it only decides where work runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from novel_engine.core.rng import stable_hash
from novel_engine.errors import ConfigError

__all__ = ["ShardPlan", "plan_shards", "waits_on_model", "SMALL_CAST"]

SMALL_CAST = 16  # up to this many personas, each gets its own actor by default


@dataclass(frozen=True, slots=True)
class ShardPlan:
    """Which personas each persona shard and each belief shard holds (ids sorted within a shard);
    no belief shards: the director holds every belief model. ``beliefs_in_persona_shards``: the
    belief shards are the persona shards themselves (the same personas, in the same actors)."""

    persona_shards: tuple[tuple[str, ...], ...]
    belief_shards: tuple[tuple[str, ...], ...]
    beliefs_in_persona_shards: bool = False

    def persona_shard_of(self) -> dict[str, int]:
        return {pid: i for i, ids in enumerate(self.persona_shards) for pid in ids}

    def belief_shard_of(self) -> dict[str, int]:
        return {pid: i for i, ids in enumerate(self.belief_shards) for pid in ids}


def waits_on_model(settings: Any) -> bool:
    """Whether a session's personas decide through a language model (its ``llm`` setting), so its
    turns wait on the model's API (see ``plan_shards``)."""
    return (getattr(settings, "llm", None) or "offline") != "offline"


def _by_hash(ids: Sequence[str], n: int) -> tuple[tuple[str, ...], ...]:
    buckets: list[list[str]] = [[] for _ in range(n)]
    for pid in ids:
        buckets[stable_hash(pid) % n].append(pid)
    return tuple(tuple(sorted(b)) for b in buckets if b)


def plan_shards(
    persona_ids: Sequence[str],
    personas_per_actor: int | None = None,
    max_shards: int = 4,
    belief_shards: int | None = None,
    waits_on_model: bool = False,
) -> ShardPlan:
    """Plan the shards of a session.

    Args:
        persona_ids: every persona of the session.
        personas_per_actor: how many personas one persona shard hosts; None chooses: 1 for a
            cast of up to ``SMALL_CAST``, else enough to make ``max_shards`` shards.
        max_shards: the most persona shards an automatic choice makes (e.g. the cluster's CPUs).
        belief_shards: how many belief-store actors (default: none when persona shards pack many
            personas: each persona shard holds its own personas' beliefs, so the believe phase
            runs as parallel as the decide phase and no belief view crosses a process; one per
            4 persona shards, at least 1, with one actor per persona; none for a cast of up to
            ``SMALL_CAST`` with one actor per persona: the director holds their beliefs, which
            spares every turn a round trip through belief actors that would each do well under a
            millisecond of work).
        waits_on_model: the personas decide through a language model (not the offline policy):
            a small cast is then packed into ``max_shards`` shards too (and the director holds its
            beliefs), since its turns wait on the model's API, not on CPU: an actor per persona
            would only add a Ray call, a process to wake and an HTTP client per persona.
    Raises:
        ConfigError: for a count below 1.
    """
    ids = sorted(persona_ids)
    n = len(ids)
    if personas_per_actor is not None and personas_per_actor < 1:
        raise ConfigError(
            f"personas_per_actor must be at least 1, got {personas_per_actor}", setting="personas_per_actor"
        )
    if max_shards < 1:
        raise ConfigError(f"max_shards must be at least 1, got {max_shards}", setting="max_shards")
    if personas_per_actor is None:
        small = n <= SMALL_CAST and not waits_on_model
        personas_per_actor = 1 if small else max(1, math.ceil(n / max_shards))
    if personas_per_actor == 1:
        persona_shards = tuple((pid,) for pid in ids)
    else:
        persona_shards = _by_hash(ids, max(1, math.ceil(n / personas_per_actor)))
    if belief_shards is None:
        if (personas_per_actor == 1 or waits_on_model) and n <= SMALL_CAST:
            return ShardPlan(persona_shards, ())
        if personas_per_actor > 1:
            return ShardPlan(persona_shards, persona_shards, beliefs_in_persona_shards=True)
        belief_shards = max(1, math.ceil(len(persona_shards) / 4))
    if belief_shards < 1:
        raise ConfigError(f"belief_shards must be at least 1, got {belief_shards}", setting="belief_shards")
    return ShardPlan(persona_shards, _by_hash(ids, belief_shards))
