"""Fast pickling of the records a turn sends between actors.

Frozen, slotted dataclasses pickle through ``copyreg``'s generic path: a state dict built per
object on the way out and a ``__setstate__`` loop of ``object.__setattr__`` on the way in. A
10,000-persona turn sends about 250,000 of them (perceptions, belief views, events), which took
seconds. Registering a reducer that pickles each record as ``(builder, field values)`` makes it a
constructor call; measured on such a turn, the perceptions went from about 1 s to 0.1 s. The
builder is the record's ``fast_constructor`` (plain slot stores, not the frozen ``__init__``'s
``object.__setattr__`` per field): 150,000 fragments unpickle in about half the time.

Only the sender needs the registration; the receiver finds the builder in this module (pickle
imports it), and every process that imports the Ray actors imports it anyway. Nothing about the
records changes: they unpickle equal to what was sent, and objects shared inside one message (a
fragment many personas perceived) stay shared.
"""

from __future__ import annotations

import copyreg
import dataclasses
import gc
import operator
import pickle
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from novel_engine.agents.belief_store import BeliefView
from novel_engine.core.events import Action, Event, InformationFragment
from novel_engine.core.perception import BeliefSummary, PerceivedFragment, Perception
from novel_engine.core.records import fast_constructor

__all__ = ["register", "RECORDS", "settle_gc", "pack", "pack_report", "unpack", "opened", "PackedEvents"]

RECORDS: tuple[type, ...] = (
    Perception,
    PerceivedFragment,
    BeliefSummary,
    BeliefView,
    InformationFragment,
    Event,
    Action,
)


def _builder(cls: type) -> Callable[..., Any]:
    """``cls(*values)`` without the frozen dataclass's ``__init__`` (which sets every field through
    ``object.__setattr__``): ``fast_constructor``'s builder, named in this module so that pickle
    finds it by reference, in any process, once it imports this module (it imports it itself)."""
    build = fast_constructor(cls)
    name = f"_build_{cls.__name__}"
    build.__module__, build.__qualname__, build.__name__ = __name__, name, name
    globals()[name] = build
    return build


def _reducer(cls: type) -> Callable[[Any], tuple]:
    names = tuple(f.name for f in dataclasses.fields(cls) if f.init)
    if len(names) != len(dataclasses.fields(cls)):
        raise TypeError(f"{cls.__name__} has fields outside __init__; it cannot be pickled by its constructor")
    get, build = operator.attrgetter(*names), _builder(cls)
    if len(names) == 1:
        return lambda obj: (build, (get(obj),))
    return lambda obj: (build, get(obj))


def register(classes: tuple[type, ...] = RECORDS) -> None:
    """Pickle each of ``classes`` (frozen dataclasses) as a constructor call (idempotent)."""
    for cls in classes:
        copyreg.pickle(cls, _reducer(cls))


def settle_gc() -> None:
    """Keep the cyclic collector off the long-lived state of an actor process.

    Call it when an actor has built its state and after each turn. An actor holds millions of
    long-lived objects (a large cast's world, beliefs, memories) and unpickles hundreds of
    thousands per turn; every full collection then walks the whole heap again while freeing
    nothing (the records are acyclic and go away by reference counting). Freezing moves what
    exists now out of the collector's sight, and a higher first threshold makes the young
    collections rarer. (The in-process runtime pauses the collector during a turn instead.)
    A section that pauses the collector should freeze on its way out (``gc_paused(freeze=True)``):
    re-enabled with the section's allocations counted, it would first walk all it made (most
    of a second after a 100,000-persona turn, measured in the director and the shards).
    """
    gc.set_threshold(100_000, 50, 100)
    gc.freeze()


def pack(obj: Any) -> bytes:
    """``obj`` pickled by the standard library's pickler, for a large state sent once (a world).

    Ray pickles arguments with cloudpickle, whose C pickler calls back into Python for every
    object that is not a builtin (a ``reducer_override`` and a ``ChainMap`` lookup): a
    100,000-persona world, about a million small objects, took 9 s that way and 1.4 s as bytes
    from ``pickle.dumps`` (the objects' own ``__reduce__``; bytes cross Ray as one buffer).
    """
    gc_was = gc.isenabled()
    gc.disable()  # millions of acyclic objects: a collection would only walk them
    try:
        return pickle.dumps(obj, protocol=5)
    finally:
        if gc_was:
            gc.enable()


def unpack(data: bytes) -> Any:
    """The object of :func:`pack`."""
    gc_was = gc.isenabled()
    gc.disable()
    try:
        return pickle.loads(data)
    finally:
        if gc_was:
            gc.enable()


def _joined(report: Any, events: bytes) -> Any:
    return dataclasses.replace(report, events=tuple(unpack(events)))


class _Joined:
    """A report whose events were packed already: it unpickles as the whole report (``_joined``)."""

    __slots__ = ("report", "events")

    def __init__(self, report: Any, events: bytes) -> None:
        self.report, self.events = report, events

    def __reduce__(self) -> tuple:
        return (_joined, (self.report, self.events))


def pack_report(report: Any, events: bytes | None = None) -> bytes:
    """A turn's report packed as :func:`pack` does; ``events``: its events packed already (a
    large cast's memories, which the persona shards get anyway), taken as they are instead of
    pickled a second time. :func:`unpack` gives the whole report either way."""
    if events is None:
        return pack(report)
    return pack(_Joined(dataclasses.replace(report, events=()), events))


class PackedEvents(Sequence):
    """A turn's events kept as the bytes :func:`pack` made of them, unpickled when read.

    A Ray director keeps every turn's report for the session's reads; with a large cast their
    events as objects were most of its growth per turn (about 100 MB a turn at 100,000 personas),
    and they are read again only when a reader pages through old turns. Its length is at hand
    (the event hub's numbering needs it); it crosses a process as a plain tuple.
    """

    __slots__ = ("data", "count")

    def __init__(self, data: bytes, count: int) -> None:
        self.data, self.count = data, count

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[Any]:
        return iter(unpack(self.data))

    def __getitem__(self, index: Any) -> Any:
        return tuple(self)[index]

    def __eq__(self, other: object) -> bool:
        return tuple(self) == (tuple(other) if isinstance(other, PackedEvents) else other)

    __hash__ = None  # type: ignore[assignment]  # like a tuple compared by value, but never a key

    def __reduce__(self) -> tuple:
        return (tuple, (tuple(self),))


def opened(obj: Any) -> Any:
    """``obj`` as sent by a caller that may have packed it (:func:`pack`): a large per-turn
    payload (a patch, the fragments, memories, events) crosses Ray as bytes; a small one as is."""
    return unpack(obj) if isinstance(obj, (bytes, bytearray, memoryview)) else obj


register()
