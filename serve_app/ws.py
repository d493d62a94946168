"""The WebSocket ``/ws``: live session events and player actions.

Authenticate with ``?token=<jwt or API key>`` on the URL, or with a first message
``{"type": "auth", "token": ...}``. Then, one JSON object per message:

- ``{"type": "subscribe", "session_id", "event_types": [...], "after_seq": n}``: the session's
  events after ``n`` (0: from the start; omitted: from now on) in order (``agent_action``, ``world_event``, ``causal_event``,
  ``narrative_update``, ``turn_complete``), each with its ``seq``; answered first by
  ``subscribed`` (with the effective ``after_seq``).
  A client that reconnects and subscribes from the last ``seq`` it saw misses nothing.
- ``{"type": "unsubscribe", "session_id"}``.
- ``{"type": "agent_action", "session_id", "agent_id", "action": {"action_type", "target",
  "parameters", "dialogue"}}``: queue an action for that agent's next turn (owner or its player);
  answered by ``action_queued``.
- ``{"type": "ping"}``: answered by ``pong``.

A malformed or refused message gets ``{"type": "error", "code", "status", "detail", "errors"?,
"retry_after"?}`` (``retry_after``: seconds, with 429 and 503) and the socket stays open. The server sends ``heartbeat`` frames on idle sockets. A client too slow
to keep up gets ``{"type": "overflow", "session_id", "after_seq"}`` and must resubscribe from there.

The handler awaits the client's messages while a separate writer task sends frames, so a client
that leaves is noticed at once (a push-only loop would never see the disconnect).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any, Literal

from fastapi import WebSocket
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from novel_engine.core.events import Decision
from novel_engine.errors import NovelEngineError
from novel_engine.runtime.event_log import HUB_EVENT_TYPES
from serve_app.context import OWNER, ServeContext
from serve_app.fanout import Frame, Outbox, control
from serve_app.problems import Problem, from_engine_error, validation_errors
from serve_app.routes_agents import queue_player_action

__all__ = ["websocket_session", "SubscribeMessage", "ActionMessage"]

log = logging.getLogger("serve_app")

SessionId = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
EventType = Literal[HUB_EVENT_TYPES]  # type: ignore[valid-type]


class SubscribeMessage(BaseModel):
    """``subscribe``: stream a session's events after ``after_seq`` (0: from the start)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["subscribe"]
    session_id: str = SessionId
    event_types: list[EventType] | None = Field(default=None, max_length=len(HUB_EVENT_TYPES))
    after_seq: int | None = Field(
        default=None, ge=0, le=2**62, description="events after this seq (0: from the start); omitted: from now on"
    )


