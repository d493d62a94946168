"""The LanguageModel wrappers: retries, circuit breaker, limits, cache, metering, failure policy, replay."""

from __future__ import annotations

import asyncio
import random

import pytest

from novel_engine.api import Engine
from novel_engine.errors import (
    CircuitOpenError,
    ConfigError,
    ModelError,
    ModelFailedError,
    ModelTransientError,
    ReplayMissError,
)
from novel_engine.llm.accounting import CachedModel, MeteredModel, UsageSink, usage_metrics
from novel_engine.llm.factory import build_model
from novel_engine.llm.limits import LocalLimiter, Quota, RateLimitedModel
from novel_engine.llm.offline import OfflineModel
from novel_engine.llm.port import LanguageModel, ModelRequest, ModelResponse
from novel_engine.llm.recording import MemoryCallLog, RecordingModel
from novel_engine.llm.resilience import CircuitBreaker, FailurePolicy, RetryingModel, backoff_delay
from novel_engine.llm.settings import LLMOptions, api_key
from novel_engine.llm.transport import parse_retry_after


class Flaky(LanguageModel):
    """Fails with the given errors first, then answers like the offline model."""

    name = "flaky"

    def __init__(self, errors=()) -> None:
        self.errors = list(errors)
        self.calls = 0
        self.offline = OfflineModel()

    async def complete(self, request):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        r = self.offline.answer(request)
        return ModelResponse(text=r.text, model=self.name, parsed=r.parsed, input_tokens=100, output_tokens=10)


class Gated(LanguageModel):
    """Every call waits for the gate; counts how many wait at once."""

    name = "gated"

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.in_flight = self.peak = 0

    async def complete(self, request):
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await self.gate.wait()
            return ModelResponse(text="ok", model=self.name)
        finally:
            self.in_flight -= 1


def _req(agent: str = "a", turn: int = 1) -> ModelRequest:
    from novel_engine.llm.port import NarrationInput

    inp = NarrationInput(
        turn=turn,
        title=agent,
        style="noir",
        verbosity=0.5,
        focus=("action",),
        events=(),
        characters={},
        locations={},
        tension=0.0,
    )
    return ModelRequest(purpose="narrate", context=inp, schema=None, seed=1, turn=turn, agent=agent)


def _transient(retry_after=None, status=429):
    return ModelTransientError("busy", status=status, retry_after=retry_after)


def test_retry_after_parsing():
    assert parse_retry_after("2") == 2.0 and parse_retry_after("0.25") == 0.25
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == pytest.approx(10.0)


def test_retries_honour_retry_after_then_succeed():
    waits: list[float] = []

    async def sleep(s):
        waits.append(s)

    inner = Flaky([_transient(1.5), _transient(None, 503)])
    model = RetryingModel(inner, max_retries=3, backoff_s=0.2, max_backoff_s=1.0, sleep=sleep)
    assert asyncio.run(model.complete(_req())).text
    assert inner.calls == 3 and model.retries == 2
    assert 1.5 <= waits[0] <= 1.5 + 0.2 and 0.0 <= waits[1] <= 0.4  # Retry-After is a floor; then backoff 2 x 0.2


def test_retries_give_up_and_do_not_retry_final_errors():
    async def sleep(s):
        pass

    inner = Flaky([_transient()] * 5)
    with pytest.raises(ModelTransientError, match="gave up after 3 attempts"):
        asyncio.run(RetryingModel(inner, max_retries=2, sleep=sleep).complete(_req()))
    assert inner.calls == 3
    bad_key = Flaky([ModelError("HTTP 400: API key not valid", status=400)])
    with pytest.raises(ModelError, match="API key"):
        asyncio.run(RetryingModel(bad_key, max_retries=5, sleep=sleep).complete(_req()))
    assert bad_key.calls == 1


def test_backoff_is_exponential_jittered_and_capped():
    rng = random.Random(1)
    for attempt in range(1, 10):
        d = backoff_delay(attempt, 0.5, 4.0, None, rng)
        assert 0.0 <= d <= min(4.0, 0.5 * 2 ** (attempt - 1))
    assert backoff_delay(1, 0.5, 4.0, 30.0, rng) >= 30.0  # a long Retry-After beats the cap


