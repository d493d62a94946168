"""Which language model a session gets, given where it runs (the engine's hook into ``llm.factory``).

The runtime decides what the factory cannot know: which quota limiter is shared (a Redis token
bucket when Redis is configured, else on Ray the cluster's limiter actor, else one per process)
and where calls are recorded (the engine's state store, when it has one).
"""

from __future__ import annotations

import os
from typing import Any

from novel_engine.config import SessionSettings
from novel_engine.errors import NotFoundError
from novel_engine.llm.factory import build_model, quota_name
from novel_engine.llm.limits import Limiter
from novel_engine.llm.port import LanguageModel
from novel_engine.llm.recording import CallLog, RecordingModel, StoreCallLog, TurnCallLog, recorder_of
from novel_engine.llm.resilience import FailurePolicy

__all__ = ["session_model", "shared_limiter", "stored_settings", "driver_model"]

ENV_REDIS = "NOVEL_ENGINE_REDIS_URL"


def shared_limiter(settings: SessionSettings, runtime: str, runner: Any = None) -> Limiter | None:
    """The limiter every caller of this session's quota shares (None: one per process).

    Redis (the store's ``redis_url`` or ``NOVEL_ENGINE_REDIS_URL``) wins, as it also spans several
    Ray clusters and Serve replicas; on Ray without Redis, the named limiter actor.
    """
    provider = settings.llm or "offline"
    o = settings.llm_options
    name = quota_name(provider, o)
    store_settings = getattr(getattr(runner, "store", None), "settings", None)
    redis_url = getattr(store_settings, "redis_url", None) or os.environ.get(ENV_REDIS)
    if redis_url:
        from novel_engine.llm.redis_limiter import RedisLimiter

        return RedisLimiter(redis_url, name, o.max_concurrency, o.requests_per_minute, o.tokens_per_minute)
    if runtime == "ray":
        from novel_engine.runtime.ray.limiter import cluster_limiter

        return cluster_limiter(name, o.max_concurrency, o.requests_per_minute, o.tokens_per_minute)
    return None


def session_model(
    settings: SessionSettings, session_id: str, *, runtime: str = "local", runner: Any = None
) -> LanguageModel:
    """The model of a new session: offline, or an adapter in its wrappers (see ``llm.factory``).

    Calls are recorded in the store when the session lives in one. On Ray the shards cannot reach
    the store: their recorders keep each turn's records (a ``TurnCallLog``) and the driver stores
    them with the turn (``ray_durable.step``), which also ships a replay its recorded calls.

    Raises:
        ConfigError: a missing API key or base URL, or a replay without a store.
    """
    provider = settings.llm or "offline"
    if provider == "offline":
        return build_model("offline")
    o = settings.llm_options
    local_store = runner if runtime == "local" else None
    call_log: CallLog | None = StoreCallLog(runner, session_id) if local_store is not None else None
    if runtime == "ray" and runner is not None:
        call_log = TurnCallLog()  # one per actor once pickled; the driver collects them
    replay_log = None
    if o.replay_of and runner is not None:
        replay_log = StoreCallLog(runner, o.replay_of) if local_store is not None else TurnCallLog()
    limiter = None if o.replay_of else shared_limiter(settings, runtime, runner)
    sink = None
    if runtime == "ray":  # the calls happen in shard processes: export through Ray's metrics agent
        from novel_engine.runtime.ray.metrics import RayUsageSink

        sink = RayUsageSink()
    return build_model(
        provider,
        o,
        session_id=session_id,
        on_failure=settings.on_model_failure,
        limiter=limiter,
        call_log=call_log,
        replay_log=replay_log,
        usage_sink=sink,
    )


def stored_settings(runner: Any, session_id: str) -> SessionSettings:
    """The settings a stored session was created with (defaults when the store has no such session,
    so the caller's own "no such session" error is the one the user sees).

    A resumed LLM session gets its model back this way, and with it the recorded calls that let
    the turns after the last checkpoint be replayed exactly.
    """
    try:
        head = runner.call(lambda st: st.get_session(session_id))
    except NotFoundError:
        return SessionSettings()
    return SessionSettings.model_validate(head.settings)


async def driver_model(model: LanguageModel | None, runner: Any, session_id: str) -> LanguageModel | None:
    """The model a driver replays a stored Ray session's turns after its last checkpoint with.

    Resuming or recovering rebuilds those turns in the driver (``durable.load``); the Ray model's
    recorder keeps nothing there, so this one answers from the session's stored call records
    (the recorded session's, for a replay) and calls the API only for a request never recorded.
    Any other model is returned as it is.
    """
    rec = recorder_of(model)
    if rec is None or not isinstance(rec.log, TurnCallLog) or runner is None:
        return model
    head = await runner.acall(lambda st: st.get_session(session_id))
    source = SessionSettings.model_validate(head.settings).llm_options.replay_of or session_id
    local = RecordingModel(
        rec.model, StoreCallLog(runner, source), model_id=rec.model_id, settings=rec.settings, replay=rec.replay
    )
    return FailurePolicy(local, getattr(model, "mode", "fallback"))
