"""Two replica processes over one store and one Ray cluster agree: sessions, owners, deletes, events.

The main app and the rate-limited app (``serve_server.rate_limited_url``) run the same code in two
different replica processes; Serve would route one app's requests to either of its replicas, so
whatever one replica does must be seen by the other. The rate-limited app allows 5 requests per
user and minute: this test stays within 4 of them there.
"""

from __future__ import annotations

import asyncio
import json

from serve_checks import Api, assert_problem
from websockets.asyncio.client import connect


def test_a_session_made_on_one_replica_is_served_watched_and_deleted_through_the_other(serve_server):
    name, password = serve_server.create_user("eve")
    here = Api(serve_server, name, password)
    other = Api(serve_server, name, password, prefix="/rl")
    assert (
        here.get("/health").headers["x-novel-engine-replica"] != other.get("/health").headers["x-novel-engine-replica"]
    )
    sid = here.new_session()["id"]
    assert other.get(f"/api/v1/sessions/{sid}").json()["turn"] == 0  # 1 of 4

    async def watch_there_play_here() -> list[dict]:
        ws_url = serve_server.rate_limited_url.replace("http", "ws") + f"/ws?token={other.token}"
        async with connect(ws_url) as ws:
            await ws.send(json.dumps({"type": "subscribe", "session_id": sid, "after_seq": 0}))  # 2 of 4
            frames = []
            while True:
                f = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if f["type"] == "subscribed":
                    turn = await asyncio.to_thread(here.post, f"/api/v1/sessions/{sid}/turns", json={})
                    assert turn.status_code == 200
                elif "seq" in f:
                    frames.append(f)
                    if f["type"] == "turn_complete":
                        return frames
                else:
                    assert f["type"] in ("authenticated", "heartbeat"), f

    frames = asyncio.run(watch_there_play_here())
    assert [f["seq"] for f in frames] == list(range(1, len(frames) + 1))
    played = here.get(f"/api/v1/sessions/{sid}/turns").json()["items"][0]["events"]
    assert [f["event"] for f in frames if "event" in f] == played
    assert other.get(f"/api/v1/sessions/{sid}").json()["turn"] == 1  # 3 of 4
    assert here.delete(f"/api/v1/sessions/{sid}").status_code == 204
    assert_problem(other.get(f"/api/v1/sessions/{sid}"), 404)  # 4 of 4: the other replica knows at once
