"""Durable sessions: the rules, in one place.

- **A turn's recorded inputs** are everything that changes a story from outside: player actions,
  world events and the trait updates made since the turn before (:func:`turn_inputs`). A trait
  update waits in the store (``pending/<session>``) until the turn that applies it is committed,
  so a crash in between loses nothing.
- **Playing a durable turn** is one sequence (:meth:`DurableSession.play`): read the stored head
  and expect its next turn; step the runtime with that turn number (an actor that restarted, or a
  handle another writer overtook, refuses with ``StateLostError``); take a checkpoint when one is
  due; commit once; publish. A lost state is rebuilt from the store and the turn played again;
  the engine is deterministic, so the retried turn is the turn an undisturbed run plays.
- **One rebuild** (:func:`~novel_engine.runtime.rebuild.rebuild`) serves resume, fork and
  recovery on either runtime: the latest checkpoint at or before the wanted turn, restored in
  process, the turns after it replayed from their recorded inputs (and checked against the stored
  events and prose). It returns the state; a runtime applies it (``Runtime.restore``).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from novel_engine.config import SessionSettings
from novel_engine.core.events import Decision, WorldEventSpec
from novel_engine.core.report import TurnReport
from novel_engine.core.scenario import Scenario
from novel_engine.core.setup import gc_paused
from novel_engine.errors import (
    ConflictError,
    NotFoundError,
    NovelEngineError,
    SessionError,
    StateLostError,
)
from novel_engine.llm.port import LanguageModel
from novel_engine.llm.recording import StoreCallLog
from novel_engine.runtime.port import Runtime
from novel_engine.runtime.rebuild import rebuild
from novel_engine.storage.port import JsonText, SessionRecord, TurnCommit
from novel_engine.storage.runner import StoreRunner

__all__ = [
    "RECOVERIES",
    "DurableSession",
    "is_state_loss",
    "state_loss",
    "turn_inputs",
    "turn_commit",
    "session_record",
]

RECOVERIES = 3  #: how many times one turn is played again after its runtime lost its state

log = logging.getLogger(__name__)


def state_loss(err: BaseException) -> BaseException | None:
    """The error in ``err``'s chain that says a runtime does not hold the expected state (an actor
    died or restarted on Ray; a runtime at another turn, ``StateLostError`` with the turn it has in
    ``details["have"]``), or None."""
    ray = sys.modules.get("ray")  # only a Ray session can lose actors: never import Ray for this
    actor_error = getattr(getattr(ray, "exceptions", None), "RayActorError", None)
    seen: set[int] = set()
    cur: BaseException | None = err
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, StateLostError):
            return cur
        if actor_error is not None and isinstance(cur, actor_error):
            return StateLostError(str(cur))
        cur = getattr(cur, "cause", None) or cur.__cause__
    return None


def is_state_loss(err: BaseException) -> bool:
    """Whether ``err`` (or what it wraps) says a runtime lost its state (see :func:`state_loss`)."""
    return state_loss(err) is not None


def turn_inputs(
    decisions: Mapping[str, Any] | None,
    world_events: Sequence[WorldEventSpec],
    trait_updates: Mapping[str, Mapping[str, float]] | None = None,
) -> dict[str, Any]:
    """The validated inputs of a turn as JSON-friendly data (what a replay needs).

    ``decisions``: player actions as :class:`Decision` or as the raw dicts a caller sent.
    """
    decided = {k: d if isinstance(d, Decision) else Decision.model_validate(d) for k, d in (decisions or {}).items()}
    inputs: dict[str, Any] = {
        "agent_actions": {k: d.model_dump(mode="json") for k, d in sorted(decided.items())},
        "world_events": [w.model_dump(mode="json") for w in world_events],
    }
    if trait_updates:  # absent when empty: the records of turns without updates stay as they were
        inputs["trait_updates"] = {k: dict(sorted(v.items())) for k, v in sorted(trait_updates.items())}
    return inputs


def turn_commit(report: TurnReport, inputs: Mapping[str, Any], checkpoint: bytes | None) -> TurnCommit:
    """The store commit of one played turn."""
    record = report.to_dict(events=False)  # the events are rows of their own
    record["inputs"] = dict(inputs)
    return TurnCommit(
        turn=report.turn, record=record, events=tuple(e.to_dict() for e in report.events), checkpoint=checkpoint
    )


def session_record(
    session_id: str,
    scenario: Scenario,
    settings: SessionSettings,
    turn: int = 0,
    parent: tuple[str, int] | None = None,
    scenario_json: str | None = None,
) -> SessionRecord:
    """The store record of a new session (``settings.seed`` resolved; ``scenario_json``: the
    scenario's ``model_dump_json()`` if it was made already, which the store then writes as it is)."""
    return SessionRecord(
        id=session_id,
        scenario=JsonText(scenario_json if scenario_json is not None else scenario.model_dump_json()),
        settings=settings.model_dump(mode="json"),
        seed=int(settings.seed),
        turn=turn,
        parent=parent,
    )


def checkpoint_period(runner: StoreRunner, personas: int) -> int:
    """Checkpoint every this many turns: the store's ``checkpoint_every``, or (0) by cast size."""
    from novel_engine.storage.settings import auto_checkpoint_every

    return runner.store.settings.checkpoint_every or auto_checkpoint_every(personas)


class DurableSession:
    """A session's link to the state store: its version, pending inputs and durable turns.

    Args:
        runner: the store.
        session_id: the session.
        version: the store version this handle last committed or loaded.
        turn: the last turn this handle committed or loaded.
        personas: the cast size (how often checkpoints are due).
        settings: the session settings (a replay's recorded calls are shipped turn by turn).
        model: the session's model (a rebuild replays the turns after a checkpoint through it).
    """

    def __init__(
        self,
        runner: StoreRunner,
        session_id: str,
        version: int,
        turn: int,
        personas: int,
        settings: SessionSettings,
        model: LanguageModel | None,
    ) -> None:
        self.runner, self.session_id, self.version, self.turn, self.model = runner, session_id, version, turn, model
        self.every = checkpoint_period(runner, personas)
        self.settings = settings
        self._replayed: dict[int, list[dict]] | None = None

    # -- pending trait updates -----------------------------------------------------------------
    @property
    def _pending_key(self) -> str:
        return f"pending/{self.session_id}.json"

    async def pending_updates(self) -> dict[str, dict[str, float]]:
        """The trait updates made since the last committed turn."""
        try:
            raw = await self.runner.acall(lambda st: st.get_object(self._pending_key))
        except NotFoundError:
            return {}
        return json.loads(raw)

    async def add_update(self, rt: Runtime, persona_id: str, traits: Mapping[str, float]) -> None:
        """Store a trait update as an input of the next turn, then apply it to the runtime."""
        pending = await self.pending_updates()
        pending.setdefault(persona_id, {}).update(traits)
        data = json.dumps(pending, sort_keys=True).encode()
        await self.runner.acall(lambda st: st.put_object(self._pending_key, data))
        await rt.update_traits(persona_id, traits)

    async def apply_pending(self, rt: Runtime) -> None:
        """Apply the stored trait updates waiting for the next turn (after a restore)."""
        for pid, traits in (await self.pending_updates()).items():
            await rt.update_traits(pid, traits)

    # -- turns ---------------------------------------------------------------------------------
    async def rebuild_model(self) -> LanguageModel:
        """The model a rebuild replays this session's turns with: one that answers from the
        session's recorded calls when its own records live in actors (Ray), else its own."""
        from novel_engine.llm.offline import OfflineModel
        from novel_engine.runtime.language_models import driver_model

        return await driver_model(self.model, self.runner, self.session_id) or OfflineModel()

    async def play(
        self,
        rt: Runtime,
        raw_actions: Mapping[str, Any] | None,
        actions: Mapping[str, Any],
        events: Sequence[WorldEventSpec],
    ) -> TurnReport:
        """Play the session's next turn on ``rt`` and commit it (see the module's rules).

        Raises:
            ConflictError: another writer committed this turn first.
            StoreError: the store failed (the turn is not committed; the runtime is put back to
                the stored state).
            SessionError: the turn failed after :data:`RECOVERIES` recoveries.
        """
        # The turn this handle expects is the one after its own last; a runtime elsewhere says so
        # (StateLostError with the turn it holds): behind, it restarted and is rebuilt; ahead, another
        # driver (a second Serve replica) played through the same actors, and the store says where.
        for attempt in range(RECOVERIES + 1):
            turn = self.turn + 1
            try:
                due = turn % self.every == 0  # on Ray the checkpoint comes back with the turn
                calls = await self._replay_calls(turn)
                report = await rt.step(actions, events, turn=turn, calls=calls, publish=False, checkpoint=due)
                blob = await rt.checkpoint() if due else None
                break
            except Exception as err:  # noqa: BLE001 - only lost state is recovered, the rest re-raised
                lost = state_loss(err)
                if lost is None:
                    raise
                if attempt == RECOVERIES:
                    raise SessionError(
                        f"turn {turn} of {self.session_id!r} failed after {RECOVERIES} recoveries: {err}",
                        session_id=self.session_id,
                        turn=turn,
                    ) from None
                if rt.shared and int(lost.details.get("have", -1)) >= turn:
                    head = await self.runner.acall(lambda st: st.get_session(self.session_id, fresh=True))
                    if head.turn == int(lost.details["have"]):  # stored: the other driver's turns stand
                        self.version, self.turn = head.version, head.turn
                        continue
                await self.recover(rt)
        if report.calls:
            # Before the commit: a committed turn always has its records (a rebuild replays it from
            # them). One object per (session, turn), so a turn stored again replaces them.
            await StoreCallLog(self.runner, self.session_id).put_turn(turn, report.calls)
        try:
            # A large cast's commit makes a row per event (150,000 dicts and tuples at 100,000
            # personas): with the collector on, its young collections walked them again and again
            # while freeing nothing, tripling the time to make them.
            with gc_paused(freeze=True):
                commit = turn_commit(report, turn_inputs(raw_actions, events, report.trait_updates), blob)
                head = await commit_once(self.runner, self.session_id, self.version, commit)
        except NovelEngineError:
            try:  # not committed: the runtime goes back to what the store holds
                await self.recover(rt)
            except NovelEngineError as err:
                log.warning("session %s could not be put back to its stored state: %s", self.session_id, err)
            raise
        self.version, self.turn = head.version, head.turn
        if report.trait_updates:
            await self.runner.acall(lambda st: st.put_object(self._pending_key, b"{}"))
        try:  # subscribers see a turn only once it is stored
            await rt.publish(turn)
        except Exception as err:  # noqa: BLE001 - the turn is committed; the next recovery republishes it
            if not is_state_loss(err):
                raise
            log.warning("turn %d of %s is committed but not yet on its event hub: %s", turn, self.session_id, err)
        return report

    async def recover(self, rt: Runtime) -> int:
        """Put ``rt`` back to the session's last committed state (and its pending trait updates);
        return that turn."""
        state, head = await rebuild(self.runner, self.session_id, await self.rebuild_model())
        # with the scenario: a runtime whose director restarted empty (Ray) is loaded with it again
        turn = await rt.restore({**state, "scenario": head.scenario})
        await self.apply_pending(rt)
        self.version, self.turn = head.version, head.turn
        return turn

    async def _replay_calls(self, turn: int) -> list[dict]:
        """A replay's recorded model calls of ``turn`` (loaded once, shipped turn by turn)."""
        source = self.settings.llm_options.replay_of
        if not source or (self.settings.llm or "offline") == "offline":
            return []
        if self._replayed is None:
            self._replayed = await StoreCallLog(self.runner, source).load_turns()
        return self._replayed.get(turn, [])


async def commit_once(runner: StoreRunner, session_id: str, version: int, commit: TurnCommit) -> SessionRecord:
    """Commit a turn exactly once; return the session's head.

    A commit whose turn is already stored with the same record and events (a retry after the
    first attempt's answer was lost) is not written again. (A lost connection is retried once by
    the store itself.)

    Raises:
        ConflictError: the session moved on differently (another writer).
        StoreError: the store failed.
    """
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
    as_json = json.loads(json.dumps([commit.record, list(commit.events)]))
    return rec.record == as_json[0] and [e.data for e in evs] == as_json[1]
