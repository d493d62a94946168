"""A bare Serve app for ``bench api``: WebSocket fan-out and nothing else (Serve's delivery floor).

Kept apart from :mod:`serve_app.bench` so FastAPI loads only when the benchmark runs, and so its
routes resolve their type hints from this module's imports.
"""

from __future__ import annotations

import asyncio
import json
import time

from fastapi import FastAPI, WebSocket

__all__ = ["floor_asgi_app"]


def floor_asgi_app() -> FastAPI:
    """A Serve app doing nothing but WebSocket fan-out: the same delivery path without the engine.

    ``POST /fire`` queues ``{"committed_at": now}`` to every open socket, as a turn's commit does.
    """
    api, outboxes = FastAPI(), []

    @api.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        box: asyncio.Queue[str] = asyncio.Queue()
        outboxes.append(box)

        async def writer() -> None:
            while True:
                await websocket.send_text(await box.get())

        task = asyncio.create_task(writer())
        try:
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass
        finally:
            task.cancel()
            outboxes.remove(box)

    @api.get("/count")
    async def count() -> int:
        return len(outboxes)

    @api.post("/fire")
    async def fire() -> int:
        text = json.dumps({"type": "turn_complete", "committed_at": time.time()})
        for box in outboxes:
            box.put_nowait(text)
        return len(outboxes)

    return api
