"""The causal graph of a story: which events led to which, and which effects are still to come.

Nodes are events, edges are cause -> effect links carrying a ``strength`` in [0, 1]. Causal rules
(from the scenario) and explicit relationships schedule *pending effects*: complications that come
due some turns after their cause and fire only if their conditions still hold then.

Recording is O(1) per event (plus its causes and the few rules that can match it): rules are
indexed by the fields their patterns name (:class:`~novel_engine.core.causal_effects.RuleIndex`),
so a turn of 100,000 events costs a few dict lookups per event, not 100,000 times the rule count. Queries (``explain``, ``calculate_narrative_impact``) walk the
graph hop by hop through :func:`explain_frontier` / :func:`impact_frontier`, which ask a fetcher
for a whole frontier at once; that is what lets the runtime shard the graph across actors and
still pay one batched call per shard per hop.

The graph is kept in plain dicts (a tuple of attributes per event, one shared link record per
edge): recording is the per-event hot path of every turn, and a general graph library costs
several times more per node and edge. :meth:`CausalGraph.to_networkx` builds a networkx graph
on demand for export and analysis.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import networkx as nx

from novel_engine.core.causal_effects import (
    DueEffect,
    PendingEffect,
    RuleIndex,
    check_strength,
    checked_relationship,
    condition_holds,
)
from novel_engine.core.causal_frontier import ExplanationStep, FetchInfo, FetchLinks, explain_frontier, impact_frontier
from novel_engine.core.events import Event
from novel_engine.core.scenario import CausalRuleSpec, ComplicationSpec, Condition
from novel_engine.core.world import WorldState
from novel_engine.errors import NovelEngineError

__all__ = [
    "CausalGraph",
    "DueEffect",
    "ExplanationStep",
    "FetchInfo",
    "FetchLinks",
    "condition_holds",
    "explain_frontier",
    "impact_frontier",
]

_FORMAT = 1
_NODE_FIELDS = ("turn", "summary", "kind", "actor", "intensity", "location")  # an event's recorded attributes
_NO_CONDITIONS: tuple[dict[str, Any], ...] = ()
_EMPTY: dict[str, Any] = {}


#: One cause -> effect link: (strength, delay_turns, conditions as JSON dicts, rule_id). The same
#: tuple sits in the cause's successors and the effect's predecessors.
_Link = tuple[float, int, tuple[dict[str, Any], ...], "str | None"]


def _link_attrs(link: _Link) -> dict[str, Any]:
    """A link's attributes as the exported dict (fresh condition dicts, so callers may mutate them)."""
    return {"strength": link[0], "delay_turns": link[1], "conditions": [dict(c) for c in link[2]], "rule_id": link[3]}


