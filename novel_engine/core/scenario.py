"""The scenario format: a pydantic schema with errors that name the path of the bad field.

A scenario is a plain mapping (usually read from YAML by :mod:`novel_engine.scenarios`).
:func:`validate_scenario` checks its structure *and* its cross-references (unknown neighbours,
relationship targets, start locations...) and reports every problem at once as a
:class:`~novel_engine.errors.ScenarioError`, e.g. ``personas[2].traits.courage: must be between 0 and 1``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from novel_engine.core.events import ActionType, Effect, SourceType, Visibility
from novel_engine.core.rng import seed_problem
from novel_engine.core.world import CORE_TRAITS
from novel_engine.errors import FieldError, ScenarioError

__all__ = [
    "Scenario",
    "LocationSpec",
    "PersonaSpec",
    "GoalSpec",
    "RelationshipSpec",
    "FragmentSpec",
    "EventPattern",
    "Condition",
    "CausalRuleSpec",
    "NarrativeGoalSpec",
    "ComplicationSpec",
    "validate_scenario",
    "STYLES",
    "KINDS",
]

STYLES = ("epic_fantasy", "noir", "sci_fi")
#: What a persona can be; the chronicler's verbs fit it (a machine is damaged, a spirit fades).
KINDS = ("human", "beast", "machine", "spirit")
Scalar = str | int | float | bool | None


def _unit(v: float) -> float:
    if not 0.0 <= v <= 1.0:
        raise ValueError("must be between 0 and 1")
    return v


def _signed_unit(v: float) -> float:
    if not -1.0 <= v <= 1.0:
        raise ValueError("must be between -1 and 1")
    return v


def _goal_from_text(v: Any) -> Any:
    # a goal may be written as plain text; it is then opaque to the offline model
    return {"text": v} if isinstance(v, str) else v


def _seed(v: int) -> int:
    problem = seed_problem(v)
    if problem is not None:
        raise ValueError(problem)
    return v


Unit = Annotated[float, AfterValidator(_unit)]
Seed = Annotated[int, AfterValidator(_seed)]
SignedUnit = Annotated[float, AfterValidator(_signed_unit)]
Id = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class LocationSpec(_Model):
    """A place: id, name, description, neighbours (ids) and visibility in [0, 1]."""

    id: Id
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=4000)
    neighbours: list[Id] = Field(default_factory=list)
    visibility: Unit = 0.5


class RelationshipSpec(_Model):
    """How a persona regards ``target``: trust and affinity in [-1, 1]."""

    target: Id
    trust: SignedUnit = 0.0
    affinity: SignedUnit = 0.0


class GoalSpec(_Model):
    """A goal in words, optionally made legible: the action, target and place it is about;
    ``secret``: the persona pursues it behind everyone's back and never says it aloud."""

    text: str = Field(min_length=1, max_length=500)
    action: ActionType | None = None
    target: Id | None = None
    location: Id | None = None
    priority: Unit = 1.0
    secret: bool = False


class PersonaSpec(_Model):
    """A character. Traits in [0, 1] must include the five core traits."""

    id: Id
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=4000)
    traits: dict[str, Unit]
    goals: list[Annotated[GoalSpec, BeforeValidator(_goal_from_text)]] = Field(default_factory=list)
    location: Id
    relationships: list[RelationshipSpec] = Field(default_factory=list)
    controlled_by: Literal["player"] | None = None
    biases: dict[Literal["confirmation", "anchoring", "recency", "negativity"], Unit] = Field(default_factory=dict)
    voice: list[Annotated[str, Field(max_length=300)]] = Field(default_factory=list, max_length=20)
    health: Unit = 1.0
    kind: Literal["human", "beast", "machine", "spirit"] = "human"  # KINDS: a machine is damaged, not bleeding


class FragmentSpec(_Model):
    """An information fragment present when the story starts."""

    id: Id
    content: str = Field(min_length=1, max_length=2000)
    source_type: SourceType = SourceType.DIRECT_OBSERVATION
    reliability: Unit = 0.8
    location: Id | None = None
    subjects: list[Id] = Field(default_factory=list)
    visibility: Visibility = Visibility.LOCAL
    origin: str = "world"
    key: str | None = Field(default=None, max_length=128)
    value: Scalar = True
    valence: SignedUnit = 0.0
    salience: Unit = 0.6
    reach: int = Field(default=0, ge=0, le=3)


class EventPattern(_Model):
    """Matches events: every field given must be equal to the event's."""

    kind: str | None = None
    action_type: ActionType | None = None
    actor: Id | None = None
    target: Id | None = None
    location: Id | None = None
    outcome: Literal["success", "partial", "failure", "blocked", "none"] | None = None


