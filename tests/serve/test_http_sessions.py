"""Sessions over real HTTP: create, play, page, fork, read the story; isolation; players; bad input."""

from __future__ import annotations

import pytest
from serve_checks import assert_problem

from novel_engine.testing.tales import short_tale

REST = {"action_type": "rest"}


def test_session_lifecycle_turns_and_story(alice):
    s = alice.new_session(session_name="lifecycle")
    sid = s["id"]
    assert s["turn"] == 0 and s["name"] == "lifecycle" and {"hero_001", "dragon"} <= {p["id"] for p in s["personas"]}
    assert sid in [i["id"] for i in alice.get("/api/v1/sessions").json()["items"]]

    r = alice.post(f"/api/v1/sessions/{sid}/turns", json={"agent_actions": {"hero_001": REST}})
    assert r.status_code == 200, r.text
    turn = r.json()
    assert turn["turn"] == 1 and turn["prose"]
    mine = [e for e in turn["events"] if e["actor"] == "hero_001"]
    assert mine and mine[0]["action_type"] == "rest" and "player" in mine[0]["flags"]
    assert alice.post(f"/api/v1/sessions/{sid}/turns", json={}).json()["turn"] == 2

    head = alice.get(f"/api/v1/sessions/{sid}").json()
    assert (
        head["turn"] == 2
        and head["tension"] == alice.get(f"/api/v1/sessions/{sid}/turns?after=1").json()["items"][0]["tension"]
    )
    page = alice.get(f"/api/v1/sessions/{sid}/turns", params={"limit": 1}).json()
    assert [t["turn"] for t in page["items"]] == [1] and page["next_after"] == 1 and page["total"] == 2
    assert page["items"][0]["events"] == turn["events"]

    story = alice.get(f"/api/v1/sessions/{sid}/narrative").json()
    assert [t["turn"] for t in story["turns"]] == [1, 2] and turn["prose"] in story["text"]
    md = alice.get(f"/api/v1/sessions/{sid}/narrative", params={"format": "markdown"})
    assert md.headers["content-type"].startswith("text/markdown") and md.text.startswith("# ")
    graph = alice.get(f"/api/v1/sessions/{sid}/causal-graph").json()
    ids = {n["id"] for n in graph["nodes"]}
    assert {e["id"] for e in turn["events"]} <= ids
    explained = alice.get(f"/api/v1/sessions/{sid}/events/{turn['events'][0]['id']}/explain")
    assert explained.status_code == 200 and isinstance(explained.json()["causes"], list)
    assert_problem(alice.get(f"/api/v1/sessions/{sid}/events/e9999.000001/explain"), 404)

    assert alice.delete(f"/api/v1/sessions/{sid}").status_code == 204
    assert_problem(alice.get(f"/api/v1/sessions/{sid}"), 404)
    assert sid not in [i["id"] for i in alice.get("/api/v1/sessions").json()["items"]]


def test_fork_replays_the_story_up_to_a_turn(alice, story):
    sid = story["id"]
    r = alice.post(f"/api/v1/sessions/{sid}/fork", json={"at_turn": 1})
    assert r.status_code == 201, r.text
    fork = r.json()
    assert fork["turn"] == 1 and fork["id"] != sid and r.headers["location"].endswith(fork["id"])
    original = alice.get(f"/api/v1/sessions/{sid}/turns").json()["items"]
    forked = alice.get(f"/api/v1/sessions/{fork['id']}/turns").json()["items"]
    assert forked == original[:1]
    # same seed, same inputs: the fork's next turn is the original's turn 2
    assert alice.post(f"/api/v1/sessions/{fork['id']}/turns", json={}).json()["events"] == original[1]["events"]
    bad = assert_problem(alice.post(f"/api/v1/sessions/{sid}/fork", json={"at_turn": 99}), 422)
    assert bad["errors"][0]["path"] == "body.at_turn"
    alice.delete(f"/api/v1/sessions/{fork['id']}")


