"""One rebuild for resume, fork and recovery on either runtime.

:func:`rebuild` makes the state of a stored session after a turn: the latest checkpoint at or
before it, restored in process, and the turns after it replayed from their recorded inputs (and
checked against the stored events and prose). It returns the state; a runtime applies it
(``Runtime.restore``). :func:`fork_record` stores a fork made from such a state.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from novel_engine.agents.director import validate_action
from novel_engine.config import SessionSettings
from novel_engine.core.events import Decision, Event, WorldEventSpec
from novel_engine.core.report import TurnReport
from novel_engine.core.scenario import Scenario
from novel_engine.errors import CheckpointError, NotFoundError, SessionError
from novel_engine.llm.port import LanguageModel
from novel_engine.runtime.checkpoint import decode, encode, is_genesis
from novel_engine.runtime.local import LocalRuntime
from novel_engine.runtime.port import Runtime
from novel_engine.storage.port import SessionRecord, TurnCommit
from novel_engine.storage.runner import StoreRunner

__all__ = ["reseed", "replay_turn", "rebuild", "fork_record"]


def reseed(state: dict[str, Any], seed: int) -> dict[str, Any]:
    """``state`` for a session that draws from ``seed`` from now on (a fork with a new seed)."""
    state = {**state, "seed": seed, "settings": {**state["settings"], "seed": seed}}
    state["chronicler"] = {**state["chronicler"], "seed": seed}
    return state


def _canon(events: Sequence[Event] | Sequence[dict]) -> str:
    return json.dumps([e if isinstance(e, dict) else e.to_dict() for e in events], sort_keys=True)


async def replay_turn(rt: Runtime, inputs: Mapping[str, Any]) -> TurnReport:
    """Play one turn again from its recorded inputs."""
    for pid, traits in inputs.get("trait_updates", {}).items():
        await rt.update_traits(pid, traits)
    world = await rt.world()
    actions = {
        k: validate_action(world, k, Decision.model_validate(v)) for k, v in inputs.get("agent_actions", {}).items()
    }
    events = [WorldEventSpec.model_validate(w) for w in inputs.get("world_events", ())]
    return await rt.step(actions, events)


async def rebuild(
    runner: StoreRunner, session_id: str, model: LanguageModel, upto: int | None = None
) -> tuple[dict[str, Any], SessionRecord]:
    """The state of a stored session after turn ``upto`` (default: its last), with its turn reports.

    Returns ``(state, head)``: a checkpoint dict with ``history`` (what ``Runtime.restore`` takes)
    and the session's stored head.

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
    settings = SessionSettings.model_validate(head.settings).model_copy(update={"seed": head.seed})
    rt = LocalRuntime(Scenario.model_validate(head.scenario), settings, model)
    stored = decode(blob)
    if not is_genesis(stored):  # a genesis reference is turn 0 as built from the record, which rt is
        await rt.restore(stored)
    records = await runner.acall(lambda s: s.turns(session_id, 0, target))
    events = await runner.acall(lambda s: s.events(session_id, 0, records[-1].last_seq if records else 0))
    by_turn: dict[int, list[Event]] = {}
    for ev in events:
        by_turn.setdefault(ev.turn, []).append(Event.from_dict(ev.data))
    rt.pipeline.history = [
        TurnReport.from_dict(r.record, by_turn.get(r.turn, [])) for r in records if r.turn <= ck_turn
    ]
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
    return await rt.state(history=True), head


async def fork_record(
    runner: StoreRunner, parent_id: str, model: LanguageModel, at: int, new_id: str, seed: int | None = None
) -> tuple[dict[str, Any], int]:
    """Store session ``new_id``, a fork of ``parent_id`` after turn ``at`` (drawing from ``seed``
    after it, default the parent's); return its state (with history) and its store version.

    The fork gets its own copy of the parent's turns and events up to ``at`` (so its sequence
    numbers are gapless and nothing is shared) and a checkpoint at ``at``.
    """
    state, head = await rebuild(runner, parent_id, model, upto=at)
    if seed is not None:
        state = reseed(state, seed)
    past = await runner.acall(lambda st: st.turns(parent_id, 0, at))
    evs = await runner.acall(lambda st: st.events(parent_id, 0, past[-1].last_seq if past else 0))
    record = SessionRecord(
        id=new_id,
        scenario=head.scenario,
        settings=state["settings"],
        seed=int(state["seed"]),
        turn=0,
        parent=(parent_id, at),
    )
    blob = encode({k: v for k, v in state.items() if k != "history"})
    await runner.acall(lambda st: st.create_session(record, blob if at == 0 else None))
    version = 0
    for tr in past:
        commit = TurnCommit(
            tr.turn, tr.record, tuple(e.data for e in evs if e.turn == tr.turn), blob if tr.turn == at else None
        )
        version = (await runner.acall(lambda st, c=commit, v=version: st.commit_turn(new_id, v, c))).version
    return state, version
