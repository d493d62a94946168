"""Durable sessions: turn commits for the state store, and rebuilding a runtime from the store.

A committed turn is its record (the report without events, plus the turn's *inputs*: player
decisions and world events), its events and, every ``checkpoint_every`` turns, a checkpoint.
:func:`load` restores the latest checkpoint at or before the wanted turn and replays the turns
after it from their recorded inputs. The engine is deterministic, so a replay gives the same
events; :func:`load` checks that it does and refuses to continue a story that would diverge.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from novel_engine.agents.director import validate_action
from novel_engine.core.events import Decision, Event, WorldEventSpec
from novel_engine.core.scenario import Scenario
from novel_engine.errors import CheckpointError, NotFoundError, SessionError
from novel_engine.llm.port import LanguageModel
from novel_engine.runtime.checkpoint import capture, decode, encode, report_from_dict, restore
from novel_engine.runtime.local import LocalRuntime, TurnReport
from novel_engine.storage.port import SessionRecord, TurnCommit
from novel_engine.storage.runner import StoreRunner

__all__ = ["turn_inputs", "turn_commit", "session_record", "encode_state", "load"]


def turn_inputs(decisions: Mapping[str, Any] | None, world_events: Sequence[WorldEventSpec]) -> dict[str, Any]:
    """The validated inputs of a turn as JSON-friendly data (what a replay needs).

    ``decisions``: player actions as :class:`Decision` or as the raw dicts a caller sent.
    """
    decided = {k: d if isinstance(d, Decision) else Decision.model_validate(d) for k, d in (decisions or {}).items()}
    return {
        "agent_actions": {k: d.model_dump(mode="json") for k, d in sorted(decided.items())},
        "world_events": [w.model_dump(mode="json") for w in world_events],
    }


def encode_state(rt: LocalRuntime) -> bytes:
    """The runtime's checkpoint as the store keeps it (no scenario, no history)."""
    return encode(capture(rt, history=False, scenario=False))


def turn_commit(report: TurnReport, inputs: Mapping[str, Any], checkpoint: bytes | None) -> TurnCommit:
    """The store commit of one played turn."""
    record = {k: v for k, v in report.to_dict().items() if k != "events"}
    record["inputs"] = dict(inputs)
    return TurnCommit(
        turn=report.turn, record=record, events=tuple(e.to_dict() for e in report.events), checkpoint=checkpoint
    )


def session_record(session_id: str, rt: LocalRuntime, parent: tuple[str, int] | None = None) -> SessionRecord:
    """The store record of a new session whose runtime is ``rt``."""
    return SessionRecord(
        id=session_id,
        scenario=rt.scenario.model_dump(mode="json"),
        settings=rt.settings.model_dump(mode="json"),
        seed=rt.seed,
        turn=rt.turn,
        parent=parent,
    )


def _canon(events: Sequence[Event] | Sequence[dict]) -> str:
    return json.dumps([e if isinstance(e, dict) else e.to_dict() for e in events], sort_keys=True)


async def replay_turn(rt: LocalRuntime, inputs: Mapping[str, Any]) -> TurnReport:
    """Play one turn again from its recorded inputs."""
    actions = {
        k: validate_action(rt.world, k, Decision.model_validate(v)) for k, v in inputs.get("agent_actions", {}).items()
    }
    events = [WorldEventSpec.model_validate(w) for w in inputs.get("world_events", ())]
    return await rt.step(actions, events)


async def load(
    runner: StoreRunner,
    session_id: str,
    model: LanguageModel,
    *,
    upto: int | None = None,
    seed: int | None = None,
    replicate: bool = True,
) -> tuple[LocalRuntime, SessionRecord]:
    """Rebuild the runtime of a stored session as it was after turn ``upto`` (default: its last).

    Args:
        runner: the store.
        session_id: the session.
        model: the language model of the rebuilt runtime.
        upto: the turn to stop at.
        seed: a new seed for the turns after ``upto`` (forks).
        replicate: start the replica processes the session's settings ask for (False when the
            runtime only carries state to Ray actors).
    Returns:
        ``(runtime, head)``: the runtime and the session's stored head.
    Raises:
        SessionError: no such session, or ``upto`` is beyond its last turn.
        CheckpointError: the session has no usable checkpoint, or a replay diverged.
    """
    try:
        head = await runner.acall(lambda s: s.get_session(session_id, fresh=True))  # never a stale cached head
    except NotFoundError:
        raise SessionError(f"no session {session_id!r} in the state store", session_id=session_id) from None
    target = head.turn if upto is None else upto
    if not 0 <= target <= head.turn:
        raise SessionError(
            f"session {session_id!r} has turns 0..{head.turn}, not {target}", session_id=session_id, turn=target
        )
    found = await runner.acall(lambda s: s.checkpoint(session_id, target))
    if found is None:
        raise CheckpointError(
            f"session {session_id!r} has no checkpoint at or before turn {target}", session_id=session_id
        )
    ck_turn, blob = found
    scenario = Scenario.model_validate(head.scenario)
    replaying = ck_turn < target
    # replayed turns must use the seed they were played with; a fork's seed applies after them
    rt = restore(decode(blob), model, scenario=scenario, seed=None if replaying else seed, replicate=replicate)
    records = await runner.acall(lambda s: s.turns(session_id, 0, target))
    events = await runner.acall(lambda s: s.events(session_id, 0, records[-1].last_seq if records else 0))
    by_turn: dict[int, list[Event]] = {}
    for ev in events:
        by_turn.setdefault(ev.turn, []).append(Event.from_dict(ev.data))
    history = []
    for rec in records:
        if rec.turn <= ck_turn:
            history.append(report_from_dict(rec.record, by_turn.get(rec.turn, [])))
    rt.history = history
    for rec in records:
        if rec.turn <= ck_turn:
            continue
        report = await replay_turn(rt, rec.record.get("inputs", {}))
        if _canon(report.events) != _canon(by_turn.get(rec.turn, [])) or report.prose != rec.record["prose"]:
            raise CheckpointError(
                f"replaying turn {rec.turn} of {session_id!r} gave a different story; the "
                "stored session cannot be continued faithfully",
                session_id=session_id,
                turn=rec.turn,
            )
    if replaying and seed is not None:
        rt = restore(capture(rt), model, scenario=scenario, seed=seed, replicate=replicate)
    return rt, head