def _every_route(sid: str) -> list[tuple[str, str, dict | None]]:
    base = f"/api/v1/sessions/{sid}"
    return [
        ("GET", base, None),
        ("DELETE", base, None),
        ("POST", f"{base}/fork", {}),
        ("POST", f"{base}/turns", {}),
        ("GET", f"{base}/turns", None),
        ("GET", f"{base}/agents", None),
        ("PUT", f"{base}/agents/hero_001", {"parameters": {"courage": 0.5}}),
        ("GET", f"{base}/agents/hero_001/beliefs", None),
        ("PUT", f"{base}/agents/hero_001/player", {"username": "nobody"}),
        ("DELETE", f"{base}/agents/hero_001/player", None),
        ("POST", f"{base}/agents/hero_001/actions", REST),
        ("GET", f"{base}/narrative", None),
        ("GET", f"{base}/causal-graph", None),
        ("GET", f"{base}/events/e0001.000001/explain", None),
        ("GET", f"{base}/map", None),
        ("GET", f"{base}/map?pov=hero_001", None),
        ("GET", f"{base}/agents/hero_001/view", None),
    ]


def test_another_user_gets_404_on_every_route_and_it_is_audited(serve_server, alice, bob, story):
    missing = assert_problem(bob.get("/api/v1/sessions/doesnotexist"), 404)
    for method, path, body in _every_route(story["id"]):
        r = bob.request(method, path, json=body)
        got = assert_problem(r, 404)
        assert got["title"] == missing["title"] and got["type"] == missing["type"], (method, path)
        assert story["id"] in got["detail"] and "alice" not in r.text
    assert story["id"] not in [i["id"] for i in bob.get("/api/v1/sessions").json()["items"]]
    assert alice.get(f"/api/v1/sessions/{story['id']}").json()["turn"] == 2  # nothing changed
    log = serve_server.runner.call(lambda st: st.audit_log(500))
    denied = [e for e in log if e["action"] == "access_denied" and e["data"].get("session_id") == story["id"]]
    assert len(denied) >= len(_every_route(story["id"]))


def test_player_may_read_beliefs_and_act_for_one_agent_only(alice, bob):
    sid = alice.new_session()["id"]
    base = f"/api/v1/sessions/{sid}"
    assert_problem(bob.get(f"{base}/agents/hero_001/beliefs"), 404)
    granted = alice.put(f"{base}/agents/hero_001/player", json={"username": bob.username})
    assert granted.status_code == 200 and granted.json()["player"] == bob.username
    alice.post(f"{base}/turns", json={})
    beliefs = bob.get(f"{base}/agents/hero_001/beliefs")
    assert (
        beliefs.status_code == 200
        and beliefs.json()["beliefs"] == alice.get(f"{base}/agents/hero_001/beliefs").json()["beliefs"]
    )
    queued = bob.post(f"{base}/agents/hero_001/actions", json={"action_type": "rest"})
    assert queued.status_code == 202 and queued.json()["for_turn"] == 2
    own = bob.get(f"{base}/narrative", params={"pov": "hero_001"})  # the story as their persona saw it
    assert own.status_code == 200 and [t["turn"] for t in own.json()["turns"]] == [1]
    assert own.json() == alice.get(f"{base}/narrative", params={"pov": "hero_001"}).json()
    assert_problem(bob.get(f"{base}/narrative", params={"pov": "dragon"}), 403)
    assert_problem(alice.get(f"{base}/narrative", params={"pov": "nobody"}), 404)
    for method, path, body in [
        ("GET", base, None),
        ("GET", f"{base}/agents/dragon/beliefs", None),
        ("POST", f"{base}/agents/dragon/actions", REST),
        ("POST", f"{base}/turns", {}),
        ("GET", f"{base}/narrative", None),
        ("DELETE", base, None),
    ]:
        assert_problem(bob.request(method, path, json=body), 403)
    turn = alice.post(f"{base}/turns", json={}).json()
    assert turn["player_actions"] == ["hero_001"]
    hero = [e for e in turn["events"] if e["actor"] == "hero_001"]
    assert hero[0]["action_type"] == "rest" and "player" in hero[0]["flags"]
    r = alice.delete(f"{base}/agents/hero_001/player")
    assert r.status_code == 204, r.text
    assert_problem(bob.get(f"{base}/agents/hero_001/beliefs"), 404)
    alice.delete(base)


