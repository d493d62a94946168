"""One ``bench load`` player's WebSocket subscription to a session, kept across failures.

:class:`Subscriber` subscribes to every event of the session after the last sequence number this
run has seen of it (so a session's stream is checked across visits too), and checks that the
sequence numbers follow each other: a number skipped is a *gap* (an event missed), one seen again
a *repeat*. When the socket drops (a replica or the whole server killed) or the server sends an
error or ``overflow`` frame, it reconnects and resubscribes with ``after_seq`` as a client should,
and carries on. ``turn_complete`` frames tell the visit that a turn's events have all arrived.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

__all__ = ["Subscriber"]

RECONNECT_S = (0.5, 1.0, 2.0, 4.0)  # backoff between attempts to reconnect, then the last again
AWAY_S = 600.0  # the longest a turn's frame is awaited while the socket cannot reconnect
STOP_S = 15.0  # the longest a stopping subscriber may take to close its socket


class Subscriber:
    """A player's subscription to ``sid`` (see the module docstring).

    Args:
        load: the run's shared state (``cfg``, ``count``, ``ws_seen``, ``ws_gaps``).
        sid: the session.
        token: the player's token.
    """

    def __init__(self, load: Any, sid: str, token: str) -> None:
        self.load, self.sid, self.token = load, sid, token
        self.delivered: dict[int, float | None] = {}  # turn -> delivery seconds (None: not measurable)
        self.arrived = asyncio.Event()
        self.subscribed = asyncio.Event()
        self.resubscribes = 0
        self.live = False  # subscribed on an open socket right now
        self._task: asyncio.Task | None = None
        self._ws: Any = None
        self._stopped = False

    @property
    def last(self) -> int:
        return self.load.ws_seen.get(self.sid, 0)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._stopped = True  # also ends the loop if a cancellation is lost in a connect (3.11 wait_for)
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=STOP_S)
        if self._ws is not None:
            await asyncio.gather(self._ws.close(), return_exceptions=True)

    async def _run(self) -> None:
        from websockets.asyncio.client import connect

        cfg, failures = self.load.cfg, 0
        while not self._stopped:
            try:
                async with asyncio.timeout(cfg["timeout_s"]):
                    self._ws = await connect(f"{cfg['ws_url']}?token={self.token}", max_queue=None)
            except (OSError, TimeoutError, ValueError) as err:  # server down, refused, handshake failed
                self.load.count("ws", f"connect: {type(err).__name__}")
            except Exception as err:  # noqa: BLE001 - a rejected handshake (503 from the ingress...) is counted too
                self.load.count("ws", f"connect: {type(err).__name__}")
            else:
                failures = 0 if await self._session() else failures
            self._ws = None
            await asyncio.sleep(RECONNECT_S[min(failures, len(RECONNECT_S) - 1)])
            failures += 1
            self.resubscribes += 1

    async def _session(self) -> bool:
        """Subscribe on the open socket and read until it fails; whether it ever subscribed."""
        ws, ok = self._ws, False
        try:
            await ws.send(json.dumps({"type": "subscribe", "session_id": self.sid, "after_seq": self.last}))
            async for text in ws:
                frame = json.loads(text)
                kind = frame.get("type")
                if kind == "subscribed":
                    ok = self.live = True
                    self.subscribed.set()
                elif "seq" in frame and frame.get("session_id") == self.sid:
                    self._event(frame)
                elif kind in ("error", "overflow"):
                    self.load.count("ws", f"{kind} {frame.get('status', frame.get('code', ''))}".strip())
                    return ok  # resubscribe from the last seq seen, on a new socket
        except Exception as err:  # noqa: BLE001 - a dropped socket: reconnect
            self.load.count("ws", f"dropped: {type(err).__name__}")
        else:
            self.load.count("ws", "closed by server")
        finally:
            self.live = False
            await asyncio.gather(ws.close(), return_exceptions=True)
        return ok

    def _event(self, frame: dict[str, Any]) -> None:
        seq, last = int(frame["seq"]), self.last
        if seq <= last:
            self.load.ws_repeats += 1
            return
        if seq != last + 1:
            self.load.ws_gaps.append([self.sid, last, seq])
        self.load.ws_seen[self.sid] = seq
        if frame.get("type") == "turn_complete":
            committed = float(frame.get("committed_at") or 0.0)  # 0: a turn replayed into a rebuilt hub
            self.delivered[int(frame["turn"])] = time.time() - committed if committed > 0 else None
            self.arrived.set()

    async def wait_turn(self, turn: int) -> None:
        """Wait for ``turn``'s ``turn_complete`` and count it: at most the request timeout while
        subscribed; while the socket is away (the server restarting) the wait goes on, up to
        :data:`AWAY_S`, since the frame comes with the catch-up once it is back."""
        timeout = self.load.cfg["timeout_s"]
        give_up, hard = time.monotonic() + timeout, time.monotonic() + AWAY_S
        while turn not in self.delivered:
            now = time.monotonic()
            if not self.live:
                give_up = min(hard, max(give_up, now + timeout))
            if now >= give_up:
                break
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), min(1.0, give_up - now))
            except TimeoutError:
                continue
        if turn not in self.delivered:
            self.load.ws_missed += 1
            self.load.count("ws", "missed")
        elif self.delivered[turn] is None:
            self.load.count("ws", "delivered")
        else:
            self.load.count("ws", "delivered", self.delivered[turn])
