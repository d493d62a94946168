"""Ray sessions record their model calls in the session's store, and replay them with no API call.

The calls happen inside the persona shards and the chronicler actor; the driver stores each
turn's records with the turn, and ships a replay the recorded calls of each turn.
"""

from __future__ import annotations

import asyncio

import pytest

from novel_engine.api import Engine
from novel_engine.errors import ReplayMissError
from novel_engine.llm.recording import StoreCallLog
from novel_engine.storage import StoreSettings
from novel_engine.testing.fake_llm import FakeGeminiServer

KEY = "ray-replay-key"


@pytest.fixture
def gemini_env(monkeypatch):
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.delenv("NOVEL_ENGINE_REDIS_URL", raising=False)
    monkeypatch.setenv("GEMINI_API_KEY", KEY)


def _store(tmp_path, **extra) -> StoreSettings:
    return StoreSettings(
        database_url=f"sqlite:///{tmp_path / 'state.db'}", object_store_url=(tmp_path / "objects").as_uri(), **extra
    )


def _options(server, model: str) -> dict:
    # a model name of its own per test, so the cluster-wide quota actor belongs to that test only
    return {"base_url": server.url, "model": model, "cache": False, "timeout_s": 5.0, "gemini_transport": "rest"}


def _events(reports) -> list[dict]:
    return [e.to_dict() for r in reports for e in r.events]


def test_ray_session_records_its_calls_and_replays_them_on_ray_and_local(ray_session, gemini_env, tmp_path):
    store = _store(tmp_path)
    with FakeGeminiServer(api_key=KEY) as server:
        options = _options(server, "gemini-ray-replay-test")
        with Engine("ray", store=store) as engine:
            original = engine.create_session(
                "fantasy_world", seed=5, llm="gemini", llm_options=options, persona_shards=2
            )
            try:
                first = original.run(2)
                story = original.narrative()
            finally:
                original.close()
            calls = server.calls
            records = asyncio.run(StoreCallLog(engine._runner, original.id).load())
            assert not any("fallback" in e.flags for r in first for e in r.events)
            # every API call of every turn, from both shards and the chronicler, is in the store
            assert sorted({r["turn"] for r in records}) == [1, 2]
            assert len({r["key"] for r in records}) == calls
            assert sum(r["agent"] == "chronicler" for r in records) == 2
            assert all(r["request"]["user"] and r["response"]["text"] for r in records)

            replay = engine.create_session(
                "fantasy_world",
                seed=5,
                llm="gemini",
                persona_shards=3,
                llm_options={**options, "replay_of": original.id},
            )
            try:
                again = replay.run(2)
                assert replay.narrative() == story
                assert _events(again) == _events(first)
                assert server.calls == calls  # every answer came from the records
                with pytest.raises(ReplayMissError):  # turn 3 was never recorded: the turn stops
                    replay.step()
            finally:
                replay.close()
        assert server.calls == calls

        with Engine("local", store=store) as local:  # the same records replay in process too
            replay = local.create_session(
                "fantasy_world", seed=5, llm="gemini", llm_options={**options, "replay_of": original.id}
            )
            again = replay.run(2)
            assert replay.narrative() == story and _events(again) == _events(first)
        assert server.calls == calls


def test_a_resumed_or_forked_ray_session_rebuilds_its_unsaved_turns_from_the_records(ray_session, gemini_env, tmp_path):
    # no checkpoint after turn 0: resuming in new actors rebuilds turns 1 and 2 in the driver,
    # which only the stored records make exact (a real model would answer differently)
    store = _store(tmp_path, checkpoint_every=5)
    with FakeGeminiServer(api_key=KEY) as server:
        options = _options(server, "gemini-ray-replay-test")
        with Engine("ray", store=store) as engine:
            session = engine.create_session(
                "fantasy_world", seed=6, llm="gemini", llm_options=options, persona_shards=2
            )
            sid = session.id
            session.run(2)
            story, calls = session.narrative(), server.calls
            fork = session.fork(2)  # built from the store too: its turns come from the records
            try:
                assert fork.turn == 2 and fork.narrative() == story and server.calls == calls
            finally:
                fork.close()
            session.close()  # its actors are gone: resume builds new ones from the store
            resumed = engine.resume(sid)
            try:
                assert resumed.turn == 2 and resumed.narrative() == story and server.calls == calls
                resumed.step()
                assert resumed.turn == 3 and server.calls > calls
            finally:
                resumed.close()


def test_a_turn_whose_call_records_cannot_be_stored_is_not_committed(ray_session, gemini_env, tmp_path, monkeypatch):
    from novel_engine.errors import StoreError

    store = _store(tmp_path)
    with FakeGeminiServer(api_key=KEY) as server:
        options = _options(server, "gemini-ray-records-test")
        with Engine("ray", store=store) as engine:
            session = engine.create_session("noir_city", seed=4, llm="gemini", llm_options=options)
            try:
                session.step()

                async def refuse(*_args, **_kwargs):
                    raise StoreError("the object store is down")

                monkeypatch.setattr(StoreCallLog, "put_turn", refuse)
                with pytest.raises(StoreError, match="object store is down"):
                    session.step()
                assert engine._runner.call(lambda st: st.get_session(session.id, fresh=True)).turn == 1
                monkeypatch.undo()
                session.step()  # the same turn again, stored with its records this time
                assert engine._runner.call(lambda st: st.get_session(session.id, fresh=True)).turn == 2
                turns = asyncio.run(StoreCallLog(engine._runner, session.id).load_turns())
                assert sorted(turns) == [1, 2] and all(turns[t] for t in turns)
            finally:
                session.close()


def test_a_hosted_session_with_a_language_model_records_its_calls_and_comes_back_without_calling(
    ray_session, gemini_env, tmp_path
):
    """A small Gemini cast shares a session host: the host's copy of the model hands each turn's call
    records back with the turn, so the session comes back after eviction by replaying them (no API
    call for the turns already played) and tells the story a session with actors of its own tells."""
    import ray

    from novel_engine.runtime.residency import HostSettings

    with FakeGeminiServer(api_key=KEY) as server:
        options = _options(server, "gemini-hosted-test")
        hosts = HostSettings(hosts=1, max_personas=32, pool="llm-hosted")
        with Engine("ray", store=_store(tmp_path), hosts=hosts) as engine:
            hosted = engine.create_session("fantasy_world", seed=5, llm="gemini", llm_options=options)
            apart = engine.create_session(
                "fantasy_world", seed=5, llm="gemini", llm_options=options, placement="actors"
            )
            try:
                assert type(hosted._rt).__name__ == "HostedRuntime"
                assert type(apart._rt).__name__ == "RayRuntime"
                played = hosted.run(2)
                assert not any("fallback" in e.flags for r in played for e in r.events)
                records = asyncio.run(StoreCallLog(engine._runner, hosted.id).load())
                assert sorted({r["turn"] for r in records}) == [1, 2]
                assert sum(r["agent"] == "chronicler" for r in records) == 2
                assert ray.get(hosted._rt.host.evict.remote([hosted.id])) == [hosted.id]
                before = server.calls
                hosted.step()  # rebuilt from the store (turns 1-2 from their records), then turn 3
                hosted_third = server.calls - before

                apart.run(2)
                before = server.calls
                apart.step()
                assert hosted_third == server.calls - before > 0  # turn 3's calls only, nothing replayed
                assert hosted.narrative() == apart.narrative()
            finally:
                hosted.close()
                apart.close()
