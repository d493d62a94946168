"""The WebSocket /ws with a real client: ordered streams, reconnects, actions, isolation, bad messages."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import connect


async def recv(ws: Any, kind: str | None = None, timeout: float = 60.0) -> dict:
    """The next frame (of ``kind``, skipping heartbeats and other kinds)."""
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if frame["type"] == "heartbeat":
            continue
        if kind is None or frame["type"] == kind:
            return frame


async def until_turn(ws: Any, turn: int) -> list[dict]:
    """Every event frame up to and including ``turn_complete`` of ``turn``."""
    out = []
    while True:
        f = await recv(ws)
        assert f["type"] != "error", f
        if "seq" in f:
            out.append(f)
            if f["type"] == "turn_complete" and f["turn"] == turn:
                return out


async def alive(ws: Any) -> None:
    """The socket still answers."""
    await ws.send(json.dumps({"type": "ping"}))
    assert (await recv(ws, "pong"))["type"] == "pong"


def open_sockets(api: Any) -> float:
    """The replica's gauge of open WebSocket connections."""
    for line in api.get("/metrics").text.splitlines():
        if line.startswith("novel_engine_ws_connections "):
            return float(line.split()[1])
    raise AssertionError("no novel_engine_ws_connections gauge in /metrics")


def play(api: Any, sid: str, body: dict | None = None) -> dict:
    r = api.post(f"/api/v1/sessions/{sid}/turns", json=body or {})
    assert r.status_code == 200, r.text
    return r.json()


def test_stream_is_ordered_and_reconnect_from_after_seq_misses_nothing(serve_server, alice):
    sid = alice.new_session()["id"]

    async def scenario() -> None:
        url = f"{serve_server.ws_url}?token={alice.token}"
        async with connect(url) as ws:
            assert (await recv(ws, "authenticated"))["username"] == alice.username
            await ws.send(json.dumps({"type": "subscribe", "session_id": sid}))
            assert (await recv(ws, "subscribed"))["after_seq"] == 0
            turn1 = await asyncio.to_thread(play, alice, sid)
            first = await until_turn(ws, 1)
        kinds = [f["type"] for f in first]
        assert [f["seq"] for f in first] == list(range(1, len(first) + 1))
        assert kinds[-2:] == ["narrative_update", "turn_complete"] and "agent_action" in kinds
        assert [f["event"] for f in first if "event" in f] == turn1["events"]
        assert first[-2]["prose"] == turn1["prose"] and all(f["session_id"] == sid for f in first)
        # two turns while disconnected, then resume from the last seq seen
        await asyncio.to_thread(play, alice, sid)
        await asyncio.to_thread(play, alice, sid)
        async with connect(serve_server.ws_url) as ws:
            await ws.send(json.dumps({"type": "auth", "token": alice.token}))
            await recv(ws, "authenticated")
            await ws.send(json.dumps({"type": "subscribe", "session_id": sid, "after_seq": first[-1]["seq"]}))
            rest = await until_turn(ws, 3)
        seqs = [f["seq"] for f in first + rest]
        assert seqs == list(range(1, len(seqs) + 1))
        turns = alice.get(f"/api/v1/sessions/{sid}/turns").json()["items"]
        assert [f["event"] for f in rest if "event" in f] == turns[1]["events"] + turns[2]["events"]

    asyncio.run(scenario())
    alice.delete(f"/api/v1/sessions/{sid}")


def test_event_type_filter_and_many_sockets(serve_server, alice):
    sid = alice.new_session()["id"]

    async def scenario() -> None:
        url = f"{serve_server.ws_url}?token={alice.token}"
        sockets = [await connect(url) for _ in range(8)]
        try:
            for i, ws in enumerate(sockets):
                types = ["turn_complete"] if i % 2 else None
                await ws.send(json.dumps({"type": "subscribe", "session_id": sid, "event_types": types}))
                await recv(ws, "subscribed")
            await asyncio.to_thread(play, alice, sid)
            got = [await until_turn(ws, 1) for ws in sockets]
        finally:
            for ws in sockets:
                await ws.close()
        assert all(g == got[0] for g in got[0::2]) and all(g == got[1] for g in got[1::2])
        assert [f["type"] for f in got[1]] == ["turn_complete"] and got[1][0] == got[0][-1]
        # the server noticed every client leaving (the handler awaits receive, so a close is seen)
        for _ in range(100):
            if open_sockets(alice) == 0:
                break
            await asyncio.sleep(0.1)  # another process's gauge: nothing to await but a fresh read
        assert open_sockets(alice) == 0

    asyncio.run(scenario())
    alice.delete(f"/api/v1/sessions/{sid}")


