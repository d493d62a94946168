"""Record and replay: every model call's request and response, kept in the session's store.

:class:`RecordingModel` keys each call by its content hash (:func:`~novel_engine.llm.accounting.request_key`)
and appends ``{key, request, response | error}`` records to a :class:`CallLog`. Before calling the
model it looks the key up among the records already there, so:

- a session resumed or forked from the store re-plays its past turns with the answers it got the
  first time (the engine is deterministic given those answers, so the turns come out the same);
- with ``replay=True`` (a session created with ``llm_options.replay_of``) *every* answer comes
  from the records and no API is called; a request with no record raises
  :class:`~novel_engine.errors.ReplayMissError`. Failures are recorded too and replayed as the
  same error, so a fallback flagged the first time is flagged the same way again.

:class:`StoreCallLog` keeps the records as gzipped JSON-lines objects under
``llm-calls/<session>/`` of the state store, one object per batch of calls (one per phase of a
turn, not one per call).

On Ray the model is called inside the shard and chronicler actors, which cannot reach the store:
there the recorder keeps the turn's records in a :class:`TurnCallLog`, the actor hands them back
with its turn results (:func:`take_calls`), and the driver stores them per turn
(:meth:`StoreCallLog.put_turn`). A replay on Ray ships each actor the recorded calls of the turn
(:func:`learn_calls`) before it plays it.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from novel_engine import errors
from novel_engine.errors import ModelError, ReplayMissError
from novel_engine.llm.accounting import request_key
from novel_engine.llm.port import LanguageModel, ModelRequest, ModelResponse
from novel_engine.llm.prompts import render_prompt
from novel_engine.llm.transport import parse_structured

__all__ = [
    "CallLog",
    "MemoryCallLog",
    "StoreCallLog",
    "TurnCallLog",
    "RecordingModel",
    "recorder_of",
    "take_calls",
    "learn_calls",
]

_REPLAYABLE_ERRORS = {
    name: getattr(errors, name)
    for name in ("ModelError", "ModelOutputError", "ModelTransientError", "CircuitOpenError")
}


def _encode(records: Sequence[dict[str, Any]]) -> bytes:
    """A batch of records as one gzipped JSON-lines object."""
    return gzip.compress("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode())


class CallLog(ABC):
    """Where a session's model-call records live."""

    @abstractmethod
    async def load(self) -> list[dict[str, Any]]:
        """Every record so far, oldest first."""

    @abstractmethod
    async def append(self, records: Sequence[dict[str, Any]]) -> None:
        """Add records (one batch)."""


