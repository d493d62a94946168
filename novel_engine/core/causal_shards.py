"""The causal graph split over shards by event id, for the runtimes to host in shard actors.

:class:`CausalGraphPart` is what one shard holds: the events whose id hashes to it (``stable_hash(id)
% n``), the links into them (their causes) and out of them (their effects), and the pending effects
they caused. :class:`ShardedCausalGraph` is the director's side: it answers the director exactly as
a :class:`~novel_engine.core.causal_graph.CausalGraph` does during a turn (rules, once-rules,
which ids are recorded, the due effects) and collects what the turn records into one
:class:`GraphBatch` per shard. Between turns the runtime exchanges, per shard and in one call,
the last turn's batch for the next turn's frontier: the pending effects due and which of the
turn's motives are recorded events (:meth:`ShardedCausalGraph.frontier_requests`).

Every record carries a sequence number given in recording order, so the parts merged back give
the single graph's layout (:func:`merge_parts`): a checkpoint, an export or an explanation is the
same for any shard count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from novel_engine.core.causal_effects import (
    DueEffect,
    PendingEffect,
    RuleIndex,
    check_strength,
    checked_relationship,
    condition_holds,
)
from novel_engine.core.causal_graph import _FORMAT, _NODE_FIELDS, CausalGraph, _Link, _link_attrs
from novel_engine.core.events import Event
from novel_engine.core.rng import stable_hash
from novel_engine.core.scenario import CausalRuleSpec, ComplicationSpec, Condition
from novel_engine.core.world import WorldState
from novel_engine.errors import NovelEngineError

__all__ = ["GraphBatch", "CausalGraphPart", "ShardedCausalGraph", "merge_parts", "split_graph", "shard_of_event"]

_EMPTY: dict[str, Any] = {}


def shard_of_event(event_id: str, shards: int) -> int:
    """The graph shard that holds an event (the same in every process)."""
    return stable_hash(event_id) % shards


@dataclass(slots=True)
class GraphBatch:
    """What one turn records on one shard, in recording order (``seq``: the single graph's order)."""

    nodes: list[tuple[int, str, tuple[Any, ...]]] = field(default_factory=list)  # (seq, id, attributes)
    succ: list[tuple[str, str, _Link]] = field(default_factory=list)  # (cause, effect, link): cause here
    pred: list[tuple[str, str, _Link]] = field(default_factory=list)  # (effect, cause, link): effect here
    pending: list[tuple[int, PendingEffect]] = field(default_factory=list)  # caused by an event here

    def __bool__(self) -> bool:
        return bool(self.nodes or self.succ or self.pred or self.pending)


class CausalGraphPart:
    """One shard of a causal graph: its events, their links and the effects they have scheduled."""

    __slots__ = ("nodes", "succ", "pred", "pending")

    def __init__(self) -> None:
        self.nodes: dict[str, tuple[int, tuple[Any, ...]]] = {}  # id -> (seq, attributes)
        self.succ: dict[str, dict[str, _Link]] = {}
        self.pred: dict[str, dict[str, _Link]] = {}
        self.pending: list[tuple[int, PendingEffect]] = []  # in sequence order

    def apply(self, batch: GraphBatch) -> None:
        """Record a batch (re-linking a pair replaces the link in place, as the single graph does)."""
        nodes = self.nodes
        for seq, eid, attrs in batch.nodes:
            nodes[eid] = (seq, attrs)
        for table, rows in ((self.succ, batch.succ), (self.pred, batch.pred)):
            for here, other, link in rows:
                links = table.get(here)
                if links is None:
                    links = table[here] = {}
                links[other] = link
        self.pending.extend(batch.pending)

    def exchange(
        self, batch: GraphBatch | None, turn: int | None, ids: Iterable[str] = ()
    ) -> tuple[list[tuple[int, PendingEffect]], dict[str, int]]:
        """Apply ``batch``, then pop the pending effects due at or before ``turn`` (none when None)
        and say which of ``ids`` are recorded here: ``(due with their sequence numbers, {id: turn})``."""
        if batch:
            self.apply(batch)
        due: list[tuple[int, PendingEffect]] = []
        if turn is not None and self.pending:
            keep = []
            for item in self.pending:
                (due if item[1].due_turn <= turn else keep).append(item)
            self.pending = keep
        nodes = self.nodes
        known = {i: nodes[i][1][0] for i in ids if i in nodes}
        for _, p in due:  # the due effects' causes are recorded here: their events will name them
            if p.cause in nodes:
                known[p.cause] = nodes[p.cause][1][0]
        return due, known

    def links(self, ids: Iterable[str], parents: bool) -> dict[str, list[tuple[str, float]]]:
        """For each id held here: its causes (``parents``) or effects as ``(id, strength)``, sorted."""
        table, nodes = (self.pred if parents else self.succ), self.nodes
        return {i: sorted((o, link[0]) for o, link in table.get(i, _EMPTY).items()) for i in ids if i in nodes}

    def info(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """For each id held here: its attributes (turn, summary, kind, actor, intensity, location)."""
        nodes = self.nodes
        return {i: dict(zip(_NODE_FIELDS, nodes[i][1])) for i in ids if i in nodes}

    def dump(self) -> dict[str, Any]:
        """Everything held here, for :func:`merge_parts` (and a restarted shard's :meth:`load`)."""
        return {"nodes": self.nodes, "succ": self.succ, "pending": self.pending}

    def load(self, part: Mapping[str, Any], pred: Mapping[str, dict[str, _Link]]) -> None:
        """Hold ``part`` (a :meth:`dump` or a :func:`split_graph` part) and the links ``pred`` into its events."""
        self.nodes, self.succ = dict(part["nodes"]), {k: dict(v) for k, v in part["succ"].items()}
        self.pending = list(part["pending"])
        self.pred = {k: dict(v) for k, v in pred.items()}


def merge_parts(parts: Sequence[Mapping[str, Any]], head: Mapping[str, Any]) -> dict[str, Any]:
    """The single graph's :meth:`CausalGraph.to_dict` from every shard's :meth:`CausalGraphPart.dump`
    and the director's ``head`` (rules, spent once-rules, lapsed count)."""
    nodes = sorted((seq, eid, attrs) for part in parts for eid, (seq, attrs) in part["nodes"].items())
    succ: dict[str, dict[str, _Link]] = {}
    for part in parts:
        succ.update(part["succ"])
    # the single graph keeps pending effects by due turn, in the order each turn's list began
    pending = sorted((item for part in parts for item in part["pending"]), key=lambda x: x[0])
    first: dict[int, int] = {}
    for seq, p in pending:
        first.setdefault(p.due_turn, seq)
    pending.sort(key=lambda x: (first[x[1].due_turn], x[0]))
    return {
        "v": _FORMAT,
        "nodes": [{"id": eid, **dict(zip(_NODE_FIELDS, attrs))} for _, eid, attrs in nodes],
        "edges": [
            {"source": u, "target": v, **_link_attrs(link)}
            for _, u, _ in nodes
            for v, link in succ.get(u, _EMPTY).items()
        ],
        "rules": list(head["rules"]),
        "pending": [_pending_dict(p) for _, p in pending],
        "spent": sorted(head["spent"]),
        "lapsed": int(head["lapsed"]),
    }


def _pending_dict(p: PendingEffect) -> dict[str, Any]:
    return {
        "cause": p.cause,
        "spec": p.spec.model_dump(mode="json"),
        "strength": p.strength,
        "rule_id": p.rule_id,
        "due_turn": p.due_turn,
        "conditions": [c.model_dump(mode="json") for c in p.conditions],
    }


def split_graph(data: Mapping[str, Any], shards: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A :meth:`CausalGraph.to_dict` split into ``shards`` parts: ``(parts, preds)`` for
    :meth:`CausalGraphPart.load` (sequence numbers in the graph's order)."""
    graph = CausalGraph.from_dict(data)  # validates, and gives links and pending effects as records
    parts: list[dict[str, Any]] = [{"nodes": {}, "succ": {}, "pending": []} for _ in range(shards)]
    preds: list[dict[str, Any]] = [{} for _ in range(shards)]
    for seq, (eid, attrs) in enumerate(graph._nodes.items()):
        parts[shard_of_event(eid, shards)]["nodes"][eid] = (seq, attrs)
    for u, v, link in graph._links():
        parts[shard_of_event(u, shards)]["succ"].setdefault(u, {})[v] = link
        preds[shard_of_event(v, shards)].setdefault(v, {})[u] = link
    seq = len(graph._nodes)
    for ps in graph._pending.values():
        for p in ps:
            parts[shard_of_event(p.cause, shards)]["pending"].append((seq, p))
            seq += 1
    return parts, preds


class ShardedCausalGraph:
    """The director's side of a sharded causal graph: what a turn asks of a ``CausalGraph``.

    Before a turn the runtime gives it the turn's frontier (:meth:`take_frontier`); during the
    turn it answers from it and collects what is recorded; after it, :meth:`frontier_requests`
    hands each shard its batch with the next turn's questions.

    Args:
        shards: how many graph shards.
    """

    def __init__(self, shards: int) -> None:
        if shards < 1:
            raise NovelEngineError("a sharded causal graph needs at least one shard", shards=shards)
        self.shards = shards
        self._index = RuleIndex()
        self._armed: set[str] = set()
        self._spent: set[str] = set()
        self.lapsed = 0
        self._seq = 0
        self._known: dict[str, int] = {}  # id -> turn: the recorded events this turn may name
        self._due: list[tuple[int, PendingEffect]] | None = None
        self._batches = [GraphBatch() for _ in range(shards)]
        self._gathered: dict[str, Any] | None = None

    @classmethod
    def restored(
        cls, data: Mapping[str, Any], shards: int
    ) -> tuple[ShardedCausalGraph, list[dict[str, Any]], list[dict[str, Any]]]:
        """The director's side of a :meth:`CausalGraph.to_dict` graph, and its shards' parts and
        links in (see :func:`split_graph`).

        Raises:
            NovelEngineError: the data is not in a known format.
        """
        parts, preds = split_graph(data, shards)
        graph = cls(shards)
        for rule in data["rules"]:
            graph.add_rule(CausalRuleSpec.model_validate(rule))
        graph._spent, graph.lapsed = set(data["spent"]), int(data["lapsed"])
        once = {r.id for r in graph._index.rules.values() if r.once}
        graph._armed = {p["rule_id"] for p in data["pending"] if p["rule_id"] in once}
        graph._seq = len(data["nodes"]) + len(data["pending"])
        return graph, parts, preds

    # -- between turns ---------------------------------------------------------------------------
    def frontier_requests(self, turn: int | None, ids: Iterable[str] = ()) -> list[tuple[GraphBatch, int | None, list]]:
        """Per shard: ``(its batch of what was recorded since the last exchange, turn, ids)`` for
        :meth:`CausalGraphPart.exchange`; the batches are handed over (this graph forgets them)."""
        by_shard: list[list[str]] = [[] for _ in range(self.shards)]
        for i in sorted(set(ids)):
            by_shard[shard_of_event(i, self.shards)].append(i)
        batches, self._batches = self._batches, [GraphBatch() for _ in range(self.shards)]
        return [(b, turn, q) for b, q in zip(batches, by_shard)]

    def take_frontier(self, answers: Sequence[tuple[list[tuple[int, PendingEffect]], Mapping[str, int]]]) -> None:
        """The shards' answers to :meth:`frontier_requests`: the due effects and the recorded ids."""
        self._gathered = None
        self._due = sorted((item for due, _ in answers for item in due), key=lambda x: x[0])
        self._known = {k: v for _, known in answers for k, v in known.items()}

    def head(self) -> dict[str, Any]:
        """What the director keeps (rules, spent once-rules, lapsed count, next sequence number)."""
        return {
            "rules": [r.model_dump(mode="json") for r in self._index.rules.values()],
            "spent": sorted(self._spent),
            "lapsed": self.lapsed,
            "seq": self._seq,
        }

    def gathered(self, data: dict[str, Any] | None) -> None:
        """The whole graph as the runtime merged it from the shards (``merge_parts``), for
        :meth:`to_dict` until the next turn; None forgets it."""
        self._gathered = data

    def to_dict(self) -> dict[str, Any]:
        """The whole graph, as the runtime last gathered it (:meth:`gathered`).

        Raises:
            NovelEngineError: nothing was gathered since the last turn.
        """
        if self._gathered is None:
            raise NovelEngineError("a sharded causal graph is gathered from its shards by the runtime first")
        return self._gathered

    # -- what a turn asks (CausalGraph's interface) -----------------------------------------------
    def add_rule(self, rule: CausalRuleSpec) -> None:
        """As :meth:`CausalGraph.add_rule`."""
        if rule.id in self._index.rules:
            raise NovelEngineError(f"causal rule {rule.id!r} is already registered", rule=rule.id)
        self._index.add(rule)

    def recorded(self, ids: set[str] | frozenset[str]) -> set[str]:
        """The ids among ``ids`` that are recorded (among those the frontier asked about)."""
        return {i for i in ids if i in self._known}

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._known

    def due_effects(self, turn: int, world: WorldState) -> list[DueEffect]:
        """As :meth:`CausalGraph.due_effects`, over the due effects the shards gave for ``turn``."""
        if self._due is None:
            raise NovelEngineError("the sharded causal graph has no frontier for this turn", turn=turn)
        out: list[tuple[tuple[int, str, str], int, DueEffect]] = []
        for seq, p in self._due:
            held = all(condition_holds(c, world) for c in p.conditions)
            if p.rule_id is not None and p.rule_id in self._armed:
                self._armed.discard(p.rule_id)
                if held:
                    self._spent.add(p.rule_id)
            if held:
                effect = DueEffect(p.cause, p.spec, p.strength, p.rule_id, p.due_turn)
                out.append(((p.due_turn, p.cause, p.rule_id or ""), seq, effect))
            else:
                self.lapsed += 1
        self._due = None
        out.sort(key=lambda x: (x[0], x[1]))  # ties in scheduling order, as the single graph's stable sort
        return [effect for _, _, effect in out]

    def add_event(self, event: Event) -> list[str]:
        """As :meth:`CausalGraph.add_event` (causes are those the frontier knows, or recorded this turn)."""
        eid, turn = event.id, event.turn
        if eid in self._known:
            raise NovelEngineError(f"event {eid!r} is already recorded", event=eid)
        home = shard_of_event(eid, self.shards)
        attrs = (turn, event.summary, event.kind, event.actor, float(event.intensity), event.location)
        self._batches[home].nodes.append((self._next(), eid, attrs))
        self._known[eid] = turn
        if event.causes:
            raw = event.data.get("cause_strength", 1.0)
            rule_id = event.data.get("rule_id")
            rule_id = rule_id if type(rule_id) is str else None
            for cause in event.causes:
                if cause not in self._known or cause == eid:
                    continue
                s = raw.get(cause, 1.0) if type(raw) is dict else raw
                if type(s) is not float or not 0.0 <= s <= 1.0:
                    s = check_strength(s, f"event {eid!r}")
                self._link(cause, eid, (s, max(0, turn - self._known[cause]), (), rule_id))
        if not self._index.rules:
            return []
        matched: list[str] = []
        for rule in self._index.matching(event):
            if rule.once and (rule.id in self._armed or rule.id in self._spent):
                continue
            self.add_relationship(eid, rule.then, rule.strength, rule.delay_turns, rule.conditions, rule.id)
            matched.append(rule.id)
        return matched

    def add_relationship(
        self,
        cause: str,
        effect: str | ComplicationSpec,
        strength: float = 1.0,
        delay_turns: int = 0,
        conditions: Sequence[Condition | str] = (),
        rule_id: str | None = None,
    ) -> None:
        """As :meth:`CausalGraph.add_relationship` (the cause must be known to this turn)."""
        strength, effect, conds = checked_relationship(cause, effect, strength, delay_turns, conditions, self._known)
        if isinstance(effect, str):
            self._link(cause, effect, (strength, delay_turns, tuple(c.model_dump(mode="json") for c in conds), rule_id))
            return
        pending = PendingEffect(cause, effect, strength, rule_id, self._known[cause] + delay_turns, conds)
        self._batches[shard_of_event(cause, self.shards)].pending.append((self._next(), pending))
        if rule_id is not None and rule_id in self._index.rules and self._index.rules[rule_id].once:
            self._armed.add(rule_id)

    def _link(self, cause: str, effect: str, link: _Link) -> None:
        self._batches[shard_of_event(cause, self.shards)].succ.append((cause, effect, link))
        self._batches[shard_of_event(effect, self.shards)].pred.append((effect, cause, link))

    def _next(self) -> int:
        self._seq += 1
        return self._seq