def test_actions_by_websocket_for_owner_and_player_only(serve_server, alice, bob):
    sid = alice.new_session()["id"]
    assert alice.put(f"/api/v1/sessions/{sid}/agents/dragon/player", json={"username": bob.username}).status_code == 200

    async def scenario() -> None:
        async with (
            connect(f"{serve_server.ws_url}?token={alice.token}") as a,
            connect(f"{serve_server.ws_url}?token={bob.token}") as b,
        ):
            await a.send(
                json.dumps(
                    {
                        "type": "agent_action",
                        "session_id": sid,
                        "agent_id": "hero_001",
                        "action": {"action_type": "rest"},
                    }
                )
            )
            assert (await recv(a, "action_queued"))["for_turn"] == 1
            await b.send(
                json.dumps(
                    {"type": "agent_action", "session_id": sid, "agent_id": "dragon", "action": {"action_type": "hide"}}
                )
            )
            assert (await recv(b, "action_queued"))["agent_id"] == "dragon"
            await b.send(
                json.dumps(
                    {
                        "type": "agent_action",
                        "session_id": sid,
                        "agent_id": "hero_001",
                        "action": {"action_type": "flee", "target": "tavern"},
                    }
                )
            )
            refused = await recv(b, "error")
            assert refused["status"] == 403 and refused["request"] == "agent_action"
            await b.send(json.dumps({"type": "subscribe", "session_id": sid}))
            assert (await recv(b, "error"))["status"] == 403  # a player may not watch the whole story
            await alive(b)

    asyncio.run(scenario())
    turn = play(alice, sid)
    assert turn["player_actions"] == ["dragon", "hero_001"]
    acts = {e["actor"]: e["action_type"] for e in turn["events"] if "player" in e["flags"]}
    assert acts == {"hero_001": "rest", "dragon": "hide"}
    alice.delete(f"/api/v1/sessions/{sid}")


def test_other_users_and_bad_messages_get_error_frames_and_the_socket_stays_open(serve_server, alice, bob, story):
    async def scenario() -> None:
        async with connect(serve_server.ws_url) as ws:
            await ws.send(json.dumps({"type": "subscribe", "session_id": story["id"]}))
            assert (await recv(ws, "error"))["code"] == "unauthenticated"
            await ws.send(json.dumps({"type": "auth", "token": "forged.token.value"}))
            assert (await recv(ws, "error"))["status"] == 401
            await ws.send(json.dumps({"type": "auth", "token": bob.token}))
            await recv(ws, "authenticated")
            bad = [
                "{nope",
                "[]",
                json.dumps({"no": "type"}),
                json.dumps({"type": "dance"}),
                json.dumps({"type": "subscribe", "session_id": story["id"], "after_seq": -3}),
                json.dumps({"type": "subscribe", "session_id": story["id"], "event_types": ["gossip"]}),
                json.dumps(
                    {
                        "type": "agent_action",
                        "session_id": story["id"],
                        "agent_id": "hero_001",
                        "action": {"action_type": "fly"},
                    }
                ),
                json.dumps({"type": "unsubscribe", "session_id": "never"}),
            ]
            for text in bad:
                await ws.send(text)
                err = await recv(ws)
                assert err["type"] == "error" and 400 <= err["status"] < 500, (text, err)
            await ws.send(b"binary")
            assert (await recv(ws, "error"))["code"] == "malformed"
            for kind, body in [
                ("subscribe", {}),
                ("agent_action", {"agent_id": "hero_001", "action": {"action_type": "rest"}}),
            ]:
                await ws.send(json.dumps({"type": kind, "session_id": story["id"], **body}))
                err = await recv(ws, "error")
                assert err["status"] == 404 and story["id"] in err["detail"], err
            invalid = [f for f in [json.dumps({"type": "subscribe", "session_id": story["id"], "after_seq": -3})]]
            await ws.send(invalid[0])
            assert (await recv(ws, "error"))["errors"][0]["path"] == "after_seq"
            await alive(ws)
            while json.loads(await asyncio.wait_for(ws.recv(), 60))["type"] != "heartbeat":
                pass  # an idle socket gets heartbeats (every 2 s in this app)

    asyncio.run(scenario())
    assert alice.get(f"/api/v1/sessions/{story['id']}/turns").json()["total"] == 2  # nothing was queued or played
