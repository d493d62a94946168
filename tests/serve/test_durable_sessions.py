"""API sessions are durable: every turn is committed to the state store, a session whose actors are
gone is resumed on the next request (the same story as an uninterrupted one), the list shows only
stored sessions, and a fork works after the director restarted (it is built from the store). The
sessions keep actors of their own (the test server's actors app), which the tests kill."""

from __future__ import annotations

import asyncio
import time

import pytest
from serve_checks import assert_problem


def _play(api, sid: str, turns: int) -> list[dict]:
    out = []
    for _ in range(turns):
        r = api.post(f"/api/v1/sessions/{sid}/turns", json={})
        assert r.status_code == 200, r.text
        out.append(r.json())
    return out


def _kill_actors(sid: str) -> None:
    """Kill every actor of the session for good, as a cluster restart would (the store keeps it)."""
    from novel_engine.runtime.ray.runtime import RayRuntime, list_sessions

    RayRuntime.attach(sid).close()
    assert sid not in list_sessions()


def _kill_director(sid: str) -> None:
    """Kill the director and let Ray restart it: it comes back at turn 0 with no turn inputs."""
    import ray

    from novel_engine.runtime.ray.runtime import NAMESPACE

    ray.kill(ray.get_actor(f"ne:{sid}:director", namespace=NAMESPACE), no_restart=False)


def test_turns_are_committed_and_a_lost_session_resumes_with_the_same_story(serve_server, carol):
    lost, steady = carol.new_session(session_name="lost")["id"], carol.new_session(session_name="steady")["id"]
    try:
        played = _play(carol, lost, 2)
        reference = _play(carol, steady, 3)
        stored = serve_server.runner.call(lambda st: st.turns(lost))
        assert [t.turn for t in stored] == [1, 2] and stored[-1].record["prose"] == played[-1]["prose"]

        _kill_actors(lost)
        assert lost in [i["id"] for i in carol.get("/api/v1/sessions").json()["items"]]
        head = carol.get(f"/api/v1/sessions/{lost}")
        assert head.status_code == 200, head.text
        assert head.json()["turn"] == 2
        resumed = _play(carol, lost, 1)[0]
        assert resumed["turn"] == 3 and resumed["events"] == reference[2]["events"]
        assert resumed["prose"] == reference[2]["prose"]
        story = carol.get(f"/api/v1/sessions/{lost}/narrative").json()
        assert story == carol.get(f"/api/v1/sessions/{steady}/narrative").json()
        assert serve_server.runner.call(lambda st: st.get_session(lost)).turn == 3
    finally:
        carol.delete(f"/api/v1/sessions/{lost}")
        carol.delete(f"/api/v1/sessions/{steady}")


def test_the_list_shows_only_sessions_the_store_holds(serve_server, carol):
    from serve_app.security.access_store import access_for

    ghost = "ghost" + carol.username[-8:]  # an ownership row without a stored story
    owner = asyncio.run(serve_server.auth.get_user_by_name(carol.username))["id"]
    access = access_for(serve_server.runner)
    asyncio.run(access.add_session(ghost, owner, "ghost"))
    try:
        assert ghost not in [i["id"] for i in carol.get("/api/v1/sessions").json()["items"]]
        assert_problem(carol.get(f"/api/v1/sessions/{ghost}"), 404)
    finally:
        asyncio.run(access.remove_session(ghost))


def test_fork_after_the_director_restarted_comes_from_the_store(carol):
    import ray

    from novel_engine.runtime.ray.runtime import NAMESPACE

    sid = carol.new_session(session_name="restarted")["id"]
    fork = None
    try:
        original = _play(carol, sid, 2)
        _kill_director(sid)
        r = carol.post(f"/api/v1/sessions/{sid}/fork", json={"at_turn": 1})
        deadline = time.monotonic() + 120
        while r.status_code == 503 and time.monotonic() < deadline:
            # a director still restarting answers 503 with Retry-After, as documented: a client retries
            assert r.json()["type"].endswith("/session-unavailable") and r.headers["retry-after"], r.text
            time.sleep(int(r.headers["retry-after"]))
            r = carol.post(f"/api/v1/sessions/{sid}/fork", json={"at_turn": 1})
        assert r.status_code == 201, r.text
        fork = r.json()["id"]
        assert r.json()["turn"] == 1
        forked = carol.get(f"/api/v1/sessions/{fork}/turns").json()["items"]
        assert [t["events"] for t in forked] == [original[0]["events"]]
        assert _play(carol, fork, 1)[0]["events"] == original[1]["events"]
        assert carol.get(f"/api/v1/sessions/{sid}").json()["turn"] == 2  # the parent was restored too
        _kill_director(sid)  # a delete ends whatever actors are left, restarted or not
        director = ray.get_actor(f"ne:{sid}:director", namespace=NAMESPACE)
        assert carol.delete(f"/api/v1/sessions/{sid}").status_code == 204
        # killed for good, not restarted (ray.kill is asynchronous: a call may still get in first)
        deadline = time.monotonic() + 60
        with pytest.raises(ray.exceptions.RayActorError):
            while time.monotonic() < deadline:
                ray.get(director.turn.remote(), timeout=60)
                time.sleep(0.5)
        with pytest.raises(ValueError):  # and its name is gone: nothing restarted it
            ray.get_actor(f"ne:{sid}:director", namespace=NAMESPACE)
    finally:
        if fork is not None:
            carol.delete(f"/api/v1/sessions/{fork}")
        carol.delete(f"/api/v1/sessions/{sid}")
