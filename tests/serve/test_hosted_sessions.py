"""Small sessions served from shared session hosts: created without starting actors, dropped from
memory and brought back by the next request with the same story, the same event numbers and the
socket that watched them still subscribed; a fork of a dropped session comes from the store."""

from __future__ import annotations

import asyncio
import json

import ray
from test_ws import play, recv, until_turn
from websockets.asyncio.client import connect

from novel_engine.runtime.ray.hosts import host_name
from novel_engine.runtime.ray.runtime import NAMESPACE
from novel_engine.runtime.residency import host_of
from serve_app.config import ServeConfig

SMALL = {"world_template": "synthetic", "agent_count": 3}  # within the test app's host_max_personas


def _host(sid: str):
    hosts = ServeConfig().session_hosts  # the test app keeps the default pool
    return ray.get_actor(host_name("default", host_of(sid, hosts)), namespace=NAMESPACE)


def _named() -> set[str]:
    return {a["name"] for a in ray.util.list_named_actors(all_namespaces=True)}


def test_a_small_session_is_hosted_and_comes_back_after_eviction_with_its_watcher(serve_server, alice):
    before = _named()
    sid = alice.new_session(**SMALL)["id"]
    ref = alice.new_session(**SMALL)["id"]
    try:
        assert not {n for n in _named() - before if sid in n or ref in n}  # no actor of its own
        host = _host(sid)
        assert not ray.get(host.has.remote(sid))  # created, not played: nothing in its host's memory

        async def scenario() -> list[dict]:
            async with connect(f"{serve_server.ws_url}?token={alice.token}") as ws:
                await recv(ws, "authenticated")
                await ws.send(json.dumps({"type": "subscribe", "session_id": sid}))
                await recv(ws, "subscribed")
                await asyncio.to_thread(play, alice, sid)
                first = await until_turn(ws, 1)
                assert ray.get(host.has.remote(sid))  # its first turn brought it there
                assert ray.get(host.evict.remote([sid])) == [sid]  # as an idle sweep would
                assert not ray.get(host.has.remote(sid))
                await asyncio.to_thread(play, alice, sid)  # the request brings it back from the store
                return first + await until_turn(ws, 2)

        frames = asyncio.run(scenario())
        assert [f["seq"] for f in frames] == list(range(1, len(frames) + 1))
        play(alice, ref)
        play(alice, ref)
        assert (
            alice.get(f"/api/v1/sessions/{sid}/narrative").json()
            == alice.get(f"/api/v1/sessions/{ref}/narrative").json()
        )
        ray.get(host.evict.remote([sid]))
        r = alice.post(f"/api/v1/sessions/{sid}/fork", json={"at_turn": 1})
        assert r.status_code == 201, r.text
        fork = r.json()["id"]
        assert play(alice, fork)["events"] == alice.get(f"/api/v1/sessions/{ref}/turns").json()["items"][1]["events"]
        alice.delete(f"/api/v1/sessions/{fork}")
    finally:
        alice.delete(f"/api/v1/sessions/{sid}")
        alice.delete(f"/api/v1/sessions/{ref}")
    assert not ray.get(_host(sid).has.remote(sid))  # a delete ends it on its host


def test_reading_a_hosted_session_asks_the_store_not_its_host(serve_server, alice):
    sid = alice.new_session(**SMALL)["id"]
    try:
        play(alice, sid)
        last = play(alice, sid)
        host = _host(sid)
        assert ray.get(host.evict.remote([sid])) == [sid]
        got = alice.get(f"/api/v1/sessions/{sid}").json()
        assert (got["turn"], got["tension"], got["parent"]) == (2, last["tension"], None)
        # what is committed answers the read: the session stays out of its host's memory
        assert not ray.get(host.has.remote(sid))
        fork = alice.post(f"/api/v1/sessions/{sid}/fork", json={"at_turn": 1}).json()["id"]
        play(alice, fork)
        assert alice.get(f"/api/v1/sessions/{fork}").json()["parent"] == {"session_id": sid, "turn": 1}
        alice.delete(f"/api/v1/sessions/{fork}")
    finally:
        alice.delete(f"/api/v1/sessions/{sid}")
