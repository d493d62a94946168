"""Sessions' heads as the state store has them: turn, tension, title, seed and fork parent.

The sessions list answers these for a whole page at once, from the store, so a client needs no
request per session and no session is woken up (its actors rebuilt) just to be listed. The store
is read fresh (SQL, not the replica's read cache): the engine commits through its own connection,
and a cache that did not see that commit would show an old turn.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from novel_engine.errors import NotFoundError
from serve_app.models import ForkParent
from serve_app.security.store_call import StoreCall

__all__ = ["Head", "head_of", "heads_of"]


@dataclass(frozen=True)
class Head:
    """A stored session's head: what the sessions list shows beside the name."""

    turn: int
    tension: float
    title: str
    seed: int
    parent: ForkParent | None


def _parent(record: Any) -> ForkParent | None:
    if record.parent is None:
        return None
    sid, turn = record.parent
    return ForkParent(session_id=sid, turn=turn)


async def head_of(store: StoreCall, session_id: str, *, with_tension: bool = True) -> Head | None:
    """The session's head from ``store`` (the replica's :class:`StoreCall`), or None if it has no such session.

    ``with_tension`` False skips the read of the last turn's record (the tension is then 0).
    """

    async def read(st: Any) -> tuple[Any, list]:  # both reads in one trip to the store's loop
        record = await st.get_session(session_id, fresh=True)
        if not with_tension or record.turn == 0:
            return record, []
        return record, await st.turns(session_id, record.turn - 1, record.turn)

    try:
        record, last = await store(read)
    except NotFoundError:
        return None
    tension = float(last[-1].record.get("tension", 0.0)) if last else 0.0
    title = str((record.scenario or {}).get("title", ""))
    return Head(turn=record.turn, tension=tension, title=title, seed=record.seed, parent=_parent(record))


async def heads_of(store: StoreCall, session_ids: list[str]) -> dict[str, Head | None]:
    """:func:`head_of` for each session, read concurrently; keyed by session id."""
    heads = await asyncio.gather(*(head_of(store, sid) for sid in session_ids))
    return dict(zip(session_ids, heads, strict=True))
