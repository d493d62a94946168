"""How a driver's handle puts the turns it committed on a Ray session's event hub.

Subscribers see a turn only once it is stored, so a durable turn is played unpublished, committed,
then published. The turn goes straight to the hub (not through the director), as the bytes the
director packed its report in: the hub makes its items itself. The call is sent, not awaited:
at 100,000 personas the hub takes seconds to receive a report while two cores are busy, and the
next turn need not wait for it. Every later read of the hub through this handle waits for it
first (:meth:`HubPublisher.settle`): Ray keeps no order between an async actor's calls, and a
small call can overtake one whose argument is still being fetched. A hub that restarted or missed
a turn refuses it; the director, which keeps the history, then gives the hub its window back.
"""

from __future__ import annotations

import contextlib
from typing import Any

import ray

from novel_engine.errors import StateLostError

__all__ = ["HubPublisher"]

_REFUSED = (StateLostError, ray.exceptions.RayActorError)


class HubPublisher:
    """The hub side of one driver's handle on a Ray session.

    Args:
        runtime: the handle (its ``director`` and ``hub()``).
    """

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.unpublished: tuple[int, bytes] | None = None  # the last turn played unpublished, packed
        self._sent: tuple[int, Any] | None = None  # (turn, reference) of a publish not yet awaited
        self._behind = False  # the hub refused a turn sent from here: the director fills it in

    def played(self, turn: int, packed: bytes | None) -> None:
        """Turn ``turn`` was played unpublished (``packed``: its report), or published (None)."""
        self.unpublished = None if packed is None else (turn, packed)

    async def publish(self, turn: int) -> None:
        """Put the committed turn ``turn`` on the hub (see the module)."""
        await self.settle()
        unpublished, self.unpublished = self.unpublished, None
        if not self._behind and unpublished is not None and unpublished[0] == turn:
            self._sent = (turn, self.runtime.hub().publish.remote(unpublished[1], turn))
            return
        await self.runtime.director.publish.remote(turn)
        self._behind = False

    async def settle(self) -> None:
        """Wait until the hub holds every turn published from here.

        Raises:
            what the hub's publish raised, other than a refusal (which the director mends).
        """
        sent, self._sent = self._sent, None
        if sent is None:
            return
        try:
            await sent[1]
        except _REFUSED:
            self._behind = True
            with contextlib.suppress(*_REFUSED):  # else the next publish goes through the director
                await self.runtime.director.publish.remote(sent[0])  # the window up to that turn
                self._behind = False

    def drop(self, timeout_s: float = 2.0) -> None:
        """The session is closing: let a publish still on its way land first (killed under it,
        Ray would log its retries against a dead hub), waiting at most ``timeout_s``."""
        sent, self._sent = self._sent, None
        if sent is not None:
            ray.wait([sent[1]], timeout=timeout_s)