def test_agents_can_be_listed_and_changed(alice, story):
    base = f"/api/v1/sessions/{story['id']}/agents"
    agents = {a["id"]: a for a in alice.get(base).json()}
    assert set(agents) >= {"hero_001", "dragon"} and 0 <= agents["hero_001"]["traits"]["courage"] <= 1
    r = alice.put(f"{base}/hero_001", json={"parameters": {"courage": 0.11}, "capabilities": ["combat", "magic"]})
    assert r.status_code == 200, r.text
    assert r.json()["traits"]["courage"] == 0.11 and r.json()["capabilities"] == ["combat", "magic"]
    assert {a["id"]: a for a in alice.get(base).json()}["hero_001"]["capabilities"] == ["combat", "magic"]
    assert_problem(alice.put(f"{base}/nobody", json={"parameters": {"courage": 0.5}}), 404)


@pytest.mark.parametrize(
    "body, path",
    [
        ({"world_template": "fantasy_world", "scenario": {"title": "x"}}, "body"),
        ({}, "body"),
        ({"world_template": "no_such_world"}, "body.world_template"),
        ({"world_template": "fantasy_world", "agent_count": 3}, "body.agent_count"),
        ({"world_template": "synthetic"}, "body.agent_count"),
        ({"world_template": "fantasy_world", "settings": {"difficulty": 2}}, "body.settings.difficulty"),
        ({"world_template": "fantasy_world", "settings": {"seed": 99999999999999999999999}}, "body.settings.seed"),
        ({"world_template": "fantasy_world", "settings": {"seed": -1}}, "body.settings.seed"),
        ({"world_template": "fantasy_world", "settings": {"seed": "7"}}, "body.settings.seed"),
        ({"world_template": None, "scenario": {"title": "x"}}, "body.world_template"),
        ({"world_template": "fantasy_world", "settings": {"llm": "gpt-9"}}, "body.settings.llm"),
        ({"world_template": "fantasy_world", "bogus": 1}, "body.bogus"),
        (
            {
                "scenario": {
                    "title": "T",
                    "locations": [{"id": "a", "name": "A"}],
                    "personas": [{"id": "p", "name": "P", "location": "nowhere", "traits": {"courage": 2}}],
                }
            },
            "body.scenario.personas",
        ),
    ],
)
def test_bad_session_bodies_name_the_field(alice, body, path):
    got = assert_problem(alice.post("/api/v1/sessions", json=body), 422)
    assert any(e["path"].startswith(path) for e in got["errors"]), got