class Condition(_Model):
    """A condition on the world: a fact's value, or a persona's status or location."""

    fact: str | None = None
    equals: Scalar = True
    persona: Id | None = None
    status: Literal["active", "wounded", "incapacitated"] | None = None
    at: Id | None = None


def _condition_from_text(v: Any) -> Any:
    # "fact" means the fact is truthy, "!fact" that it is not
    if isinstance(v, str):
        return {"fact": v[1:], "equals": False} if v.startswith("!") else {"fact": v, "equals": True}
    return v


class CausalRuleSpec(_Model):
    """When an event matches ``when``, ``then`` happens ``delay_turns`` later if ``conditions`` hold."""

    id: Id
    when: EventPattern
    then: ComplicationSpec
    strength: Unit = 0.8
    delay_turns: int = Field(default=1, ge=0, le=100)
    conditions: list[Annotated[Condition, BeforeValidator(_condition_from_text)]] = Field(default_factory=list)
    once: bool = True


class NarrativeGoalSpec(_Model):
    """A story beat: reached when an event matches ``when`` (if given) and every condition holds
    in the world after that turn (a fact, a persona's status or place), e.g. ``uncovered:<fragment>``."""

    id: Id
    description: str = Field(min_length=1, max_length=500)
    when: EventPattern | None = None
    conditions: list[Annotated[Condition, BeforeValidator(_condition_from_text)]] = Field(default_factory=list)
    main: bool = True  # the story ends (with an epilogue) once every main goal is reached

    @model_validator(mode="after")
    def _something_to_reach(self) -> NarrativeGoalSpec:
        if self.when is None and not self.conditions:
            raise ValueError("a narrative goal needs `when` (an event pattern) or `conditions` (or both)")
        return self


class ComplicationSpec(_Model):
    """A world event the director can inject (pacing) or a causal rule can fire."""

    description: str = Field(min_length=1, max_length=1000)
    kind: str = "world"
    location: Id | None = None
    visibility: Visibility = Visibility.LOCAL
    intensity: Unit = 0.5
    key: str | None = None
    value: Scalar = True
    subjects: list[Id] = Field(default_factory=list)
    effects: list[Effect] = Field(default_factory=list)
    # whether it leaves its place dangerous for a while (None: when it is strong); a discovery or
    # a relief (a glow under the boards, the pumps holding) is strong news but no danger
    danger: bool | None = None


class Scenario(_Model):
    """A whole scenario: the world, the cast, what they know, and the story's rules and goals."""

    title: str = Field(min_length=1, max_length=200)
    style: Literal["epic_fantasy", "noir", "sci_fi"] = "epic_fantasy"
    description: str = Field(default="", max_length=4000)
    seed: Seed = 0
    difficulty: Unit = 0.5
    # a fact that, while true, is the premise's standing threat (a reactor failing, a siege): no
    # chapter opens on a calm station while it holds
    peril: str | None = None
    llm: Literal["offline", "gemini", "openai"] | None = None
    facts: dict[str, Scalar] = Field(default_factory=dict)
    locations: list[LocationSpec] = Field(min_length=1)
    personas: list[PersonaSpec] = Field(min_length=1)
    fragments: list[FragmentSpec] = Field(default_factory=list)
    causal_rules: list[CausalRuleSpec] = Field(default_factory=list)
    narrative_goals: list[NarrativeGoalSpec] = Field(default_factory=list)
    complications: list[ComplicationSpec] = Field(default_factory=list)


CausalRuleSpec.model_rebuild()


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not str(part).startswith(("function-", "union[")):
            out += ("." if out else "") + str(part)
    return out


def _message(err: dict[str, Any]) -> str:
    msg = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    if err["type"] == "extra_forbidden":
        return "unknown field"
    if err["type"] == "missing":
        return "required field is missing"
    return msg


def _f(obj: Any, name: str) -> Any:
    """Read a field from a raw mapping: cross-references are checked even when the structure is bad."""
    return obj.get(name) if isinstance(obj, dict) else None


def _list(obj: Any, name: str) -> list:
    v = _f(obj, name)
    return v if isinstance(v, list) else []


def _ids(items: list) -> list:
    return [i.get("id") if isinstance(i, dict) else None for i in items]


def _ref(v: Any) -> Any:
    return v if isinstance(v, str) else None