# -- the engine side: what api.Engine / api.Session call when they have a store ----------------
def start_store(store: Any) -> StoreRunner:
    """Open the store named by ``store`` (URL, ``"memory"``, StoreSettings or a manager) on its loop."""
    from novel_engine.storage.manager import UnifiedStateManager, open_store

    manager = store if isinstance(store, UnifiedStateManager) else open_store(store)
    return StoreRunner(manager).start()


def _local(rt: Any) -> LocalRuntime:
    if not isinstance(rt, LocalRuntime):
        from novel_engine.errors import ConfigError

        raise ConfigError("the state store works with the local runtime for now", setting="store")
    return rt


def register(runner: StoreRunner, session_id: str, rt: Any) -> int:
    """Store a new session with its turn-0 checkpoint; return its version."""
    if not isinstance(rt, LocalRuntime) and hasattr(rt, "checkpoint"):  # a Ray session
        from novel_engine.runtime import ray_durable

        return ray_durable.register(runner, session_id, rt)
    rt = _local(rt)
    record, blob = session_record(session_id, rt), encode_state(rt)
    return runner.call(lambda st: st.create_session(record, blob)).version


def checkpoint_period(runner: StoreRunner, rt: LocalRuntime) -> int:
    """Checkpoint every this many turns: the store's ``checkpoint_every``, or (0) by cast size."""
    from novel_engine.storage.settings import auto_checkpoint_every

    return runner.store.settings.checkpoint_every or auto_checkpoint_every(len(rt.world.personas))


async def step(
    runner: StoreRunner,
    session: Any,
    raw_actions: Mapping[str, Any] | None,
    actions: Mapping[str, Any],
    events: Sequence[WorldEventSpec],
) -> TurnReport:
    """Play one turn of a stored session and commit it; on a failed commit, reload the session.

    Raises:
        ConflictError: another writer committed first (the session now shows the stored state).
        StoreError: the store failed (the turn is not committed; the session shows the stored state).
    """
    from novel_engine.errors import NovelEngineError

    if not isinstance(session._rt, LocalRuntime) and hasattr(session._rt, "checkpoint"):  # a Ray session
        from novel_engine.runtime import ray_durable

        return await ray_durable.step(runner, session, raw_actions, actions, events)
    rt = _local(session._rt)
    inputs = turn_inputs(raw_actions, events)
    report = await rt.step(actions, events)
    blob = encode_state(rt) if report.turn % checkpoint_period(runner, rt) == 0 else None
    commit = turn_commit(report, inputs, blob)
    try:
        head = await runner.acall(lambda st: st.commit_turn(session.id, session._version, commit))
    except NovelEngineError:
        # Not committed: drop the turn from memory too, so the handle matches the store again.
        try:
            session._rt, stored = await load(runner, session.id, rt.pool.model)
            session._version = stored.version
        except NovelEngineError:
            session._stale = True
        raise
    session._version = head.version
    return report


async def fork(
    runner: StoreRunner, parent_id: str, model: LanguageModel, at: int, seed: int | None, new_id: str
) -> tuple[LocalRuntime, int]:
    """Create session ``new_id`` from the parent's state after turn ``at``; return (runtime, version).

    The fork gets its own copy of the parent's turns and events up to ``at`` (so its sequence
    numbers are gapless and nothing is shared) and a checkpoint at ``at``.
    """
    rt, _ = await load(runner, parent_id, model, upto=at, seed=seed)
    past = await runner.acall(lambda st: st.turns(parent_id, 0, at))
    evs = await runner.acall(lambda st: st.events(parent_id, 0, past[-1].last_seq if past else 0))
    base = session_record(new_id, rt, parent=(parent_id, at))
    record = SessionRecord(**{**base.__dict__, "turn": 0})
    await runner.acall(lambda st: st.create_session(record, encode_state(rt) if at == 0 else None))
    version = 0
    for tr in past:
        commit = TurnCommit(
            tr.turn,
            tr.record,
            tuple(e.data for e in evs if e.turn == tr.turn),
            encode_state(rt) if tr.turn == at else None,
        )
        version = (await runner.acall(lambda st, c=commit, v=version: st.commit_turn(new_id, v, c))).version
    return rt, version
