"""Checkpoints: a runtime restored mid-story continues byte for byte like one that never stopped."""

from __future__ import annotations

import asyncio
import json

import pytest

from novel_engine.config import SessionSettings
from novel_engine.core.scenario import Scenario
from novel_engine.errors import CheckpointError
from novel_engine.llm.offline import OfflineModel
from novel_engine.runtime.checkpoint import decode, encode
from novel_engine.runtime.local import LocalRuntime
from novel_engine.runtime.rebuild import reseed
from novel_engine.scenarios import load_scenario
from novel_engine.scenarios.synthetic import synthetic


def capture(rt: LocalRuntime) -> dict:
    """The runtime's whole state, its scenario and reports included."""
    state = asyncio.run(rt.pipeline.state(history=True, scenario=True))
    return state


def restore(state: dict, model, seed: int | None = None) -> LocalRuntime:
    """A new runtime continuing ``state`` (``seed``: a fork's new seed)."""
    if seed is not None:
        state = reseed(state, seed)
    settings = SessionSettings.model_validate(state["settings"])
    rt = LocalRuntime(Scenario.model_validate(state["scenario"]), settings, model)
    asyncio.run(rt.restore(state))
    return rt


def _play(rt: LocalRuntime, turns: int) -> None:
    async def go():
        for _ in range(turns):
            await rt.step()

    asyncio.run(go())


def _story(rt: LocalRuntime) -> str:
    return json.dumps([r.to_dict() for r in rt.pipeline.history], sort_keys=True)


@pytest.mark.parametrize("scenario", ["fantasy_world", "noir_city", "space_station", "synthetic"])
def test_restore_continues_the_same_story(scenario):
    sc = synthetic(personas=120, seed=3) if scenario == "synthetic" else load_scenario(scenario)
    settings = SessionSettings(seed=7)
    straight = LocalRuntime(sc, settings, OfflineModel())
    _play(straight, 8)

    first = LocalRuntime(sc, settings, OfflineModel())
    _play(first, 4)
    blob = encode(capture(first))
    resumed = restore(decode(blob), OfflineModel())
    assert resumed.pipeline.turn == 4
    _play(resumed, 4)
    assert _story(resumed) == _story(straight)
    assert resumed.narrator.chronicler.export_markdown() == straight.narrator.chronicler.export_markdown()
    assert encode(capture(resumed)) == encode(capture(straight))


def test_restored_runtime_shares_no_state_with_the_original():
    sc = load_scenario("fantasy_world")
    rt = LocalRuntime(sc, SessionSettings(seed=1), OfflineModel())
    _play(rt, 2)
    twin = restore(capture(rt), OfflineModel())
    before = encode(capture(rt))
    _play(twin, 3)
    assert encode(capture(rt)) == before
    assert twin.pipeline.world is not rt.pipeline.world and twin.pipeline.turn == 5 and rt.pipeline.turn == 2


def test_fork_with_another_seed_diverges_but_keeps_the_past():
    sc = load_scenario("fantasy_world")
    rt = LocalRuntime(sc, SessionSettings(seed=1), OfflineModel())
    _play(rt, 3)
    state = capture(rt)
    same, other = restore(state, OfflineModel()), restore(state, OfflineModel(), seed=99)
    assert other.seed == 99 and other.narrator.chronicler.seed == 99
    _play(same, 3)
    _play(other, 3)
    assert [r.prose for r in other.pipeline.history[:3]] == [r.prose for r in rt.pipeline.history]
    assert [r.prose for r in other.pipeline.history[3:]] != [r.prose for r in same.pipeline.history[3:]]


def test_bad_checkpoints_are_refused_with_a_clear_error():
    rt = LocalRuntime(load_scenario("noir_city"), SessionSettings(seed=1), OfflineModel())
    with pytest.raises(CheckpointError, match="format"):
        asyncio.run(rt.restore({"format": 999}))
    with pytest.raises(CheckpointError, match="malformed"):
        asyncio.run(rt.restore({"format": 1, "turn": 0}))
    with pytest.raises(CheckpointError, match="corrupt"):
        decode(b"not a checkpoint")


def test_a_fragment_is_written_as_dataclasses_would_and_read_back_unchanged():
    """``InformationFragment.to_dict`` is written out by hand for speed: it must keep the layout
    (keys and their order, enum values, lists) that checkpoints and event records hold."""
    from dataclasses import asdict

    from novel_engine.core.events import SCHEMA_VERSION, InformationFragment, SourceType, Visibility

    frag = InformationFragment(
        "f1", "the ledger is hidden", SourceType.DOCUMENT, 0.8, "vault", 3, ("ledger", "nico"),
        Visibility.PRIVATE, "nico", "location_of:ledger", "vault", -0.4, 0.9, 1,
    )  # fmt: skip
    expected = {**asdict(frag), "source_type": "document", "visibility": "private", "v": SCHEMA_VERSION}
    expected["subjects"] = ["ledger", "nico"]
    got = frag.to_dict()
    assert list(got) == list(expected) and got == expected
    assert InformationFragment.from_dict(json.loads(json.dumps(got))) == frag


def test_a_new_session_stands_where_the_create_response_says_without_asking():
    """The HTTP create response answers ``NEW_HEAD`` without a call to the session's host: that
    must be what a runtime at turn 0 says of itself."""
    from serve_app.routes_sessions import NEW_HEAD

    rt = LocalRuntime(load_scenario("noir_city"), SessionSettings(seed=3), OfflineModel())
    assert asyncio.run(rt.summary()) == NEW_HEAD


def test_a_new_session_stores_turn_0_as_a_reference_that_resumes_the_same_story(tmp_path):
    """Turn 0 is stored as a reference to the record (scenario, settings, seed), not the whole
    state: resuming from it and playing gives the story of a run that never stopped."""
    from novel_engine.api import Engine
    from novel_engine.runtime.checkpoint import is_genesis

    db = f"sqlite:///{tmp_path / 'genesis.db'}"
    with Engine(store=db) as engine:
        engine.create_session("fantasy_world", seed=5, session_id="gen")
        turn, blob = engine._runner.call(lambda st: st.checkpoint("gen", 0))
    assert turn == 0 and is_genesis(decode(blob)) and len(blob) < 100
    with Engine(store=db) as engine:
        resumed = engine.resume("gen")
        resumed.run(3)
        told = resumed.narrative(), [e.to_dict() for e in resumed.events()]
    fresh = Engine().create_session("fantasy_world", seed=5)
    fresh.run(3)
    assert told == (fresh.narrative(), [e.to_dict() for e in fresh.events()])
