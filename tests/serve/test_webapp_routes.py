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