def _cross_reference(data: dict) -> list[FieldError]:
    errors: list[FieldError] = []
    add = lambda path, msg: errors.append(FieldError(path, msg))  # noqa: E731
    locations, personas = _list(data, "locations"), _list(data, "personas")
    loc_ids, persona_ids = _ids(locations), _ids(personas)
    known_locs = {x for x in loc_ids if isinstance(x, str)}
    known_personas = {x for x in persona_ids if isinstance(x, str)}
    for kind, ids in (("locations", loc_ids), ("personas", persona_ids)):
        seen: set[str] = set()
        for i, ident in enumerate(ids):
            if isinstance(ident, str) and ident in seen:
                add(f"{kind}[{i}].id", f"duplicate id {ident!r}")
            seen.add(ident)
    for i, l in enumerate(locations):
        for j, n in enumerate(_list(l, "neighbours")):
            if _ref(n) is not None and n not in known_locs:
                add(f"locations[{i}].neighbours[{j}]", f"unknown location {n!r}")
            elif n == _f(l, "id"):
                add(f"locations[{i}].neighbours[{j}]", "a place cannot neighbour itself")
    for i, p in enumerate(personas):
        traits = _f(p, "traits")
        if isinstance(traits, dict):
            missing = [t for t in CORE_TRAITS if t not in traits]
            if missing:
                add(f"personas[{i}].traits", "missing trait(s): " + ", ".join(missing))
        loc = _ref(_f(p, "location"))
        if loc is not None and loc not in known_locs:
            add(f"personas[{i}].location", f"unknown location {loc!r}")
        for j, r in enumerate(_list(p, "relationships")):
            t = _ref(_f(r, "target"))
            if t is not None and t not in known_personas:
                add(f"personas[{i}].relationships[{j}].target", f"unknown persona {t!r}")
            elif t is not None and t == _f(p, "id"):
                add(f"personas[{i}].relationships[{j}].target", "a persona cannot relate to itself")
        for j, g in enumerate(_list(p, "goals")):
            t, gl = _ref(_f(g, "target")), _ref(_f(g, "location"))
            if t and t not in known_personas and t not in known_locs:
                add(f"personas[{i}].goals[{j}].target", f"unknown persona or location {t!r}")
            if gl and gl not in known_locs:
                add(f"personas[{i}].goals[{j}].location", f"unknown location {gl!r}")
    for i, f in enumerate(_list(data, "fragments")):
        fl = _ref(_f(f, "location"))
        if fl and fl not in known_locs:
            add(f"fragments[{i}].location", f"unknown location {fl!r}")
        if _f(f, "visibility") == "private" and _f(f, "origin") not in known_personas:
            add(f"fragments[{i}].origin", "a private fragment needs a persona as origin")
    for section in ("causal_rules", "narrative_goals"):
        for i, item in enumerate(_list(data, section)):
            when = _f(item, "when")
            for fld in ("actor", "target"):
                v = _ref(_f(when, fld))
                if v and v not in known_personas:
                    add(f"{section}[{i}].when.{fld}", f"unknown persona {v!r}")
            wl = _ref(_f(when, "location"))
            if wl and wl not in known_locs:
                add(f"{section}[{i}].when.location", f"unknown location {wl!r}")
    places = [(f"causal_rules[{i}].then", _f(r, "then")) for i, r in enumerate(_list(data, "causal_rules"))]
    places += [(f"complications[{i}]", c) for i, c in enumerate(_list(data, "complications"))]
    for path, item in places:
        cl = _ref(_f(item, "location"))
        if cl and cl not in known_locs:
            add(f"{path}.location", f"unknown location {cl!r}")
    return errors


def validate_scenario(data: Any, source: str | None = None) -> Scenario:
    """Validate a scenario mapping; return a :class:`Scenario` or raise ``ScenarioError`` with every problem.

    Args:
        data: the parsed scenario (a dict, e.g. from YAML).
        source: where it came from (a file name), used in the error message.
    """
    if not isinstance(data, dict):
        raise ScenarioError(
            "a scenario must be a mapping of fields (title, locations, personas, ...)",
            [FieldError("", f"got {type(data).__name__}")],
            source,
        )
    errors: list[FieldError] = []
    scenario = None
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        errors = [FieldError(_path(e["loc"]), _message(e)) for e in exc.errors()]
    # cross-references are checked on the raw data too, so one run reports every problem
    errors = list(dict.fromkeys(errors + _cross_reference(data)))
    if errors or scenario is None:
        raise ScenarioError(f"invalid scenario ({len(errors)} error{'s' if len(errors) != 1 else ''})", errors, source)
    return scenario
