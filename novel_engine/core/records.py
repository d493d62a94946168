"""Fast positional construction of frozen, slotted dataclass records, for hot paths.

The engine's records are frozen, slotted dataclasses: immutable, hashable, cheap to pickle. A
frozen dataclass's ``__init__`` cannot assign its fields (its own ``__setattr__`` refuses), so it
sets each one through ``object.__setattr__``, a generic call that costs about 0.2 us a field. The
director builds tens of thousands of events, fragments and stances a turn, and there this single
cost outweighs everything else done to build them.

:func:`fast_constructor` returns a builder that fills a plain *draft* class having the very same
slots with ordinary attribute stores, then re-labels the object as the record class
(``__class__`` assignment, which CPython allows exactly when the two layouts are identical). The
result is an ordinary instance of the record class, frozen like any other: equal, hashable and
picklable as if built by its constructor, about four times faster.

A builder takes every field positionally, in field order, and neither applies defaults nor runs
``__post_init__``: use it only where all fields are at hand and the class has no ``__post_init__``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, is_dataclass
from typing import Any, TypeVar

from novel_engine.errors import NovelEngineError

__all__ = ["fast_constructor"]

R = TypeVar("R")


def fast_constructor(cls: type[R]) -> Callable[..., R]:
    """A positional constructor for the frozen, slotted dataclass ``cls`` (see the module doc).

    Args:
        cls: a ``@dataclass(frozen=True, slots=True)`` class without ``__post_init__``.
    Returns:
        ``build(*values)``: the same object as ``cls(*values)`` given every field in field order.
    Raises:
        NovelEngineError: ``cls`` is not a slotted dataclass, or it has a ``__post_init__``.
    """
    if not is_dataclass(cls) or "__slots__" not in cls.__dict__ or hasattr(cls, "__post_init__"):
        raise NovelEngineError(f"{cls.__name__} is not a slotted dataclass without __post_init__", record=cls.__name__)
    names = [f.name for f in fields(cls)]
    if {"_new", "_draft", "_cls", "_record"} & set(names):
        raise NovelEngineError(f"{cls.__name__} has a field named like a builder local", record=cls.__name__)
    draft = type(f"_{cls.__name__}Draft", (), {"__slots__": cls.__slots__})
    # generated like dataclasses generates __init__: one plain store per field, no loop, no call
    source = (
        f"def build({', '.join(names)}):\n"
        "    _record = _new(_draft)\n"
        + "".join(f"    _record.{name} = {name}\n" for name in names)
        + "    _record.__class__ = _cls\n"
        "    return _record\n"
    )
    namespace: dict[str, Any] = {"_new": object.__new__, "_draft": draft, "_cls": cls}
    exec(source, namespace)  # noqa: S102 - the source is built from the dataclass's own field names
    build = namespace["build"]
    build.__qualname__ = build.__name__ = f"build_{cls.__name__}"
    build.__module__ = cls.__module__
    build.__doc__ = (
        f"``{cls.__name__}(...)`` with every field given positionally in field order "
        f"({', '.join(names)}); several times cheaper (see :mod:`novel_engine.core.records`)."
    )
    return build
