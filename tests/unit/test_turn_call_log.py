"""The per-turn call records a Ray actor keeps for its driver (``TurnCallLog``) and a replay's ``learn``."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from novel_engine.errors import ReplayMissError
from novel_engine.llm.offline import OfflineModel
from novel_engine.llm.port import LanguageModel, ModelResponse
from novel_engine.llm.recording import RecordingModel, TurnCallLog, learn_calls, recorder_of, take_calls
from novel_engine.llm.resilience import FailurePolicy
from novel_engine.testing.fake_llm import sample_decision_request


class Counting(LanguageModel):
    name = "counting"

    def __init__(self) -> None:
        self.calls = 0

    async def complete(self, request):
        self.calls += 1
        r = OfflineModel().answer(request)
        return ModelResponse(text=r.text, model=self.name, parsed=r.parsed)


def test_a_turn_keeps_every_record_it_used_until_a_later_turn_is_taken():
    live = Counting()
    model = FailurePolicy(RecordingModel(live, TurnCallLog(), model_id="m"))
    req = sample_decision_request()
    t1, t2 = dataclasses.replace(req, turn=1), dataclasses.replace(req, turn=2)
    asyncio.run(model.complete(t1))
    first = take_calls(model, 1)
    assert [r["turn"] for r in first] == [1] and "response" in first[0]
    # the turn played again (its first results lost): answered from memory, its records still there
    asyncio.run(model.complete(t1))
    assert live.calls == 1 and take_calls(model, 1) == first
    # an answer recorded earlier and used again in turn 2 is filed under turn 2 too
    log = recorder_of(model).log
    log.used(2, first[0])
    asyncio.run(model.complete(t2))
    assert live.calls == 2 and [r["turn"] for r in take_calls(model, 2)] == [1, 2]
    assert take_calls(model, 1) == []  # dropped once a later turn was taken


def test_a_replay_answers_only_from_the_records_it_was_given():
    req = sample_decision_request()
    live = FailurePolicy(RecordingModel(Counting(), TurnCallLog(), model_id="m"))
    asyncio.run(live.complete(req))
    records = take_calls(live, req.turn)
    replay = FailurePolicy(RecordingModel(None, TurnCallLog(), model_id="m", replay=True))
    with pytest.raises(ReplayMissError):
        asyncio.run(replay.complete(req))
    learn_calls(replay, records)
    answer = asyncio.run(replay.complete(req))
    assert answer.text == records[0]["response"]["text"] and recorder_of(replay).replayed == 1
    assert take_calls(replay, req.turn) == []  # a replay records nothing of its own
