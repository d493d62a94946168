"""fast_constructor and the hot-path builders: the same records as the constructors, only cheaper."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
from dataclasses import dataclass

import pytest

from novel_engine.core.events import (
    Event,
    InformationFragment,
    Outcome,
    SourceType,
    Visibility,
    build_event,
    build_fragment,
)
from novel_engine.core.records import fast_constructor
from novel_engine.errors import NovelEngineError

EVENT = (
    "e0003.000001",
    3,
    "action",
    "Ann attacks Bob",
    "ann",
    "attack",
    "bob",
    "hall",
    Outcome.SUCCESS,
    "Take that!",
    ("ann", "bob"),
    ("e0002.000004",),
    0.75,
    ("player",),
    {"damage": 0.4},
)
FRAGMENT = (
    "ev:e0003.000001",
    "Ann attacks Bob",
    SourceType.DIRECT_OBSERVATION,
    0.9,
    "hall",
    3,
    ("ann", "bob"),
    Visibility.LOCAL,
    "ann",
    "hostile:ann",
    "bob",
    -0.8,
    0.95,
    1,
)


def test_builders_make_the_same_records_as_the_constructors() -> None:
    event, fragment = build_event(*EVENT), build_fragment(*FRAGMENT)
    assert type(event) is Event and event == Event(*EVENT) and event.to_dict() == Event(*EVENT).to_dict()
    assert type(fragment) is InformationFragment and fragment == InformationFragment(*FRAGMENT)
    assert hash(fragment) == hash(InformationFragment(*FRAGMENT))
    assert dataclasses.asdict(fragment) == dataclasses.asdict(InformationFragment(*FRAGMENT))
    assert repr(event) == repr(Event(*EVENT))


def test_built_records_stay_frozen_and_survive_pickling_and_copying() -> None:
    event = build_event(*EVENT)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.turn = 4  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(event)) == event
    assert copy.deepcopy(build_fragment(*FRAGMENT)) == InformationFragment(*FRAGMENT)
    assert dataclasses.replace(event, turn=4).turn == 4


def test_builders_take_every_field_in_field_order() -> None:
    for cls, build in ((Event, build_event), (InformationFragment, build_fragment)):
        assert list(inspect.signature(build).parameters) == [f.name for f in dataclasses.fields(cls)]
        with pytest.raises(TypeError):
            build("only-an-id")


def test_fast_constructor_refuses_what_it_cannot_build_faithfully() -> None:
    @dataclass(frozen=True)
    class Unslotted:
        x: int

    @dataclass(frozen=True, slots=True)
    class Checked:
        x: int

        def __post_init__(self) -> None:
            if self.x < 0:
                raise ValueError("x")

    @dataclass(frozen=True, slots=True)
    class Clashing:
        _record: int

    for cls in (Unslotted, Checked, Clashing, int):
        with pytest.raises(NovelEngineError):
            fast_constructor(cls)


def test_build_decision_makes_what_model_construct_and_validation_make() -> None:
    from novel_engine.core.events import ActionType, Decision, build_decision

    args = (ActionType.SPEAK, "bob", {"tells_key": "k", "tells_value": 1}, "Hello.", "company", ["e1"])
    built = build_decision(*args)
    names = ("action_type", "target", "parameters", "dialogue", "rationale", "motivated_by")
    constructed = Decision.model_construct(**dict(zip(names, args)))
    validated = Decision.model_validate(dict(zip(names, args)))
    assert type(built) is Decision
    assert built == constructed == validated
    assert built.model_dump() == validated.model_dump()
    assert built.model_dump_json() == validated.model_dump_json()
    assert built.model_fields_set == constructed.model_fields_set == set(names)
    assert pickle.loads(pickle.dumps(built)) == validated
    assert built.model_copy(update={"target": "cid"}).target == "cid"