class MemoryCallLog(CallLog):
    """Records in a list (tests, and sessions without a store)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.batches = 0

    async def load(self) -> list[dict[str, Any]]:
        return list(self.records)

    async def append(self, records: Sequence[dict[str, Any]]) -> None:
        self.records.extend(records)
        self.batches += 1


class StoreCallLog(CallLog):
    """Records as objects of a state store run by a :class:`~novel_engine.storage.StoreRunner`.

    Args:
        runner: the engine's store runner (anything with ``acall(fn)``).
        session_id: whose records.
    """

    def __init__(self, runner: Any, session_id: str) -> None:
        self.runner = runner
        self.session_id = session_id
        self.prefix = f"llm-calls/{session_id}/"

    async def load(self) -> list[dict[str, Any]]:
        keys = await self.runner.acall(lambda s: s.list_objects(self.prefix))
        out: list[dict[str, Any]] = []
        for key in sorted(keys):
            blob = await self.runner.acall(lambda s, k=key: s.get_object(k))
            out.extend(json.loads(line) for line in gzip.decompress(blob).decode().splitlines() if line)
        return out

    async def append(self, records: Sequence[dict[str, Any]]) -> None:
        if not records:
            return
        blob = _encode(records)
        key = f"{self.prefix}{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.jsonl.gz"
        await self.runner.acall(lambda s: s.put_object(key, blob))

    async def load_turns(self) -> dict[int, list[dict[str, Any]]]:
        """Every record, by the turn it was used in (what a replay on Ray ships per turn)."""
        keys = await self.runner.acall(lambda s: s.list_objects(self.prefix))
        out: dict[int, list[dict[str, Any]]] = {}
        for key in sorted(keys):
            blob = await self.runner.acall(lambda s, k=key: s.get_object(k))
            name = key[len(self.prefix) :]
            turn = int(name[5:15]) if name.startswith("turn-") else None
            for line in gzip.decompress(blob).decode().splitlines():
                if line:
                    rec = json.loads(line)
                    out.setdefault(turn if turn is not None else int(rec.get("turn") or 0), []).append(rec)
        return out

    async def put_turn(self, turn: int, records: Sequence[dict[str, Any]]) -> None:
        """Store the records of one turn as one object keyed by the turn, so a turn stored twice
        (a retried commit) replaces its records instead of adding duplicates."""
        if not records:
            return
        blob = _encode(records)
        key = f"{self.prefix}turn-{turn:010d}.jsonl.gz"
        await self.runner.acall(lambda s: s.put_object(key, blob))


class TurnCallLog(CallLog):
    """Records kept in this process until the caller takes them, by turn (Ray actors).

    A turn that is played again after a failure (its first results lost with the failed call)
    answers from the recorder's memory and appends nothing new, so the records of a turn stay
    here until a later turn is taken: ``take(turn)`` returns every record of ``turn``.
    """

    def __init__(self) -> None:
        self.by_turn: dict[int, dict[str, dict[str, Any]]] = {}

    async def load(self) -> list[dict[str, Any]]:
        return []  # the records come from the driver (learn_calls), never from here

    async def append(self, records: Sequence[dict[str, Any]]) -> None:
        for rec in records:
            self.by_turn.setdefault(int(rec.get("turn") or 0), {}).setdefault(rec["key"], rec)

    def used(self, turn: int, rec: dict[str, Any]) -> None:
        """File a record answered from memory (recorded in an earlier turn) under ``turn`` too."""
        self.by_turn.setdefault(turn, {}).setdefault(rec["key"], rec)

    def take(self, turn: int) -> list[dict[str, Any]]:
        """The records of ``turn`` (in call order); the records of earlier turns are dropped."""
        for t in [t for t in self.by_turn if t < turn]:
            del self.by_turn[t]
        return list(self.by_turn.get(turn, {}).values())


class RecordingModel(LanguageModel):
    """Record every call of ``model`` in ``log``; answer recorded requests from the log.

    Args:
        model: the model to wrap (None with ``replay=True``: nothing is ever called).
        log: the call log.
        model_id: the provider's model name, part of the content hash.
        settings: the sampling settings, part of the content hash.
        replay: serve only from the log (no API call; a miss is an error).
    """

    def __init__(
        self,
        model: LanguageModel | None,
        log: CallLog,
        *,
        model_id: str,
        settings: dict[str, Any] | None = None,
        replay: bool = False,
    ) -> None:
        if model is None and not replay:
            raise ModelError("a recording model needs a model to call unless it only replays")
        self.model = model
        self.log = log
        self.model_id = model_id
        self.name = model.name if model is not None else model_id
        self.settings = dict(settings or {})
        self.replay = replay
        self._known: dict[str, dict[str, Any]] | None = None
        self._pending: list[dict[str, Any]] = []
        self.replayed = 0
        self.recorded = 0

    async def _load(self) -> dict[str, dict[str, Any]]:
        if self._known is None:
            records = await self.log.load()
            if self._known is None:  # concurrent first calls all load; the first to finish wins
                known: dict[str, dict[str, Any]] = {}
                for rec in records:
                    known.setdefault(rec["key"], rec)  # the first answer recorded for a request wins
                self._known = known
        return self._known

    def learn(self, records: Sequence[dict[str, Any]]) -> None:
        """Answer these recorded requests from now on (a replay on Ray: the driver ships them).

        Only for a log whose ``load`` has nothing (a :class:`TurnCallLog`): the log is not loaded
        after this.
        """
        known = self._known if self._known is not None else {}
        for rec in records:
            known.setdefault(rec["key"], rec)
        self._known = known

    def _from_record(self, rec: dict[str, Any], request: ModelRequest) -> ModelResponse:
        self.replayed += 1
        if "error" in rec:
            cls = _REPLAYABLE_ERRORS.get(rec["error"]["type"], ModelError)
            raise cls(rec["error"]["message"], replayed=True)
        r = rec["response"]
        return ModelResponse(
            text=r["text"],
            model=r["model"],
            parsed=parse_structured(r["text"], request.schema),
            input_tokens=r.get("input_tokens", 0),
            output_tokens=r.get("output_tokens", 0),
        )

    async def _one(self, request: ModelRequest) -> ModelResponse:
        known = await self._load()
        key = request_key(request, self.model_id, self.settings)
        rec = known.get(key)
        if rec is not None:
            if isinstance(self.log, TurnCallLog) and not self.replay:
                self.log.used(request.turn, rec)  # a turn's records hold every answer it used
            return self._from_record(rec, request)
        if self.replay or self.model is None:
            raise ReplayMissError(
                f"replay: no recorded answer for the {request.purpose} call of {request.agent} "
                f"on turn {request.turn}; the replayed session diverged from the recording",
                agent=request.agent,
                turn=request.turn,
                key=key,
            )
        prompt = render_prompt(request)
        rec = {
            "key": key,
            "model": self.model_id,
            "purpose": request.purpose,
            "agent": request.agent,
            "turn": request.turn,
            "request": {"system": prompt.system, "user": prompt.user},
        }
        try:
            response = await self.model.complete(request)
        except ModelError as err:
            rec["error"] = {"type": type(err).__name__, "message": err.message}
            self._keep(rec)
            raise
        # a model that answers with a parsed object only (the offline policy) is recorded as its JSON
        text = response.text or (response.parsed.model_dump_json() if response.parsed is not None else "")
        rec["response"] = {
            "text": text,
            "model": response.model,
            "input_tokens": response.input_tokens,
            "output_tokens": response.output_tokens,
        }
        self._keep(rec)
        return response

    def _keep(self, rec: dict[str, Any]) -> None:
        if self._known is not None:  # always loaded by then; the guard keeps type checkers quiet
            self._known.setdefault(rec["key"], rec)
        self._pending.append(rec)
        self.recorded += 1

    async def _flush(self) -> None:
        batch, self._pending = self._pending, []
        await self.log.append(batch)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        try:
            return await self._one(request)
        finally:
            await self._flush()

    async def complete_many(self, requests: Sequence[ModelRequest]) -> list[ModelResponse | BaseException]:
        await self._load()
        out = list(await asyncio.gather(*(self._one(r) for r in requests), return_exceptions=True))
        await self._flush()
        return out


def recorder_of(model: Any) -> RecordingModel | None:
    """The :class:`RecordingModel` inside ``model``'s chain of wrappers (each holds the next as ``model``)."""
    seen = 0
    while model is not None and seen < 32:
        if isinstance(model, RecordingModel):
            return model
        model, seen = getattr(model, "model", None), seen + 1
    return None


def take_calls(model: Any, turn: int) -> list[dict[str, Any]]:
    """The records of ``turn`` a Ray actor's model keeps for the driver (none when not recording there)."""
    rec = recorder_of(model)
    return rec.log.take(turn) if rec is not None and isinstance(rec.log, TurnCallLog) else []


def learn_calls(model: Any, records: Sequence[dict[str, Any]] | None) -> None:
    """Give a Ray actor's recorder the recorded calls it may answer from (a replay)."""
    rec = recorder_of(model)
    if records and rec is not None and isinstance(rec.log, TurnCallLog):
        rec.learn(records)
