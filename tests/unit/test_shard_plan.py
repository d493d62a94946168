"""How a session's personas are spread over Ray shards (a pure function of ids and counts)."""

from __future__ import annotations

from novel_engine.config import SessionSettings
from novel_engine.runtime.sharding import plan_shards, waits_on_model


def test_a_small_cast_deciding_through_a_model_is_packed_and_its_beliefs_stay_in_the_director():
    """Offline, a small cast gets an actor per persona; deciding through a language model, its
    turns wait on the API, so it is packed into ``max_shards`` shards like a large cast (an actor
    per persona would only add calls and processes), and the director still holds its beliefs."""
    ids = [f"p{i:02d}" for i in range(16)]
    offline = plan_shards(ids, None, 2)
    assert [len(s) for s in offline.persona_shards] == [1] * 16 and offline.belief_shards == ()
    packed = plan_shards(ids, None, 2, waits_on_model=True)
    assert 1 <= len(packed.persona_shards) <= 2
    assert sorted(p for s in packed.persona_shards for p in s) == ids
    assert packed.belief_shards == ()
    assert plan_shards(ids, 1, 2, waits_on_model=True).persona_shards == offline.persona_shards  # as asked
    assert waits_on_model(SessionSettings(llm="gemini")) and not waits_on_model(SessionSettings())