class CausalGraph:
    """Events and their cause -> effect links, causal rules and the effects they have scheduled.

    Raises:
        NovelEngineError: on invalid input (see each method).
    """

    __slots__ = ("_nodes", "_succ", "_pred", "_index", "_pending", "_armed", "_spent", "lapsed")

    def __init__(self) -> None:
        self._nodes: dict[str, tuple[Any, ...]] = {}  # event id -> its attributes, in _NODE_FIELDS order
        # adjacency, kept only for events that have links: most events have no effects, many no causes
        self._succ: dict[str, dict[str, _Link]] = {}
        self._pred: dict[str, dict[str, _Link]] = {}
        self._index = RuleIndex()  # the causal rules, indexed for matching
        self._pending: dict[int, list[PendingEffect]] = {}
        self._armed: set[str] = set()  # once-rules with an effect pending
        self._spent: set[str] = set()  # once-rules whose effect has fired
        self.lapsed = 0  #: pending effects dropped because their conditions failed when due

    # -- recording -------------------------------------------------------------------------------

    def add_rule(self, rule: CausalRuleSpec) -> None:
        """Register a causal rule; later events matching ``rule.when`` schedule ``rule.then``.

        Raises:
            NovelEngineError: a rule with this id is already registered.
        """
        if rule.id in self._index.rules:
            raise NovelEngineError(f"causal rule {rule.id!r} is already registered", rule=rule.id)
        self._index.add(rule)

    def add_event(self, event: Event) -> list[str]:
        """Record an event, link it to its known causes, and fire the rules it matches.

        The link strength is ``event.data["cause_strength"]`` (a number for every cause, or a
        dict cause id -> number), 1.0 by default. Causes not in the graph are skipped. A
        matching rule schedules its ``then`` at ``event.turn + delay_turns``; a ``once`` rule
        schedules nothing while its effect is pending or after it has fired (if its effect lapses
        because the conditions failed, it can match again).

        Args:
            event: the event to record.
        Returns:
            The ids of the rules that matched and scheduled an effect, in registration order.
        Raises:
            NovelEngineError: the event id is already recorded, or a cause strength is invalid.
        """
        eid = event.id
        nodes = self._nodes
        if eid in nodes:
            raise NovelEngineError(f"event {eid!r} is already recorded", event=eid)
        nodes[eid] = (event.turn, event.summary, event.kind, event.actor, float(event.intensity), event.location)
        if event.causes:
            self._link_causes(event)
        if not self._index.rules:
            return []
        rules = self._index.matching(event)
        return self._schedule(event, rules) if rules else []

    def _link_causes(self, event: Event) -> None:
        eid, turn, data = event.id, event.turn, event.data
        raw = data.get("cause_strength", 1.0)
        rule_id = data.get("rule_id")
        rule_id = rule_id if type(rule_id) is str else None
        nodes, succ = self._nodes, self._succ
        into = self._pred.get(eid)
        for cause in event.causes:
            info = nodes.get(cause)
            if info is None or cause == eid:
                continue
            s = raw.get(cause, 1.0) if type(raw) is dict else raw
            if type(s) is not float or not 0.0 <= s <= 1.0:
                s = check_strength(s, f"event {eid!r}")
            link = (s, max(0, turn - info[0]), _NO_CONDITIONS, rule_id)
            # what _link does, inlined: this runs for every motive of every action
            out = succ.get(cause)
            if out is None:
                out = succ[cause] = {}
            out[eid] = link
            if into is None:
                into = self._pred[eid] = {}
            into[cause] = link

    def _link(self, cause: str, effect: str, link: _Link) -> None:
        # re-linking a pair replaces the link in place: its position among the links stays the same
        out = self._succ.get(cause)
        if out is None:
            out = self._succ[cause] = {}
        out[effect] = link
        into = self._pred.get(effect)
        if into is None:
            into = self._pred[effect] = {}
        into[cause] = link

    def add_events(self, events: Sequence[Event]) -> list[tuple[str, str]]:
        """Record events in order (see :meth:`add_event`); return ``(event id, rule id)`` for every rule that fired."""
        fired: list[tuple[str, str]] = []
        for event in events:
            fired.extend((event.id, rule_id) for rule_id in self.add_event(event))
        return fired

    def _schedule(self, event: Event, rules: list[CausalRuleSpec]) -> list[str]:
        """Schedule the effects of the rules ``event`` matched (a spent or armed once-rule schedules nothing)."""
        matched: list[str] = []
        for rule in rules:
            if rule.once and (rule.id in self._armed or rule.id in self._spent):
                continue
            self.add_relationship(
                event.id,
                rule.then,
                strength=rule.strength,
                delay_turns=rule.delay_turns,
                conditions=rule.conditions,
                rule_id=rule.id,
            )
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
        """Link a recorded cause to an effect, now or later.

        ``effect`` may be a recorded event id (an edge now, with ``strength``, ``delay_turns`` and
        ``conditions`` as attributes), a :class:`ComplicationSpec` (a pending effect due at the
        cause's turn + ``delay_turns``), or any other string (a pending effect described by it).
        String conditions use the scenario shorthand: ``"fact"`` is truthy, ``"!fact"`` falsy.

        Raises:
            NovelEngineError: unknown cause, a self-link, strength outside [0, 1], negative delay,
                or an invalid condition or effect description.
        """
        nodes = self._nodes
        strength, effect, conds = checked_relationship(cause, effect, strength, delay_turns, conditions, nodes)
        if isinstance(effect, str):
            self._link(cause, effect, (strength, delay_turns, tuple(c.model_dump(mode="json") for c in conds), rule_id))
            return
        due = nodes[cause][0] + delay_turns
        self._pending.setdefault(due, []).append(PendingEffect(cause, effect, strength, rule_id, due, conds))
        if rule_id is not None and rule_id in self._index.rules and self._index.rules[rule_id].once:
            self._armed.add(rule_id)

    def due_effects(self, turn: int, world: WorldState) -> list[DueEffect]:
        """Pop every pending effect due at or before ``turn`` and return those whose conditions hold.

        Effects whose conditions fail are dropped and counted in :attr:`lapsed`.

        Returns:
            The effects to fire, sorted by ``(due_turn, cause, rule_id)``.
        """
        out: list[DueEffect] = []
        for due in sorted(t for t in self._pending if t <= turn):
            for p in self._pending.pop(due):
                held = all(condition_holds(c, world) for c in p.conditions)
                if p.rule_id is not None and p.rule_id in self._armed:
                    self._armed.discard(p.rule_id)
                    if held:
                        self._spent.add(p.rule_id)
                if held:
                    out.append(DueEffect(p.cause, p.spec, p.strength, p.rule_id, p.due_turn))
                else:
                    self.lapsed += 1
        out.sort(key=lambda d: (d.due_turn, d.cause, d.rule_id or ""))
        return out

    @property
    def pending_count(self) -> int:
        """How many effects are scheduled and not yet due."""
        return sum(len(v) for v in self._pending.values())

    # -- queries ---------------------------------------------------------------------------------

    def _require(self, event_id: str) -> None:
        if event_id not in self._nodes:
            raise NovelEngineError(f"unknown event {event_id!r}", event=event_id)

    def parents_of(self, ids: Sequence[str] | set[str]) -> dict[str, list[tuple[str, float]]]:
        """For each recorded id in ``ids``: its causes as ``(cause id, strength)``, sorted by id. Unknown ids are left out."""
        nodes, pred = self._nodes, self._pred
        return {i: sorted((p, link[0]) for p, link in pred.get(i, _EMPTY).items()) for i in ids if i in nodes}

    def children_of(self, ids: Sequence[str] | set[str]) -> dict[str, list[tuple[str, float]]]:
        """For each recorded id in ``ids``: its effects as ``(effect id, strength)``, sorted by id. Unknown ids are left out."""
        nodes, succ = self._nodes, self._succ
        return {i: sorted((c, link[0]) for c, link in succ.get(i, _EMPTY).items()) for i in ids if i in nodes}

    def node_info(self, ids: Sequence[str] | set[str]) -> dict[str, dict[str, Any]]:
        """For each recorded id in ``ids``: a copy of its attributes (turn, summary, kind, actor, intensity, location)."""
        nodes = self._nodes
        return {i: dict(zip(_NODE_FIELDS, nodes[i])) for i in ids if i in nodes}

    def calculate_narrative_impact(self, event_id: str) -> float:
        """How far an event reaches: the sum over its descendants of the strongest path strength to each.

        Raises:
            NovelEngineError: unknown event id.
        """
        self._require(event_id)
        return impact_frontier(event_id, self.children_of)

    def explain(self, event_id: str, max_depth: int = 10) -> list[ExplanationStep]:
        """The chain of causes behind an event, root causes first (see :func:`explain_frontier`).

        Raises:
            NovelEngineError: unknown event id or negative ``max_depth``.
        """
        self._require(event_id)
        return explain_frontier(event_id, self.parents_of, max_depth, fetch_info=self.node_info)

    def roots(self, event_id: str) -> list[str]:
        """The root causes (ancestors with no cause) of an event, by (turn, id); [] if it has none. Raises on an unknown id."""
        self._require(event_id)
        pred, nodes = self._pred, self._nodes
        seen: set[str] = set()
        stack = [event_id]
        while stack:
            for cause in pred.get(stack.pop(), _EMPTY):
                if cause not in seen:
                    seen.add(cause)
                    stack.append(cause)
        seen.discard(event_id)  # an event on a cycle is its own ancestor, but never its own root
        found = [a for a in seen if not pred.get(a)]
        return sorted(found, key=lambda a: (nodes[a][0], a))

    def recorded(self, ids: set[str] | frozenset[str]) -> set[str]:
        """The ids among ``ids`` that are recorded events (one set operation, however many ids)."""
        return self._nodes.keys() & ids

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._nodes

    # -- export ----------------------------------------------------------------------------------

    def _links(self):
        """Every link as ``(cause, effect, link)``, causes in recording order (as networkx lists edges)."""
        succ = self._succ
        for u in self._nodes:
            out = succ.get(u)
            if out:
                for v, link in out.items():
                    yield u, v, link

    def to_networkx(self) -> nx.DiGraph:
        """The recorded events and links as a new networkx ``DiGraph`` (pending effects excluded).

        Node attributes are turn, summary, kind, actor, intensity and location; edge attributes
        strength, delay_turns, conditions and rule_id. The graph is a copy: changing it does not
        change this one.
        """
        g = nx.DiGraph()
        g.add_nodes_from((n, dict(zip(_NODE_FIELDS, a))) for n, a in self._nodes.items())
        g.add_edges_from((u, v, _link_attrs(link)) for u, v, link in self._links())
        return g

    def to_node_link(self) -> dict[str, Any]:
        """The recorded events and links as JSON-serialisable node-link data (pending effects excluded)."""
        return nx.node_link_data(self.to_networkx(), edges="links")

    def to_dict(self) -> dict[str, Any]:
        """Everything (events, links, rules, pending effects, spent once-rules, lapsed count) as JSON-friendly data."""
        return {
            "v": _FORMAT,
            "nodes": [{"id": n, **dict(zip(_NODE_FIELDS, a))} for n, a in self._nodes.items()],
            "edges": [{"source": u, "target": v, **_link_attrs(link)} for u, v, link in self._links()],
            "rules": [r.model_dump(mode="json") for r in self._index.rules.values()],
            "pending": [
                {
                    "cause": p.cause,
                    "spec": p.spec.model_dump(mode="json"),
                    "strength": p.strength,
                    "rule_id": p.rule_id,
                    "due_turn": p.due_turn,
                    "conditions": [c.model_dump(mode="json") for c in p.conditions],
                }
                for ps in self._pending.values()
                for p in ps
            ],
            "spent": sorted(self._spent),
            "lapsed": self.lapsed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CausalGraph:
        """Rebuild a graph written by :meth:`to_dict`.

        Raises:
            NovelEngineError: the data is not in a known format.
        """
        if data.get("v") != _FORMAT:
            raise NovelEngineError("unknown causal graph format", version=data.get("v"))
        graph = cls()
        nodes = graph._nodes
        for node in data["nodes"]:
            nodes[node["id"]] = tuple(node.get(f) for f in _NODE_FIELDS)
        for edge in data["edges"]:
            graph._link(
                edge["source"],
                edge["target"],
                (
                    edge["strength"],
                    edge.get("delay_turns", 0),
                    tuple(dict(c) for c in edge.get("conditions", ())),
                    edge.get("rule_id"),
                ),
            )
        for rule in data["rules"]:
            graph.add_rule(CausalRuleSpec.model_validate(rule))
        for p in data["pending"]:
            pending = PendingEffect(
                p["cause"],
                ComplicationSpec.model_validate(p["spec"]),
                p["strength"],
                p["rule_id"],
                p["due_turn"],
                tuple(Condition.model_validate(c) for c in p["conditions"]),
            )
            graph._pending.setdefault(pending.due_turn, []).append(pending)
            if pending.rule_id in graph._index.rules and graph._index.rules[pending.rule_id].once:
                graph._armed.add(pending.rule_id)
        graph._spent = set(data["spent"])
        graph.lapsed = int(data["lapsed"])
        return graph