def test_circuit_breaker_opens_fails_fast_and_recovers():
    now = [0.0]
    inner = Flaky([ModelError("down")] * 3)
    breaker = CircuitBreaker(inner, failures=3, cooldown_s=10.0, clock=lambda: now[0])
    for _ in range(3):
        with pytest.raises(ModelError):
            asyncio.run(breaker.complete(_req()))
    assert breaker.state == "open"
    with pytest.raises(CircuitOpenError):
        asyncio.run(breaker.complete(_req()))
    assert inner.calls == 3  # the open breaker did not call
    now[0] = 11.0
    assert breaker.state == "half-open"
    assert asyncio.run(breaker.complete(_req())).text  # the trial call succeeds: closed again
    assert breaker.state == "closed"


def test_local_limiter_caps_concurrent_calls():
    async def main():
        inner = Gated()
        model = RateLimitedModel(inner, LocalLimiter(3))
        tasks = [asyncio.create_task(model.complete(_req(str(i)))) for i in range(10)]
        for _ in range(20):
            await asyncio.sleep(0)
        assert inner.in_flight == 3
        inner.gate.set()
        await asyncio.gather(*tasks)
        return inner.peak

    assert asyncio.run(main()) == 3


def test_quota_buckets_for_requests_and_tokens():
    now = [0.0]
    q = Quota(100, requests_per_minute=2, tokens_per_minute=1000, clock=lambda: now[0])
    assert q.try_take(100) == 0.0 and q.try_take(100) == 0.0
    assert q.try_take(100) == pytest.approx(30.0)  # the third request of the minute waits for a refill
    now[0] = 30.0
    assert q.try_take(100) == 0.0
    q.give_back(correction=+700)  # the calls cost more tokens than estimated
    now[0] = 60.0
    wait = q.try_take(900)
    assert wait is not None and wait > 0.0  # the token bucket is short now
    full = Quota(1, clock=lambda: 0.0)
    assert full.try_take(1) == 0.0 and full.try_take(1) is None  # only the cap stands in the way


def test_cache_answers_identical_requests_once():
    inner = Flaky()
    cached = CachedModel(inner)
    asyncio.run(cached.complete(_req("a")))
    asyncio.run(cached.complete(_req("a")))
    asyncio.run(cached.complete(_req("b")))
    assert inner.calls == 2 and cached.hits == 1


def test_metering_counts_tokens_and_cost():
    tokens = usage_metrics()["tokens"].labels(model="flaky", direction="input")
    before = tokens._value.get()
    metered = MeteredModel(Flaky([ModelError("x")]), "sess-meter", price_input_per_mtok=1.0, price_output_per_mtok=2.0)
    with pytest.raises(ModelError):
        asyncio.run(metered.complete(_req()))
    asyncio.run(metered.complete(_req()))
    u = metered.usage()
    assert (u["calls"], u["failures"], u["input_tokens"], u["output_tokens"]) == (2, 1, 100, 10)
    assert u["cost_usd"] == pytest.approx((100 * 1.0 + 10 * 2.0) / 1e6)
    assert tokens._value.get() - before == 100


def test_failure_policy_fail_stops_the_turn_and_fallback_flags_it():
    broken = Flaky([ModelError("quota exhausted")] * 100)
    with pytest.raises(ModelFailedError, match="on_model_failure is 'fail'"):
        Engine(model=FailurePolicy(broken, "fail")).create_session("fantasy_world", seed=2).step()
    report = (
        Engine(model=FailurePolicy(Flaky([ModelError("quota exhausted")] * 100), "fallback"))
        .create_session("fantasy_world", seed=2)
        .step()
    )
    flagged = [e for e in report.events if "fallback" in e.flags]
    assert flagged and all("quota exhausted" in e.data["fallback_reason"] for e in flagged)


