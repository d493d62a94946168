"""What the web app needs from the API: the catalog of choices, uploaded YAML scenarios with their
errors by field, and ``/`` serving the built app or, without a build, a page saying how to make it."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from serve_checks import assert_problem

from novel_engine.scenarios import builtin_names
from serve_app.webapp import BUILD_HINT, install_webapp

GOOD_YAML = """\
title: Two in a hall
locations:
  - {id: hall, name: Hall}
personas:
  - {id: ada, name: Ada, location: hall, traits: {courage: 0.5, intelligence: 0.5, compassion: 0.5, aggressiveness: 0.2, social_tendency: 0.6}}
  - {id: bo, name: Bo, location: hall, traits: {courage: 0.5, intelligence: 0.5, compassion: 0.5, aggressiveness: 0.2, social_tendency: 0.6}}
"""


def test_catalog_lists_the_templates_and_the_models_this_server_offers(alice):
    r = alice.get("/api/v1/sessions/catalog")
    assert r.status_code == 200, r.text
    body = r.json()
    assert [t["name"] for t in body["templates"]] == builtin_names()
    assert all(t["personas"] > 0 and t["title"] for t in body["templates"])
    assert body["llms"] == ["offline", "gemini"]  # the test server's llm_allowed
    assert body["max_agents"] >= 1


def test_catalog_needs_a_caller(serve_server):
    import httpx

    assert_problem(httpx.get(serve_server.url + "/api/v1/sessions/catalog"), 401)


def test_an_uploaded_yaml_scenario_starts_a_session(alice):
    r = alice.post("/api/v1/sessions", json={"scenario_yaml": GOOD_YAML, "settings": {"seed": 3}})
    assert r.status_code == 201, r.text
    s = r.json()
    assert s["title"] == "Two in a hall" and [p["id"] for p in s["personas"]] == ["ada", "bo"]
    assert alice.delete(f"/api/v1/sessions/{s['id']}").status_code == 204


def test_a_broken_yaml_scenario_gets_its_errors_by_field(alice):
    broken = GOOD_YAML.replace("name: Ada, location: hall", "name: Ada, location: moon")
    body = assert_problem(alice.post("/api/v1/sessions", json={"scenario_yaml": broken}), 422)
    paths = [e["path"] for e in body["errors"]]
    assert any(p.startswith("body.scenario.personas") for p in paths), body
    assert "moon" in " ".join(e["message"] for e in body["errors"])
    # bad YAML syntax: the line and column in the detail
    body = assert_problem(alice.post("/api/v1/sessions", json={"scenario_yaml": "title: [unclosed\n"}), 422)
    assert "line" in body["detail"] and "column" in body["detail"], body
    # nesting deep enough to exhaust the parser's recursion: a 422, not a 500
    body = assert_problem(alice.post("/api/v1/sessions", json={"scenario_yaml": "[" * 100_000}), 422)
    assert body["errors"][0]["path"] == "body.scenario_yaml"
    # exactly one source of the world
    body = assert_problem(
        alice.post("/api/v1/sessions", json={"scenario_yaml": GOOD_YAML, "world_template": "fantasy_world"}), 422
    )
    assert "exactly one" in body["detail"]


def test_root_serves_the_built_app_or_says_how_to_build_it(tmp_path: Path, caplog):
    missing = FastAPI()
    assert install_webapp(missing, tmp_path / "nothing-here") is False
    r = TestClient(missing).get("/")
    assert r.status_code == 200 and "make web" in r.text
    assert BUILD_HINT in caplog.text

    built = tmp_path / "webapp"
    (built / "assets").mkdir(parents=True)
    (built / "index.html").write_text("<!doctype html><div id=root></div>")
    (built / "assets" / "app-123.js").write_text("console.log(1)")
    app = FastAPI()
    assert install_webapp(app, built) is True
    c = TestClient(app)
    assert c.get("/").text == "<!doctype html><div id=root></div>"
    assert c.get("/").headers["cache-control"] == "no-cache"
    assert c.get("/assets/app-123.js").text == "console.log(1)"
    assert c.get("/index.html").status_code == 404  # only / and /assets are served


def test_truth_lens_puts_beliefs_beside_the_world_for_the_owner_only(alice, bob, story):
    sid = story["id"]
    agents = {a["id"]: a for a in alice.get(f"/api/v1/sessions/{sid}/agents").json()}
    facts_checked = 0
    for agent_id in agents:
        r = alice.get(f"/api/v1/sessions/{sid}/agents/{agent_id}/truth-lens")
        assert r.status_code == 200, r.text
        lens = r.json()
        beliefs = alice.get(f"/api/v1/sessions/{sid}/agents/{agent_id}/beliefs", params={"limit": 50}).json()["beliefs"]
        assert [(x["key"], x["believed"]) for x in lens["rows"]] == [(b["key"], b["value"]) for b in beliefs]
        for row in lens["rows"]:
            if row["key"].startswith("location_of:"):
                who = row["key"].split(":", 1)[1]
                assert row["checkable"] and row["truth"] == agents[who]["location"]
                assert row["matches"] == (row["believed"] == row["truth"])
                facts_checked += 1
            elif not row["checkable"]:
                assert row["truth"] is None and row["matches"] is None
    assert facts_checked > 0, "two turns gave no belief about anyone's whereabouts"
    some_agent = next(iter(agents))
    assert_problem(bob.get(f"/api/v1/sessions/{sid}/agents/{some_agent}/truth-lens"), 404)


def test_playing_lists_the_agents_granted_to_the_caller(alice, bob, story):
    sid = story["id"]
    agent = story["personas"][0]["id"]
    r = alice.put(f"/api/v1/sessions/{sid}/agents/{agent}/player", json={"username": bob.username})
    assert r.status_code == 200, r.text
    try:
        mine = bob.get("/api/v1/sessions/playing").json()
        assert {"session_id": sid, "session_name": story["name"], "agent_id": agent} in mine
        assert all(p["session_id"] != sid for p in alice.get("/api/v1/sessions/playing").json())
    finally:
        assert alice.delete(f"/api/v1/sessions/{sid}/agents/{agent}/player").status_code == 204
    assert all(p["session_id"] != sid for p in bob.get("/api/v1/sessions/playing").json())


def test_the_sessions_list_gives_each_sessions_head_in_one_answer(alice, story):
    sid = story["id"]
    head = alice.get(f"/api/v1/sessions/{sid}").json()
    fork = alice.post(f"/api/v1/sessions/{sid}/fork", json={"at_turn": 1})
    assert fork.status_code == 201, fork.text
    fid = fork.json()["id"]
    try:
        assert fork.json()["parent"] == {"session_id": sid, "turn": 1}
        assert alice.get(f"/api/v1/sessions/{fid}").json()["parent"] == {"session_id": sid, "turn": 1}
        assert head["parent"] is None
        items = {i["id"]: i for i in alice.get("/api/v1/sessions", params={"limit": 200}).json()["items"]}
        mine = items[sid]
        assert (mine["turn"], mine["tension"], mine["title"], mine["seed"], mine["parent"]) == (
            head["turn"],
            head["tension"],
            head["title"],
            head["seed"],
            None,
        )
        first = alice.get(f"/api/v1/sessions/{sid}/turns", params={"limit": 1}).json()["items"][0]
        forked = items[fid]
        assert forked["parent"] == {"session_id": sid, "turn": 1}
        assert (forked["turn"], forked["tension"], forked["seed"]) == (1, first["tension"], head["seed"])
    finally:
        alice.delete(f"/api/v1/sessions/{fid}")


def test_a_fork_takes_player_actions_for_its_next_turn(alice, story):
    sid = story["id"]
    r = alice.post(
        f"/api/v1/sessions/{sid}/fork",
        json={"at_turn": 1, "agent_actions": {"hero_001": {"action_type": "rest"}}, "session_name": "resting hero"},
    )
    assert r.status_code == 201, r.text
    fork = r.json()
    try:
        assert fork["name"] == "resting hero" and fork["turn"] == 1
        turn = alice.post(f"/api/v1/sessions/{fork['id']}/turns", json={}).json()
        assert turn["turn"] == 2 and turn["player_actions"] == ["hero_001"]
        hero = [e for e in turn["events"] if e["actor"] == "hero_001"]
        assert hero[0]["action_type"] == "rest" and "player" in hero[0]["flags"]
        # the original's turn 2 is untouched by the fork's queued action
        original = alice.get(f"/api/v1/sessions/{sid}/turns", params={"after": 1}).json()["items"][0]
        assert original["player_actions"] == []
    finally:
        alice.delete(f"/api/v1/sessions/{fork['id']}")
    bad = assert_problem(
        alice.post(f"/api/v1/sessions/{sid}/fork", json={"agent_actions": {"nobody": {"action_type": "rest"}}}), 422
    )
    assert bad["errors"][0]["path"] == "body.agent_actions.nobody"
    bad = assert_problem(alice.post(f"/api/v1/sessions/{sid}/fork", json={"seed": -1}), 422)
    assert bad["errors"][0]["path"] == "body.seed"


def test_a_fork_with_a_new_seed_goes_its_own_way(alice, story):
    sid = story["id"]
    r = alice.post(f"/api/v1/sessions/{sid}/fork", json={"at_turn": 1, "seed": 12345})
    assert r.status_code == 201, r.text
    fork = r.json()
    try:
        assert fork["seed"] == 12345 and fork["parent"] == {"session_id": sid, "turn": 1}
        original = alice.get(f"/api/v1/sessions/{sid}/turns").json()["items"]
        forked = alice.get(f"/api/v1/sessions/{fork['id']}/turns").json()["items"]
        assert forked == original[:1]
    finally:
        alice.delete(f"/api/v1/sessions/{fork['id']}")


def test_the_map_shows_the_places_and_who_is_where(alice, bob, story):
    sid = story["id"]
    agents = {a["id"]: a for a in alice.get(f"/api/v1/sessions/{sid}/agents").json()}
    r = alice.get(f"/api/v1/sessions/{sid}/map")
    assert r.status_code == 200, r.text
    m = r.json()
    assert m["turn"] == 2 and m["pov"] is None
    ids = [p["id"] for p in m["places"]]
    assert len(ids) == len(set(ids)) > 1
    assert all(set(p["neighbours"]) <= set(ids) for p in m["places"])
    assert any(p["neighbours"] for p in m["places"])
    where = {o["id"]: p["id"] for p in m["places"] for o in p["occupants"]}
    assert where == {a: agents[a]["location"] for a in agents}
    assert all(o["credence"] is None and o["status"] for p in m["places"] for o in p["occupants"])
    assert_problem(bob.get(f"/api/v1/sessions/{sid}/map"), 404)
    assert_problem(alice.get(f"/api/v1/sessions/{sid}/map", params={"pov": "nobody"}), 404)


def test_a_player_sees_their_personas_map_and_view_and_no_more(alice, bob):
    sid = alice.new_session()["id"]
    base = f"/api/v1/sessions/{sid}"
    try:
        assert alice.put(f"{base}/agents/hero_001/player", json={"username": bob.username}).status_code == 200
        for _ in range(2):
            assert alice.post(f"{base}/turns", json={}).status_code == 200
        agents = {a["id"]: a for a in alice.get(f"{base}/agents").json()}
        beliefs = {
            b["key"]: b for b in alice.get(f"{base}/agents/hero_001/beliefs", params={"limit": 200}).json()["beliefs"]
        }

        r = bob.get(f"{base}/map", params={"pov": "hero_001"})
        assert r.status_code == 200, r.text
        m = r.json()
        assert m["pov"] == "hero_001" and m == alice.get(f"{base}/map", params={"pov": "hero_001"}).json()
        seen = {o["id"]: (p["id"], o) for p in m["places"] for o in p["occupants"]}
        place, me = seen.pop("hero_001")
        assert place == agents["hero_001"]["location"] and me["credence"] is None
        for who, (place, o) in seen.items():  # the others: where hero_001 believes they are
            b = beliefs[f"location_of:{who}"]
            assert (place, o["credence"], o["status"]) == (b["value"], b["credence"], None)
        assert seen, "two turns gave hero_001 no belief about anyone's whereabouts"

        r = bob.get(f"{base}/agents/hero_001/view")
        assert r.status_code == 200, r.text
        v = r.json()
        assert v == alice.get(f"{base}/agents/hero_001/view").json()
        assert (v["location"], v["status"], v["turn"]) == (
            agents["hero_001"]["location"],
            agents["hero_001"]["status"],
            2,
        )
        assert v["goals"] and v["perceptions"] and v["location"] in v["known_places"]
        events = {e["id"]: e for t in alice.get(f"{base}/turns").json()["items"] for e in t["events"]}
        for p in v["perceptions"]:
            assert events[p["event_id"]]["summary"] == p["summary"] and events[p["event_id"]]["turn"] == p["turn"]
        assert [p["turn"] for p in v["perceptions"]] == sorted(p["turn"] for p in v["perceptions"])
        few = bob.get(f"{base}/agents/hero_001/view", params={"limit": 1}).json()["perceptions"]
        assert few == v["perceptions"][-1:]

        assert_problem(bob.get(f"{base}/map"), 403)  # the truth is the owner's
        assert_problem(bob.get(f"{base}/map", params={"pov": "dragon"}), 403)
        assert_problem(bob.get(f"{base}/agents/dragon/view"), 403)
        assert_problem(alice.get(f"{base}/agents/nobody/view"), 404)
    finally:
        alice.delete(base)
