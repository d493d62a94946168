"""Durable Ray sessions: turn commits through the state store, recovery from lost actors, resume.

The driver that plays a turn commits it: the director plays the turn, then (when one is due) the
session's checkpoint is gathered from its actors in the in-process runtime's layout, and the turn
record, its events and the checkpoint go to the store in one atomic commit keyed by (session, turn).
So a Ray session's stored turns, events and checkpoints are the ones an in-process session of the
same scenario and seed stores, and either runtime can resume them.

Faults: every actor has ``max_restarts=-1``. A restarted actor re-runs ``__init__`` and holds the
state of turn 0, so every call names the turn it expects and a restarted actor refuses with
``StateLostError`` instead of telling a different story. Ray's own method retries
(``max_task_retries``) are not used: a retried call would land on that turn-0 state. Instead, when
a turn fails because an actor died or lost its state, the driver rebuilds the session's last
committed state from the store (:func:`durable.load`), pushes it into every actor and plays the
turn again. The engine is deterministic, so the retried turn is the turn an undisturbed run plays.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import ray

from novel_engine.core.events import WorldEventSpec
from novel_engine.errors import ConflictError, SessionError, StateLostError, StoreError
from novel_engine.llm.port import LanguageModel
from novel_engine.llm.recording import StoreCallLog
from novel_engine.runtime import durable
from novel_engine.runtime.checkpoint import capture
from novel_engine.runtime.durable import load, turn_commit, turn_inputs
from novel_engine.runtime.local import TurnReport
from novel_engine.runtime.models import driver_model
from novel_engine.runtime.ray_runtime import RayRuntime, list_sessions
from novel_engine.storage.port import SessionRecord, TurnCommit
from novel_engine.storage.runner import StoreRunner

__all__ = [
    "RECOVERIES",
    "is_actor_loss",
    "register",
    "step",
    "step_unstored",
    "recover",
    "commit_once",
    "resume",
    "fork",
]

RECOVERIES = 3  #: how many times one turn is retried after losing actors

log = logging.getLogger(__name__)


def is_actor_loss(err: BaseException) -> bool:
    """Whether ``err`` (or what it wraps) says an actor died or restarted and lost its state."""
    seen: set[int] = set()
    cur: BaseException | None = err
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, (ray.exceptions.RayActorError, StateLostError)):
            return True
        cur = getattr(cur, "cause", None) or cur.__cause__
    return False


def register(runner: StoreRunner, session_id: str, rt: RayRuntime) -> int:
    """Store a new Ray session with its turn-0 checkpoint; return its version."""
    from novel_engine.api import run_sync

    scenario, settings = rt.scenario_and_settings()
    record = SessionRecord(
        id=session_id,
        scenario=scenario.model_dump(mode="json"),
        settings=settings.model_dump(mode="json"),
        seed=rt.seed,
        turn=0,
    )
    blob = run_sync(rt.checkpoint())
    return runner.call(lambda st: st.create_session(record, blob)).version


async def recover(runner: StoreRunner, session_id: str, rt: RayRuntime, model: LanguageModel | None) -> int:
    """Put every actor of ``rt`` back to the session's last committed state; return that turn."""
    from novel_engine.llm.offline import OfflineModel

    local, _ = await load(
        runner, session_id, await driver_model(model, runner, session_id) or OfflineModel(), replicate=False
    )
    return await rt.restore(capture(local))


async def commit_once(runner: StoreRunner, session_id: str, version: int, commit: TurnCommit) -> SessionRecord:
    """Commit a turn exactly once; return the session's head.

    A commit whose turn is already stored with the same record and events (a retry after the
    first attempt's answer was lost) is not written again. A failed store call is tried once more.

    Raises:
        ConflictError: the session moved on differently (another writer).
        StoreError: the store failed twice.
    """
    try:
        return await _commit(runner, session_id, version, commit)
    except ConflictError:
        raise
    except StoreError:  # e.g. a lost connection: the first attempt may or may not have gone through
        return await _commit(runner, session_id, version, commit)


async def _commit(runner: StoreRunner, session_id: str, version: int, commit: TurnCommit) -> SessionRecord:
    try:
        return await runner.acall(lambda st: st.commit_turn(session_id, version, commit))
    except ConflictError:
        head = await runner.acall(lambda st: st.get_session(session_id))
        if head.turn >= commit.turn and await _stored_equals(runner, session_id, commit):
            return head  # this very turn is stored already
        raise