class ActionMessage(BaseModel):
    """``agent_action``: queue a player action for the agent's next turn."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["agent_action"]
    session_id: str = SessionId
    agent_id: str = Field(min_length=1, max_length=128)
    action: Decision


class _Socket:
    """One connection: its principal, outbox, writer and heartbeat."""

    def __init__(self, ws: WebSocket, ctx: ServeContext) -> None:
        self.ws, self.ctx = ws, ctx
        self.outbox = Outbox(ctx.config.ws_queue_size)
        self.principal: Any = None

    def send(self, kind: str, **data: Any) -> None:
        """Queue a control frame; a full outbox means the client is too slow (overflow handles it)."""
        self.outbox.offer(control(kind, **data))

    def error(self, code: str, status: int, detail: str, errors: list[dict] | None = None, **extra: Any) -> None:
        frame: dict[str, Any] = {"code": code, "status": status, "detail": detail, **extra}
        if errors:
            frame["errors"] = errors
        self.send("error", **frame)

    def problem(self, p: Problem, request: str | None) -> None:
        # an outage (503) or a limit (429) says when to try again, as the HTTP answer's Retry-After does
        later = {"retry_after": int(p.headers["Retry-After"])} if "Retry-After" in p.headers else {}
        self.error(p.slug.replace("-", "_"), p.status, p.detail, p.errors or None, request=request, **later)

    async def writer(self) -> None:
        while True:
            frame: Frame = await self.outbox.get()
            await self.ws.send_text(frame.text)

    async def heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.ctx.config.heartbeat_s)
            try:  # never count a heartbeat as overflow: skip it when the outbox is full
                self.outbox.queue.put_nowait(control("heartbeat", at=round(time.time(), 3)))
            except asyncio.QueueFull:
                pass

    async def authenticate(self, token: str) -> bool:
        try:
            self.principal = await self.ctx.auth.authenticate(token, context={"method": "WEBSOCKET", "path": "/ws"})
        except NovelEngineError as err:
            self.problem(from_engine_error(err), "auth")
            return False
        self.send("authenticated", username=self.principal.username)
        return True

    async def handle(self, text: str) -> None:
        """Answer one client message (never raises for bad input)."""
        try:
            msg = json.loads(text)
        except (ValueError, TypeError):
            self.error("malformed", 400, "a message must be one JSON object")
            return
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            self.error("malformed", 400, "a message must be a JSON object with a string 'type'")
            return
        kind = msg["type"]
        if kind == "ping":
            self.send("pong", at=round(time.time(), 3))
            return
        if kind == "auth":
            token = msg.get("token")
            if not isinstance(token, str) or not token:
                self.error("malformed", 400, "auth needs a 'token' string", request="auth")
            elif self.principal is not None:
                self.error("already_authenticated", 409, "this connection is already authenticated", request="auth")
            else:
                await self.authenticate(token)
            return
        if self.principal is None:
            self.error(
                "unauthenticated",
                401,
                'authenticate first: ?token=... on the URL or {"type": "auth", "token": ...}',
                request=kind,
            )
            return
        try:
            await self.ctx.auth.check_rate(self.principal)
            if kind == "subscribe":
                await self.subscribe(SubscribeMessage.model_validate(msg))
            elif kind == "unsubscribe":
                sid = msg.get("session_id")
                sub = self.outbox.subs.get(sid) if isinstance(sid, str) else None
                if sub is None:
                    self.error("not_subscribed", 404, f"no subscription to {sid!r} on this connection", request=kind)
                else:
                    sub.stop()
                    self.send("unsubscribed", session_id=sid)
            elif kind == "agent_action":
                await self.queue_action(ActionMessage.model_validate(msg))
            else:
                self.error(
                    "unknown_type",
                    400,
                    f"unknown message type {kind!r}; use subscribe, unsubscribe, agent_action, auth or ping",
                    request=kind,
                )
        except ValidationError as exc:
            errs = [{"path": p, "message": m} for p, m in validation_errors(exc.errors())]
            self.error("invalid", 422, f"invalid {kind} message", errs, request=kind)
        except Problem as p:
            self.problem(p, kind)
        except NovelEngineError as err:
            self.problem(from_engine_error(err), kind)

    async def subscribe(self, m: SubscribeMessage) -> None:
        await self.ctx.authorize(self.principal, m.session_id, OWNER)
        await self.ctx.session(m.session_id)  # 404 if its actors are gone
        types = frozenset(m.event_types) if m.event_types else None
        sub = await self.ctx.fanout.subscribe(self.outbox, m.session_id, m.after_seq, types)
        # queued before the subscription's task can run, so it precedes every event frame
        self.send(
            "subscribed",
            session_id=m.session_id,
            after_seq=sub.after_seq,
            event_types=m.event_types or list(HUB_EVENT_TYPES),
        )

    async def queue_action(self, m: ActionMessage) -> None:
        for_turn = await queue_player_action(self.ctx, self.principal, m.session_id, m.agent_id, m.action)
        self.send("action_queued", session_id=m.session_id, agent_id=m.agent_id, for_turn=for_turn)


async def websocket_session(ws: WebSocket, ctx: ServeContext, on_overflow: Callable[[], Any] | None = None) -> None:
    """Serve one WebSocket connection until the client leaves (``on_overflow``: counts slow clients)."""
    await ws.accept()
    sock = _Socket(ws, ctx)
    sock.outbox.on_overflow = on_overflow
    tasks = [asyncio.create_task(sock.writer()), asyncio.create_task(sock.heartbeat())]
    try:
        token = ws.query_params.get("token")
        if token:
            await sock.authenticate(token)
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            text = message.get("text")
            if text is None:
                sock.error("malformed", 400, "send text frames holding JSON, not binary ones")
                continue
            if len(text) > 64 * 1024:
                sock.error("too_large", 413, "a message may be at most 64 KiB")
                continue
            await sock.handle(text)
            if tasks[0].done():  # the writer failed: the client is gone
                break
    except Exception as exc:  # noqa: BLE001 - a broken connection must not take anything else down
        log.debug("websocket ended: %s", exc)
    finally:
        sock.outbox.close()
        for t in tasks:
            t.cancel()