def test_bad_input_on_every_route_is_a_422_naming_the_field(alice, story):
    base = f"/api/v1/sessions/{story['id']}"
    cases = [
        (
            "POST",
            f"{base}/turns",
            {"agent_actions": {"hero_001": {"action_type": "fly"}}},
            "body.agent_actions.hero_001.action_type",
        ),
        ("POST", f"{base}/turns", {"agent_actions": {"nobody": REST}}, "body.agent_actions.nobody"),
        ("POST", f"{base}/turns", {"world_events": [{"description": ""}]}, "body.world_events[0].description"),
        (
            "POST",
            f"{base}/turns",
            {"world_events": [{"description": "x", "location": "mars"}]},
            "body.world_events[0].location",
        ),
        ("GET", f"{base}/turns?limit=0", None, "query.limit"),
        ("GET", "/api/v1/sessions?offset=-1", None, "query.offset"),
        ("POST", f"{base}/fork", {"at_turn": -1}, "body.at_turn"),
        ("PUT", f"{base}/agents/hero_001", {"parameters": {"courage": 7}}, "body"),
        ("PUT", f"{base}/agents/hero_001/player", {"username": "no-such-user-xyz"}, "body.username"),
        ("POST", f"{base}/agents/hero_001/actions", {"action_type": "rest", "extra": 1}, "body.extra"),
        ("GET", f"{base}/narrative?format=pdf", None, "query.format"),
        ("GET", f"{base}/narrative?pov=not%20an%20id!", None, "query.pov"),
        ("GET", f"{base}/agents/hero_001/beliefs?limit=100000", None, "query.limit"),
    ]
    for method, path, body, where in cases:
        got = assert_problem(alice.request(method, path, json=body), 422)
        assert any(e["path"].startswith(where) for e in got["errors"]), (method, path, got)
    not_json = alice.post(f"{base}/turns", content=b"{not json", headers={"content-type": "application/json"})
    assert_problem(not_json, 422)
    too_big = alice.post("/api/v1/sessions", content=b"x" * (2 << 20), headers={"content-type": "application/json"})
    assert_problem(too_big, 413)
    assert alice.get(base).json()["turn"] == 2  # none of it played a turn


def test_queued_action_that_no_longer_fits_is_dropped_and_reported(alice):
    sid = alice.new_session()["id"]
    base = f"/api/v1/sessions/{sid}"
    assert (
        alice.post(
            f"{base}/agents/hero_001/actions", json={"action_type": "move", "target": "eastern_tower"}
        ).status_code
        == 202
    )
    turn = alice.post(f"{base}/turns", json={}).json()
    assert turn["player_actions"] == [] and turn["dropped_actions"][0]["agent_id"] == "hero_001"
    assert turn["turn"] == 1
    alice.delete(base)


def test_concurrent_turn_requests_on_one_session_queue_instead_of_conflicting(alice):
    from concurrent.futures import ThreadPoolExecutor

    sid = alice.new_session(session_name="busy")["id"]
    with ThreadPoolExecutor(6) as pool:
        replies = list(pool.map(lambda _: alice.post(f"/api/v1/sessions/{sid}/turns", json={}), range(6)))
    assert [r.status_code for r in replies] == [200] * 6, [r.text for r in replies if r.status_code != 200]
    assert sorted(r.json()["turn"] for r in replies) == [1, 2, 3, 4, 5, 6]
    assert alice.get(f"/api/v1/sessions/{sid}").json()["turn"] == 6


def test_a_story_that_reaches_its_main_goals_is_reported_finished(alice):
    s = alice.new_session(scenario=short_tale())
    assert s["status"] == "active"
    base = f"/api/v1/sessions/{s['id']}"
    alice.post(f"{base}/turns", json={"agent_actions": {"ann": {"action_type": "speak", "target": "bo"}}})
    assert alice.get(base).json()["status"] == "finished"


def test_a_user_at_the_session_limit_gets_409_and_nothing_is_made(serve_server):
    from serve_checks import Api

    dana = Api(serve_server, *serve_server.create_user("dana"))  # her own count, whatever ran before
    small = {"world_template": "synthetic", "agent_count": 3}
    made = [dana.new_session(**small)["id"] for _ in range(10)]  # the test app's max_sessions_per_user
    try:
        r = dana.post("/api/v1/sessions", json=small)
        assert r.status_code == 409 and r.json()["type"].endswith("/session-limit"), r.text
        assert "you already own 10 sessions" in r.json()["detail"]
        assert dana.get("/api/v1/sessions").json()["total"] == 10
        dana.delete(f"/api/v1/sessions/{made.pop()}")
        made.append(dana.new_session(**small)["id"])  # room again
    finally:
        for sid in made:
            dana.delete(f"/api/v1/sessions/{sid}")
