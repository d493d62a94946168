"""Causal-graph shard actors: each holds a :class:`~novel_engine.core.causal_shards.CausalGraphPart`.

:class:`RayGraphParts` is the :class:`~novel_engine.runtime.graph.GraphParts` of a Ray session:
every exchange is one call per shard actor, all in flight at once.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import ray

from novel_engine.core.causal_shards import CausalGraphPart, GraphBatch
from novel_engine.runtime import wire
from novel_engine.runtime.ray.actors import _check_turn

__all__ = ["GraphShard", "RayGraphParts"]


@ray.remote
class GraphShard:
    """Holds the events of a session whose ids hash to it, their links and the effects they scheduled.

    A restarted shard is empty and back at turn 0: it refuses the next turn's exchange
    (``StateLostError``) until the session is restored.
    """

    def __init__(self) -> None:
        self.part = CausalGraphPart()
        self.last_turn = 0
        self.fail_at: int | None = None
        self.restarted = ray.get_runtime_context().was_current_actor_reconstructed

    def exchange(self, batch: GraphBatch | None, turn: int | None, ids: Iterable[str] = ()) -> tuple:
        """``CausalGraphPart.exchange``; a ``turn`` must follow the last one exchanged here."""
        if turn is not None:
            _check_turn("graph shard", self.last_turn, turn)
            if self.fail_at == turn:  # a fault test: die in the middle of a turn, as a lost node would
                os._exit(1)
        answer = self.part.exchange(batch, turn, ids)
        if turn is not None:
            self.last_turn = turn
        wire.settle_gc()
        return answer

    def links(self, ids: Iterable[str], parents: bool) -> dict:
        return self.part.links(ids, parents)

    def info(self, ids: Iterable[str]) -> dict:
        return self.part.info(ids)

    def dump(self) -> dict[str, Any]:
        return self.part.dump()

    def load(self, part: Mapping[str, Any], pred: Mapping[str, Any], turn: int) -> None:
        """Hold ``part`` (see ``CausalGraphPart.load``), the graph after ``turn``."""
        self.part = CausalGraphPart()
        self.part.load(part, pred)
        self.last_turn = turn
        wire.settle_gc()

    def ping(self) -> str:
        return "ok"

    def fail_during(self, turn: int) -> None:
        """For fault tests: exit the process in the middle of ``turn`` (its exchange)."""
        self.fail_at = turn

    def was_restarted(self) -> bool:
        """Whether this is a restart of the shard (fault tests)."""
        return self.restarted


class RayGraphParts:
    """The graph shard actors of a session, in shard order."""

    def __init__(self, shards: Sequence[Any]) -> None:
        self.shards = list(shards)

    async def exchange(self, requests):
        return list(await asyncio.gather(*(s.exchange.remote(*r) for s, r in zip(self.shards, requests))))

    async def links(self, ids, parents):
        return list(await asyncio.gather(*(s.links.remote(i, parents) for s, i in zip(self.shards, ids) if i)))

    async def info(self, ids):
        return list(await asyncio.gather(*(s.info.remote(i) for s, i in zip(self.shards, ids) if i)))

    async def dump(self):
        return list(await asyncio.gather(*(s.dump.remote() for s in self.shards)))

    async def load(self, parts, preds, turn):
        await asyncio.gather(*(s.load.remote(p, q, turn) for s, p, q in zip(self.shards, parts, preds)))
