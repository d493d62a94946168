"""The causal graph of a story: which events led to which, and which effects are still to come.

Nodes are events, edges are cause -> effect links carrying a ``strength`` in [0, 1]. Causal rules
(from the scenario) and explicit relationships schedule *pending effects*: complications that come
due some turns after their cause and fire only if their conditions still hold then.

Recording is O(1) per event (plus its causes and the few rules that can match it): rules are
indexed by the fields their patterns name, so a turn of 100,000 events costs a few dict lookups
per event, not 100,000 times the rule count. Queries (``explain``, ``calculate_narrative_impact``) walk the
graph hop by hop through :func:`explain_frontier` / :func:`impact_frontier`, which ask a fetcher
for a whole frontier at once; that is what lets the runtime shard the graph across actors and
still pay one batched call per shard per hop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx
from pydantic import ValidationError

from novel_engine.core.causal_frontier import (
    ExplanationStep, FetchInfo, FetchLinks, explain_frontier, impact_frontier,
)
from novel_engine.core.events import Event
from novel_engine.core.scenario import CausalRuleSpec, ComplicationSpec, Condition
from novel_engine.core.world import WorldState
from novel_engine.errors import NovelEngineError

__all__ = [
    "CausalGraph", "DueEffect", "ExplanationStep", "FetchInfo", "FetchLinks",
    "condition_holds", "explain_frontier", "impact_frontier",
]

_FORMAT = 1
_KEY_FIELDS = ("actor", "target", "location", "outcome")


@dataclass(frozen=True, slots=True)
class DueEffect:
    """A pending effect whose time has come and whose conditions hold: the director turns it into an event.

    Args:
        cause: id of the event that caused it (use it as the new event's ``causes``).
        spec: what happens.
        strength: strength of the cause -> effect link (pass it on as ``data["cause_strength"]``).
        rule_id: the causal rule that scheduled it, None for an explicit relationship.
        due_turn: the turn it was due.
    """

    cause: str
    spec: ComplicationSpec
    strength: float
    rule_id: str | None
    due_turn: int


@dataclass(frozen=True, slots=True)
class _CompiledRule:
    order: int  # registration order: matched rules fire in it
    rule: CausalRuleSpec
    checks: tuple[tuple[str, Any], ...]  # pattern fields left to compare after the bucket lookup


def _field(event: Event, name: str) -> Any:
    return event.outcome.value if name == "outcome" else getattr(event, name)


@dataclass(frozen=True, slots=True)
class _Pending:
    cause: str
    spec: ComplicationSpec
    strength: float
    rule_id: str | None
    due_turn: int
    conditions: tuple[Condition, ...]


def condition_holds(condition: Condition, world: WorldState) -> bool:
    """Whether one condition holds in ``world``.

    A ``fact`` condition compares ``world.facts[fact]`` with ``equals``; ``equals=True`` / ``False``
    mean truthy / falsy (a missing fact is falsy). A ``persona`` condition requires the persona to
    exist and, when given, to have that ``status`` and be ``at`` that location. All given parts
    must hold; an empty condition holds.
    """
    if condition.fact is not None:
        value, expected = world.facts.get(condition.fact), condition.equals
        if (bool(value) is not expected) if isinstance(expected, bool) else value != expected:
            return False
    if condition.persona is not None:
        persona = world.personas.get(condition.persona)
        return persona is not None and condition.status in (None, persona.status) \
            and condition.at in (None, persona.location)
    return True


def _to_condition(raw: Condition | str | Mapping[str, Any]) -> Condition:
    if isinstance(raw, Condition):
        return raw
    if isinstance(raw, str):
        # the scenario format's shorthand: "fact" is truthy, "!fact" is falsy
        return Condition(fact=raw[1:], equals=False) if raw.startswith("!") else Condition(fact=raw, equals=True)
    return Condition.model_validate(dict(raw))


def _check_strength(strength: Any, where: str) -> float:
    try:
        value = float(strength)
    except (TypeError, ValueError):
        raise NovelEngineError(f"{where}: strength must be a number", strength=repr(strength)) from None
    if not 0.0 <= value <= 1.0:
        raise NovelEngineError(f"{where}: strength must be between 0 and 1", strength=value)
    return value


class CausalGraph:
    """Events and their cause -> effect links, causal rules and the effects they have scheduled.

    Raises:
        NovelEngineError: on invalid input (see each method).
    """

    __slots__ = ("_g", "_rules", "_buckets", "_shapes", "_pending", "_armed", "_spent", "lapsed")

    def __init__(self) -> None:
        self._g = nx.DiGraph()
        self._rules: dict[str, CausalRuleSpec] = {}
        # Rules are indexed by (kind, action_type, key field, key value), the key field being the
        # first of actor/target/location/outcome the pattern names; an event probes one bucket per
        # rule *shape* in use, so matching costs a few dict lookups whatever the rule count.
        self._buckets: dict[tuple[Any, ...], list[_CompiledRule]] = {}
        self._shapes: list[tuple[bool, bool, str | None]] = []
        self._pending: dict[int, list[_Pending]] = {}
        self._armed: set[str] = set()  # once-rules with an effect pending
        self._spent: set[str] = set()  # once-rules whose effect has fired
        self.lapsed = 0  #: pending effects dropped because their conditions failed when due

    # -- recording -------------------------------------------------------------------------------

    def add_rule(self, rule: CausalRuleSpec) -> None:
        """Register a causal rule; later events matching ``rule.when`` schedule ``rule.then``.

        Raises:
            NovelEngineError: a rule with this id is already registered.
        """
        if rule.id in self._rules:
            raise NovelEngineError(f"causal rule {rule.id!r} is already registered", rule=rule.id)
        when = rule.when
        at = when.action_type.value if when.action_type is not None else None
        given = [(f, getattr(when, f)) for f in _KEY_FIELDS if getattr(when, f) is not None]
        key_field, key_value = given[0] if given else (None, None)
        shape = (when.kind is not None, at is not None, key_field)
        if shape not in self._shapes:
            self._shapes.append(shape)
        compiled = _CompiledRule(len(self._rules), rule, tuple(given[1:]))
        self._rules[rule.id] = rule
        self._buckets.setdefault((when.kind, at, key_field, key_value), []).append(compiled)

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
        g = self._g
        if event.id in g:
            raise NovelEngineError(f"event {event.id!r} is already recorded", event=event.id)
        g.add_node(event.id, turn=event.turn, summary=event.summary, kind=event.kind, actor=event.actor,
                   intensity=float(event.intensity), location=event.location)
        if event.causes:
            raw = event.data.get("cause_strength", 1.0)
            rule_id = event.data.get("rule_id")
            nodes = g.nodes
            for cause in event.causes:
                if cause not in g or cause == event.id:
                    continue
                s = raw.get(cause, 1.0) if type(raw) is dict else raw
                if type(s) is not float or not 0.0 <= s <= 1.0:
                    s = _check_strength(s, f"event {event.id!r}")
                g.add_edge(cause, event.id, strength=s, delay_turns=max(0, event.turn - nodes[cause]["turn"]),
                           conditions=[], rule_id=rule_id if type(rule_id) is str else None)
        return self._fire_rules(event) if self._shapes else []

    def add_events(self, events: Sequence[Event]) -> list[tuple[str, str]]:
        """Record events in order (see :meth:`add_event`); return ``(event id, rule id)`` for every rule that fired."""
        fired: list[tuple[str, str]] = []
        for event in events:
            fired.extend((event.id, rule_id) for rule_id in self.add_event(event))
        return fired

    def _fire_rules(self, event: Event) -> list[str]:
        at = event.action_type
        if at is not None:
            at = getattr(at, "value", at)  # tolerate an ActionType where a plain string is expected
        buckets = self._buckets
        candidates: list[_CompiledRule] = []
        for has_kind, has_at, field in self._shapes:
            key = (event.kind if has_kind else None, at if has_at else None, field,
                   _field(event, field) if field else None)
            found = buckets.get(key)
            if found:
                candidates.extend(found)
        if not candidates:
            return []
        candidates.sort(key=lambda c: c.order)
        matched: list[str] = []
        for compiled in candidates:
            rule = compiled.rule
            if any(_field(event, f) != value for f, value in compiled.checks):
                continue
            if rule.once and (rule.id in self._armed or rule.id in self._spent):
                continue
            self.add_relationship(event.id, rule.then, strength=rule.strength, delay_turns=rule.delay_turns,
                                  conditions=rule.conditions, rule_id=rule.id)
            matched.append(rule.id)
        return matched

    def add_relationship(self, cause: str, effect: str | ComplicationSpec, strength: float = 1.0,
                         delay_turns: int = 0, conditions: Sequence[Condition | str] = (),
                         rule_id: str | None = None) -> None:
        """Link a recorded cause to an effect, now or later.

        ``effect`` may be a recorded event id (an edge now, with ``strength``, ``delay_turns`` and
        ``conditions`` as attributes), a :class:`ComplicationSpec` (a pending effect due at the
        cause's turn + ``delay_turns``), or any other string (a pending effect described by it).
        String conditions use the scenario shorthand: ``"fact"`` is truthy, ``"!fact"`` falsy.

        Raises:
            NovelEngineError: unknown cause, a self-link, strength outside [0, 1], negative delay,
                or an invalid condition or effect description.
        """
        g = self._g
        if cause not in g:
            raise NovelEngineError(f"unknown cause event {cause!r}", event=cause)
        strength = _check_strength(strength, f"relationship {cause!r}")
        if not isinstance(delay_turns, int) or delay_turns < 0:
            raise NovelEngineError("delay_turns must be a non-negative integer", delay_turns=delay_turns)
        try:
            conds = tuple(_to_condition(c) for c in conditions)
            if isinstance(effect, str) and effect not in g:
                effect = ComplicationSpec(description=effect)
        except ValidationError as exc:
            raise NovelEngineError(f"invalid causal relationship from {cause!r}: {exc.errors()[0]['msg']}",
                                   event=cause) from None
        if isinstance(effect, str):
            if effect == cause:
                raise NovelEngineError("an event cannot cause itself", event=cause)
            g.add_edge(cause, effect, strength=strength, delay_turns=delay_turns,
                       conditions=[c.model_dump(mode="json") for c in conds], rule_id=rule_id)
            return
        due = g.nodes[cause]["turn"] + delay_turns
        self._pending.setdefault(due, []).append(_Pending(cause, effect, strength, rule_id, due, conds))
        if rule_id is not None and rule_id in self._rules and self._rules[rule_id].once:
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
        if event_id not in self._g:
            raise NovelEngineError(f"unknown event {event_id!r}", event=event_id)

    def parents_of(self, ids: Sequence[str] | set[str]) -> dict[str, list[tuple[str, float]]]:
        """For each recorded id in ``ids``: its causes as ``(cause id, strength)``, sorted by id. Unknown ids are left out."""
        pred = self._g.pred
        return {i: sorted((p, d["strength"]) for p, d in pred[i].items()) for i in ids if i in pred}

    def children_of(self, ids: Sequence[str] | set[str]) -> dict[str, list[tuple[str, float]]]:
        """For each recorded id in ``ids``: its effects as ``(effect id, strength)``, sorted by id. Unknown ids are left out."""
        succ = self._g.succ
        return {i: sorted((c, d["strength"]) for c, d in succ[i].items()) for i in ids if i in succ}

    def node_info(self, ids: Sequence[str] | set[str]) -> dict[str, dict[str, Any]]:
        """For each recorded id in ``ids``: a copy of its attributes (turn, summary, kind, actor, intensity, location)."""
        nodes = self._g.nodes
        return {i: dict(nodes[i]) for i in ids if i in nodes}

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
        g = self._g
        found = [a for a in nx.ancestors(g, event_id) if g.in_degree(a) == 0]
        return sorted(found, key=lambda a: (g.nodes[a]["turn"], a))

    def __len__(self) -> int:
        return self._g.number_of_nodes()

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._g

    # -- export ----------------------------------------------------------------------------------

    def to_node_link(self) -> dict[str, Any]:
        """The recorded events and links as JSON-serialisable node-link data (pending effects excluded)."""
        return nx.node_link_data(self._g, edges="links")

    def to_dict(self) -> dict[str, Any]:
        """Everything (events, links, rules, pending effects, spent once-rules, lapsed count) as JSON-friendly data."""
        g = self._g
        return {
            "v": _FORMAT,
            "nodes": [{"id": n, **a} for n, a in g.nodes(data=True)],
            "edges": [{"source": u, "target": v, **a, "conditions": [dict(c) for c in a["conditions"]]}
                      for u, v, a in g.edges(data=True)],
            "rules": [r.model_dump(mode="json") for r in self._rules.values()],
            "pending": [{"cause": p.cause, "spec": p.spec.model_dump(mode="json"), "strength": p.strength,
                         "rule_id": p.rule_id, "due_turn": p.due_turn,
                         "conditions": [c.model_dump(mode="json") for c in p.conditions]}
                        for ps in self._pending.values() for p in ps],
            "spent": sorted(self._spent),
            "lapsed": self.lapsed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "CausalGraph":
        """Rebuild a graph written by :meth:`to_dict`.

        Raises:
            NovelEngineError: the data is not in a known format.
        """
        if data.get("v") != _FORMAT:
            raise NovelEngineError("unknown causal graph format", version=data.get("v"))
        graph = cls()
        g = graph._g
        for node in data["nodes"]:
            g.add_node(node["id"], **{k: v for k, v in node.items() if k != "id"})
        for edge in data["edges"]:
            attrs = {k: v for k, v in edge.items() if k not in ("source", "target")}
            g.add_edge(edge["source"], edge["target"], **{**attrs, "conditions": [dict(c) for c in attrs["conditions"]]})
        for rule in data["rules"]:
            graph.add_rule(CausalRuleSpec.model_validate(rule))
        for p in data["pending"]:
            pending = _Pending(p["cause"], ComplicationSpec.model_validate(p["spec"]), p["strength"], p["rule_id"],
                               p["due_turn"], tuple(Condition.model_validate(c) for c in p["conditions"]))
            graph._pending.setdefault(pending.due_turn, []).append(pending)
            if pending.rule_id in graph._rules and graph._rules[pending.rule_id].once:
                graph._armed.add(pending.rule_id)
        graph._spent = set(data["spent"])
        graph.lapsed = int(data["lapsed"])
        return graph
