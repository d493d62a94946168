"""A session's causal graph held in shards (``graph_shards``), as the turn pipeline sees it.

:class:`ShardedGraph` pairs the director's side (:class:`~novel_engine.core.causal_shards.ShardedCausalGraph`)
with the shards themselves behind the small :class:`GraphParts` interface: parts of this process
(:class:`LocalGraphParts`) or shard actors (``ray.graph.RayGraphParts``). Every exchange is one
batched call per shard: before a turn, the last turn's records go out and the turn's frontier (due
effects, recorded motives) comes back; ``explain`` walks hop by hop, one call per shard per hop.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from novel_engine.core.causal_frontier import ExplanationStep, explain_frontier_async
from novel_engine.core.causal_graph import CausalGraph
from novel_engine.core.causal_shards import CausalGraphPart, ShardedCausalGraph, merge_parts, shard_of_event
from novel_engine.errors import NovelEngineError

__all__ = ["GraphParts", "LocalGraphParts", "ShardedGraph"]


class GraphParts(Protocol):
    """The shards of a causal graph: each call goes to every shard at once (one call per shard)."""

    async def exchange(self, requests: Sequence[tuple]) -> list[tuple]:
        """``CausalGraphPart.exchange(*request)`` on each shard, in shard order."""

    async def links(self, ids: Sequence[list[str]], parents: bool) -> list[dict]:
        """``CausalGraphPart.links`` on each shard with its ids (shards given none are not asked)."""

    async def info(self, ids: Sequence[list[str]]) -> list[dict]:
        """``CausalGraphPart.info`` on each shard with its ids (shards given none are not asked)."""

    async def dump(self) -> list[dict]:
        """``CausalGraphPart.dump`` of each shard."""

    async def load(self, parts: Sequence[dict], preds: Sequence[dict], turn: int) -> None:
        """``CausalGraphPart.load`` on each shard (the graph after ``turn``)."""


class LocalGraphParts:
    """Graph shards as parts of this process (the in-process runtime with ``graph_shards``)."""

    def __init__(self, shards: int) -> None:
        self.parts = [CausalGraphPart() for _ in range(shards)]

    async def exchange(self, requests):
        return [part.exchange(*req) for part, req in zip(self.parts, requests)]

    async def links(self, ids, parents):
        return [part.links(i, parents) for part, i in zip(self.parts, ids) if i]

    async def info(self, ids):
        return [part.info(i) for part, i in zip(self.parts, ids) if i]

    async def dump(self):
        return [part.dump() for part in self.parts]

    async def load(self, parts, preds, turn):
        for part, data, pred in zip(self.parts, parts, preds):
            part.load(data, pred)


class ShardedGraph:
    """A causal graph in ``shards`` shards: the director's side and the shards.

    Args:
        graph: the director's side (new, or ``ShardedCausalGraph.restored``).
        parts: the shards.
    """

    def __init__(self, graph: ShardedCausalGraph, parts: GraphParts) -> None:
        self.graph, self.parts = graph, parts

    async def prepare(self, turn: int, motives: Iterable[str]) -> None:
        """Before resolving ``turn``: send what was recorded since, gather the due effects and which
        of ``motives`` are recorded (one call per shard)."""
        self.graph.take_frontier(await self.parts.exchange(self.graph.frontier_requests(turn, motives)))

    async def settle(self) -> None:
        """Send what was recorded since the last exchange (before any read)."""
        requests = self.graph.frontier_requests(None)
        if any(batch for batch, _, _ in requests):
            await self.parts.exchange(requests)

    async def to_dict(self) -> dict[str, Any]:
        """The whole graph as ``CausalGraph.to_dict`` gives it (the same for any shard count)."""
        await self.settle()
        return merge_parts(await self.parts.dump(), self.graph.head())

    async def load(self, data: Mapping[str, Any], turn: int) -> None:
        """Hold the graph of ``CausalGraph.to_dict`` data, taken after ``turn``, instead (a restore)."""
        graph, parts, preds = ShardedCausalGraph.restored(data, self.graph.shards)
        await self.parts.load(parts, preds, turn)
        self.graph = graph

    async def node_link(self) -> dict[str, Any]:
        """The recorded events and links as node-link data (``CausalGraph.to_node_link``)."""
        return CausalGraph.from_dict(await self.to_dict()).to_node_link()

    async def explain(self, event_id: str, max_depth: int = 10) -> list[ExplanationStep]:
        """``CausalGraph.explain`` across the shards: one batched call per shard per hop.

        Raises:
            NovelEngineError: unknown event id or negative ``max_depth``.
        """
        await self.settle()
        if not await self._merged(self.parts.info(self._by_shard([event_id]))):
            raise NovelEngineError(f"unknown event {event_id!r}", event=event_id)

        async def parents(ids: set[str]):
            return await self._merged(self.parts.links(self._by_shard(ids), True))

        async def info(ids: set[str]):
            return await self._merged(self.parts.info(self._by_shard(ids)))

        return await explain_frontier_async(event_id, parents, max_depth, fetch_info=info)

    def _by_shard(self, ids: Iterable[str]) -> list[list[str]]:
        out: list[list[str]] = [[] for _ in range(self.graph.shards)]
        for i in sorted(ids):
            out[shard_of_event(i, self.graph.shards)].append(i)
        return out

    @staticmethod
    async def _merged(answers) -> dict:
        return {k: v for part in await answers for k, v in part.items()}