def test_recording_then_replay_gives_the_same_story_without_calls():
    log = MemoryCallLog()
    live = Flaky([ModelError("one failure")])
    s1 = Engine(model=RecordingModel(live, log, model_id="m")).create_session("fantasy_world", seed=5)
    r1 = s1.run(2)
    assert log.records and any("error" in r for r in log.records)
    assert log.batches <= 2 * 3  # batched: not one write per call
    replay = RecordingModel(None, log, model_id="m", replay=True)
    s2 = Engine(model=replay).create_session("fantasy_world", seed=5)
    r2 = s2.run(2)
    assert s2.narrative() == s1.narrative() and replay.replayed == live.calls
    assert [e.to_dict() for r in r2 for e in r.events] == [e.to_dict() for r in r1 for e in r.events]
    with pytest.raises(ReplayMissError):
        asyncio.run(RecordingModel(None, MemoryCallLog(), model_id="m", replay=True).complete(_req()))
    # a replay that diverges (here: another story) stops the turn instead of quietly falling back
    diverged = Engine(model=FailurePolicy(RecordingModel(None, log, model_id="m", replay=True), "fallback"))
    with pytest.raises(ReplayMissError, match="diverged"):
        diverged.create_session("noir_city", seed=5).step()


def test_keys_are_checked_when_the_model_is_built():
    with pytest.raises(ConfigError, match="GEMINI_API_KEY or GOOGLE_API_KEY"):
        build_model("gemini", LLMOptions(), environ={})
    assert api_key("gemini", {"GOOGLE_API_KEY": "g"}) == "g"
    with pytest.raises(ConfigError, match="base_url"):
        build_model("openai", LLMOptions(), environ={})
    with pytest.raises(ConfigError, match="state store"):
        build_model("gemini", LLMOptions(replay_of="abc"), environ={})
    assert isinstance(build_model("offline"), OfflineModel)


def test_scenario_llm_is_used_unless_the_session_says_otherwise(monkeypatch):
    from novel_engine.scenarios import load_scenario

    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    data = load_scenario("fantasy_world").model_dump(mode="json")
    data["llm"] = "gemini"
    with pytest.raises(ConfigError, match="GEMINI_API_KEY"):
        Engine().create_session(data)
    session = Engine().create_session(data, llm="offline")
    assert session.settings.llm == "offline" and session.step().prose


def test_sessions_share_a_quota_by_name():
    from novel_engine.llm.factory import quota_name

    assert quota_name("gemini", LLMOptions()) == "gemini:gemini-2.5-flash"
    assert quota_name("openai", LLMOptions(model="llama3.1")) == "openai:llama3.1"
    # sessions with their own limits name their own quota (the same name shares one limiter)
    assert quota_name("gemini", LLMOptions(quota="story-api")) == "story-api"
    with pytest.raises(ValueError):
        LLMOptions(quota="no spaces/or slashes")


class _Sink(UsageSink):
    def __init__(self) -> None:
        self.admitted_after: list[float] = []

    def admitted(self, model: str, waited_s: float) -> None:
        self.admitted_after.append(waited_s)


def test_the_quota_wait_of_every_call_is_counted():
    """Saturation shows in the metrics: with room for one call at a time, the second waits for the first."""
    inner, sink = Gated(), _Sink()
    limited = RateLimitedModel(inner, LocalLimiter(1), sink=sink)

    async def main() -> None:
        first = asyncio.ensure_future(limited.complete(_req("a")))
        second = asyncio.ensure_future(limited.complete(_req("b")))
        await asyncio.sleep(0.2)  # the second is queued behind the first meanwhile
        inner.gate.set()
        await asyncio.gather(first, second)

    asyncio.run(main())
    assert len(sink.admitted_after) == 2 and min(sink.admitted_after) < 0.1 <= max(sink.admitted_after)
    waited = usage_metrics()["waited"].labels(model="gated")
    before = waited._value.get()
    UsageSink().admitted("gated", 1.5)  # the default sink: Prometheus counters by model only
    assert waited._value.get() - before == 1.5