async def _stored_equals(runner: StoreRunner, session_id: str, commit: TurnCommit) -> bool:
    recs = await runner.acall(lambda st: st.turns(session_id, commit.turn - 1, commit.turn))
    if not recs:
        return False
    rec = recs[0]
    evs = await runner.acall(lambda st: st.events(session_id, rec.first_seq - 1, rec.last_seq - rec.first_seq + 1))
    return rec.record == _json(commit.record) and [e.data for e in evs] == [_json(e) for e in commit.events]


def _json(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value))


async def step(
    runner: StoreRunner,
    session: Any,
    raw_actions: Mapping[str, Any] | None,
    actions: Mapping[str, Any],
    events: Sequence[WorldEventSpec],
) -> TurnReport:
    """Play one turn of a stored Ray session and commit it, recovering from lost actors.

    Raises:
        ConflictError: another writer committed this turn first.
        StoreError: the store failed (the turn is not committed).
        SessionError: the turn failed after :data:`RECOVERIES` recoveries.
    """
    rt: RayRuntime = session._rt
    inputs = turn_inputs(raw_actions, events)
    # A fresh head, not this process's cache: another driver (a second Serve replica) may have
    # committed turns through the same actors; the director's turn check serialises the writers.
    head = await runner.acall(lambda st: st.get_session(session.id, fresh=True))
    session._version = head.version
    turn = head.turn + 1
    every = _period(runner, session)
    replayed = await _replay_calls(runner, session, turn)
    for attempt in range(RECOVERIES + 1):
        try:
            report = await rt.step(actions, events, turn=turn, calls=replayed, publish=False)
            blob = await rt.checkpoint() if turn % every == 0 else None
            break
        except Exception as err:  # noqa: BLE001 - only actor losses are recovered, the rest re-raised
            if not is_actor_loss(err):
                raise
            if attempt == RECOVERIES:
                raise SessionError(
                    f"turn {turn} of {session.id!r} failed after {RECOVERIES} recoveries: {err}",
                    session_id=session.id,
                    turn=turn,
                ) from None
            await recover(runner, session.id, rt, getattr(rt, "model", None))
    if report.calls:
        # Before the commit: a committed turn always has its records (a resume or a recovery
        # rebuilds it from them). One object per (session, turn), so a turn stored again replaces
        # them; a writer that then loses the commit race wrote the same answers (a turn played
        # again gets them from the shards' recorders).
        await StoreCallLog(runner, session.id).put_turn(turn, report.calls)
    head = await commit_once(runner, session.id, session._version, turn_commit(report, inputs, blob))
    session._version = head.version
    try:  # subscribers see a turn only once it is stored
        await rt.publish(turn)
    except Exception as err:  # noqa: BLE001 - the turn is committed; the next recovery republishes it
        if not is_actor_loss(err):
            raise
        log.warning("turn %d of %s is committed but not yet on its event hub: %s", turn, session.id, err)
    return report


async def step_unstored(
    session: Any, raw_actions: Mapping[str, Any] | None, actions: Mapping[str, Any], events: Sequence[WorldEventSpec]
) -> TurnReport:
    """Play one turn of a Ray session that has no state store.

    The driver that created the session keeps every turn's inputs (a few bytes a turn) and tells
    the director which turn it expects, so a restarted actor refuses instead of telling another
    story. With the offline model, whose replay is exact, lost actors are then rebuilt by playing
    the inputs again in this process and restoring every actor from the result; with another
    model (a replay would ask it again and hear other answers) the loss is reported.

    Raises:
        StateLostError: actors were lost and cannot be rebuilt exactly (see above).
        SessionError: the turn failed after :data:`RECOVERIES` rebuilds.
    """
    rt: RayRuntime = session._rt
    played = rt.played
    inputs = turn_inputs(raw_actions, events)
    for attempt in range(RECOVERIES + 1):
        try:
            report = await rt.step(actions, events, turn=None if played is None else len(played) + 1)
            break
        except Exception as err:  # noqa: BLE001 - only actor losses are rebuilt, the rest re-raised
            if not is_actor_loss(err):
                raise
            if played is None or getattr(rt.model, "name", None) != "offline":
                raise StateLostError(
                    f"session {session.id!r} lost actors and has no state store to rebuild "
                    "them from (give the Engine a store: Engine('ray', store=...))",
                    session_id=session.id,
                ) from err
            if attempt == RECOVERIES:
                raise SessionError(
                    f"turn {len(played) + 1} of {session.id!r} failed after {RECOVERIES} rebuilds: {err}",
                    session_id=session.id,
                ) from None
            if await _director_turn(rt) > len(played):  # another driver played on: its turns are not ours to undo
                rt.played = played = None
                continue
            await _rebuild(rt, played)
    if played is not None:
        played.append(inputs)
    return report


