"""The arithmetic of ``bench load --chaos``: the fault list and schedule, which actor a fault kills,
answers sorted by phase, and the verdict (no error but 429/503 with Retry-After, nothing lost,
doubled or missed). A 503 from the API always says when to come back."""

from __future__ import annotations

import pytest

from novel_engine.errors import ConfigError, StoreError
from serve_app.bench_chaos import chaos_verdict, phases
from serve_app.chaos import FAULTS, parse_faults, plan, session_actor_names
from serve_app.problems import from_engine_error


def test_faults_parse_in_the_order_given_and_all_means_every_fault():
    assert parse_faults("all") == parse_faults("") == list(FAULTS)
    assert parse_faults("server, redis") == ["server", "redis"]
    with pytest.raises(ConfigError, match="unknown fault.*disk"):
        parse_faults("redis,disk")


def test_faults_are_spread_evenly_with_quiet_stretches_before_and_after():
    assert plan(["redis", "postgres", "server"], 100) == [(25.0, "redis"), (50.0, "postgres"), (75.0, "server")]
    assert plan([], 100) == []


def test_the_actor_fault_picks_only_that_sessions_actors_of_that_role():
    names = ["ne:s1:persona:1", "ne:s1:persona:0", "ne:s1:director", "ne:s10:persona:0", "ne:s2:persona:0", "other"]
    assert session_actor_names(names, "s1", "persona") == ["ne:s1:persona:0", "ne:s1:persona:1"]
    assert session_actor_names(names, "s1", "director") == ["ne:s1:director"]
    assert session_actor_names(names, "s1", "host") == []


def test_the_actor_fault_on_a_hosted_session_picks_its_host():
    from novel_engine.runtime.residency import host_name, host_of

    hosts = [host_name("serve", i) for i in range(3)]
    names = [*hosts, "ne:other:persona:0", "other"]
    for sid in ("s1", "s2", "a-long-session-id"):
        assert session_actor_names(names, sid, "persona") == [host_name("serve", host_of(sid, 3))]
    assert session_actor_names(["other"], "s1", "persona") == []  # no host pool, no own actors


def test_answers_are_sorted_into_phases_around_the_faults():
    faults = [{"at": 100.0, "back": 105.0}, {"at": 200.0, "back": 230.0}]
    timeline = [
        (50.0, "turn", "200"),
        (101.0, "turn", "503"),
        (114.0, "get", "200"),  # within the settle time after the first fault
        (150.0, "turn", "200"),
        (229.0, "ws", "connect: OSError"),
        (300.0, "turn", "200"),
    ]
    out = phases(timeline, faults, settle_s=10.0)
    assert out["before"] == {"turn": {"200": 1}}
    assert out["during"] == {"get": {"200": 1}, "turn": {"503": 1}, "ws": {"connect: OSError": 1}}
    assert out["between"] == {"turn": {"200": 1}}
    assert out["after"] == {"turn": {"200": 1}}
    assert phases(timeline[:1], [])["before"] == {"turn": {"200": 1}}


def _figures(statuses, gaps=(), missed=0):
    return {"statuses": statuses, "subscribers": {"gaps": list(gaps)}, "ws_missed": missed}


CLEAN = {"ok": True, "missing": [], "stored_twice": [], "answered_twice": []}


def test_the_verdict_allows_429_503_with_retry_after_and_no_answer_only():
    fine = {"turn": {"200": 5, "503": 2, "429": 1, "connection: ClientConnectorError": 3}, "ws": {"delivered": 5}}
    assert chaos_verdict(_figures(fine), CLEAN) == {
        "ok": True,
        "bad_statuses": {},
        "lost": 0,
        "doubled": 0,
        "subscriber_gaps": 0,
        "ws_missed": 0,
    }
    bad = {"turn": {"200": 5, "500": 1, "503 no Retry-After": 1}, "get": {"502": 1}}
    v = chaos_verdict(_figures(bad), CLEAN)
    assert not v["ok"] and v["bad_statuses"] == {"turn": {"500": 1, "503 no Retry-After": 1}, "get": {"502": 1}}
    assert not chaos_verdict(_figures({}, gaps=[["s", 3, 5]]), CLEAN)["ok"]
    assert not chaos_verdict(_figures({}, missed=1), CLEAN)["ok"]
    lost = {**CLEAN, "ok": False, "missing": [["s", 2]], "answered_twice": [["s", 3]]}
    assert chaos_verdict(_figures({}), lost)["lost"] == 1 and chaos_verdict(_figures({}), lost)["doubled"] == 1


def test_a_store_outage_is_a_503_that_says_when_to_come_back():
    p = from_engine_error(StoreError("PostgreSQL error: ConnectionDoesNotExistError", backend="postgresql"))
    assert p.status == 503 and p.headers["Retry-After"].isdigit()
    assert "PostgreSQL" not in p.detail  # no internals in the answer


def test_an_actor_error_re_raised_by_its_caller_is_still_an_outage():
    from serve_app.problems import ray_unavailable

    died = type("ActorDiedError", (Exception,), {})  # Ray's classes, by name (no Ray import here)
    task_error = type("RayTaskError", (Exception,), {})
    wrapped = type("RayTaskError(ActorDiedError)", (task_error, died), {})  # what Ray makes of it
    assert ray_unavailable(died()) and ray_unavailable(wrapped())
    cause = RuntimeError("while playing the turn")
    cause.__cause__ = died()
    assert ray_unavailable(cause)
    assert not ray_unavailable(task_error()) and not ray_unavailable(ValueError())


def test_a_socket_refusal_that_can_be_retried_says_when():
    import json
    from types import SimpleNamespace

    from serve_app.ws import _Socket

    sock = _Socket(None, SimpleNamespace(config=SimpleNamespace(ws_queue_size=8)))
    sock.problem(from_engine_error(StoreError("PostgreSQL is restarting", backend="postgresql")), "subscribe")
    frame = json.loads(sock.outbox.queue.get_nowait().text)
    assert (frame["type"], frame["status"], frame["request"]) == ("error", 503, "subscribe")
    assert frame["retry_after"] >= 1