async def _director_turn(rt: RayRuntime) -> int:
    try:
        return await rt.director.turn.remote()
    except Exception as err:  # noqa: BLE001 - a director still restarting counts as behind
        if is_actor_loss(err):
            return 0
        raise


async def _rebuild(rt: RayRuntime, played: Sequence[Mapping[str, Any]]) -> None:
    """Every actor back to the state after the turns of ``played`` (the offline model's replay)."""
    from novel_engine.llm.offline import OfflineModel
    from novel_engine.runtime.local import LocalRuntime

    scenario, settings = await rt.ascenario_and_settings()
    local = LocalRuntime(scenario, settings, OfflineModel(), replicate=False)
    for inputs in played:
        await durable.replay_turn(local, inputs)
    await rt.restore(capture(local))


async def _replay_calls(runner: StoreRunner, session: Any, turn: int) -> list[dict] | None:
    """A replay's recorded model calls of ``turn`` (None when the session is not a replay).

    The recorded session's calls are loaded once per session handle and shipped turn by turn.
    """
    source = session.settings.llm_options.replay_of
    if not source or (session.settings.llm or "offline") == "offline":
        return None
    cache = getattr(session, "_replay_turns", None)
    if cache is None:
        cache = session._replay_turns = await StoreCallLog(runner, source).load_turns()
    return cache.get(turn, [])


def _period(runner: StoreRunner, session: Any) -> int:
    """Checkpoint every this many turns: the store's ``checkpoint_every``, or (0) by cast size."""
    every = runner.store.settings.checkpoint_every
    if every:
        return every
    from novel_engine.storage import settings

    auto = getattr(settings, "auto_checkpoint_every", None)
    return auto(len(session.scenario.personas)) if auto is not None else 1


async def resume(
    runner: StoreRunner,
    session_id: str,
    model: LanguageModel,
    *,
    detached: bool = False,
    actor_options: Mapping[str, Any] | None = None,
) -> tuple[RayRuntime, SessionRecord]:
    """A Ray session continuing a stored session (its live actors if any, else new ones).

    Raises:
        SessionError: the store has no such session.
        CheckpointError: the stored state cannot be continued faithfully.
    """
    local, head = await load(runner, session_id, await driver_model(model, runner, session_id), replicate=False)
    if session_id in list_sessions():
        rt = RayRuntime.attach(session_id)
    else:
        rt = RayRuntime.create(
            session_id, local.scenario, local.settings, model, detached=detached, actor_options=actor_options
        )
    rt.model = model
    await rt.restore(capture(local))
    return rt, head


async def fork(
    runner: StoreRunner,
    parent_id: str,
    model: LanguageModel,
    at: int,
    new_id: str,
    *,
    detached: bool = False,
    actor_options: Mapping[str, Any] | None = None,
) -> tuple[RayRuntime, int]:
    """A new Ray session ``new_id`` continuing the stored session ``parent_id`` after turn ``at``.

    The fork is built from the store (:func:`durable.fork`: the parent's checkpoint and recorded
    inputs), not from the parent's actors, so it works after the parent's director restarted.
    The turns after the parent's checkpoint are rebuilt from its recorded model calls, not by
    calling the model again. Returns the fork's runtime and its store version.
    """
    local, version = await durable.fork(
        runner, parent_id, await driver_model(model, runner, parent_id), at, None, new_id
    )
    rt = RayRuntime.create(
        new_id, local.scenario, local.settings, model, detached=detached, actor_options=actor_options
    )
    rt.model = model
    try:
        await rt.restore(capture(local))
    except BaseException:
        rt.close()
        raise
    return rt, version
