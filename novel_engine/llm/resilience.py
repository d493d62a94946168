"""Retries, the circuit breaker and the failure policy: wrappers implementing the LanguageModel port.

- :class:`RetryingModel` retries :class:`~novel_engine.errors.ModelTransientError` (429, 5xx,
  timeouts) with exponential backoff and full jitter, waiting at least what Retry-After asks. It is
  the only retry layer: the adapters switch their clients' retries off.
- :class:`CircuitBreaker` opens after ``failures`` calls in a row failed for good; while open
  (``cooldown_s``) every call fails at once with :class:`~novel_engine.errors.CircuitOpenError`,
  so a dead API costs no waiting; then one trial call decides whether it closes again.
- :class:`FailurePolicy` turns a failed call into :class:`~novel_engine.errors.ModelFailedError`
  when the session says ``on_model_failure="fail"``; with ``fallback`` (the default) the failure
  reaches the agent, whose offline policy decides that one thing and flags the event.

Timing never influences *what* is decided, so retries and jitter keep offline runs deterministic.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from novel_engine.errors import CircuitOpenError, ModelError, ModelFailedError, ModelTransientError
from novel_engine.llm.port import LanguageModel, ModelRequest, ModelResponse

__all__ = ["RetryingModel", "CircuitBreaker", "FailurePolicy", "backoff_delay"]


def backoff_delay(attempt: int, base_s: float, max_s: float, retry_after: float | None, rng: random.Random) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based).

    Full jitter over ``base_s * 2**(attempt-1)`` capped at ``max_s``; a server's Retry-After is a
    floor (honoured even above ``max_s``), plus a little jitter so retries do not arrive together.
    """
    ceiling = min(max_s, base_s * (2 ** (attempt - 1)))
    delay = rng.uniform(0.0, ceiling)
    if retry_after is not None:
        delay = retry_after + rng.uniform(0.0, min(ceiling, retry_after * 0.1 + 0.01))
    return delay


class RetryingModel(LanguageModel):
    """Retry transient failures of ``model``.

    Args:
        model: the model to wrap (usually the rate-limited adapter, so a waiting retry holds no slot).
        max_retries: retries after the first attempt.
        backoff_s: the first backoff ceiling (doubled each retry).
        max_backoff_s: the largest backoff ceiling.
        sleep: how to wait (tests pass a recorder).
    """

    def __init__(
        self,
        model: LanguageModel,
        max_retries: int = 4,
        backoff_s: float = 0.5,
        max_backoff_s: float = 20.0,
        sleep: Callable[[float], Any] | None = None,
    ) -> None:
        self.model = model
        self.name = model.name
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._sleep = sleep or asyncio.sleep
        self._rng = random.Random()
        self.retries = 0  # retries made, over the wrapper's life (a metric)

    def __getstate__(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "max_retries": self.max_retries,
            "backoff_s": self.backoff_s,
            "max_backoff_s": self.max_backoff_s,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        attempt = 0
        while True:
            try:
                return await self.model.complete(request)
            except ModelTransientError as err:
                attempt += 1
                if attempt > self.max_retries:
                    raise ModelTransientError(
                        f"{err.message} (gave up after {attempt} attempts)", **{**err.details, "attempts": attempt}
                    ) from None
                self.retries += 1
                await self._sleep(
                    backoff_delay(
                        attempt, self.backoff_s, self.max_backoff_s, err.details.get("retry_after"), self._rng
                    )
                )


class CircuitBreaker(LanguageModel):
    """Fail fast while ``model`` keeps failing (see the module docstring).

    Args:
        model: the model to guard (usually the retrying one: only failures after retries count).
        failures: consecutive failures that open the breaker (0: never opens).
        cooldown_s: how long it stays open before a trial call.
        clock: seconds, monotonic (tests pass a fake).
    """

    def __init__(
        self,
        model: LanguageModel,
        failures: int = 20,
        cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.model = model
        self.name = model.name
        self.failures = failures
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._consecutive = 0
        self._opened_at: float | None = None
        self._trial = False

    def __getstate__(self) -> dict[str, Any]:
        return {"model": self.model, "failures": self.failures, "cooldown_s": self.cooldown_s}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half-open`` (a trial call may pass)."""
        if self._opened_at is None:
            return "closed"
        return "open" if self._clock() - self._opened_at < self.cooldown_s else "half-open"

    async def complete(self, request: ModelRequest) -> ModelResponse:
        state = self.state
        if state == "open" or (state == "half-open" and self._trial):
            raise CircuitOpenError(
                f"{self.name}: circuit breaker open after {self._consecutive} failures in a row",
                model=self.name,
                failures=self._consecutive,
            )
        self._trial = state == "half-open"
        try:
            response = await self.model.complete(request)
        except ModelError:
            self._consecutive += 1
            if self.failures and (self._consecutive >= self.failures or self._trial):
                self._opened_at = self._clock()
            self._trial = False
            raise
        self._consecutive, self._opened_at, self._trial = 0, None, False
        return response


class FailurePolicy(LanguageModel):
    """Apply the session's ``on_model_failure``: ``fallback`` passes failures on, ``fail`` stops the turn.

    Args:
        model: the model to wrap.
        mode: ``fallback`` or ``fail``.
    """

    def __init__(self, model: LanguageModel, mode: str = "fallback") -> None:
        self.model = model
        self.name = model.name
        self.mode = mode

    def _failed(self, request: ModelRequest, err: ModelError) -> ModelFailedError:
        return ModelFailedError(
            f"the {request.purpose} call of {request.agent} on turn {request.turn} failed "
            f"and on_model_failure is 'fail': {err.message}",
            agent=request.agent,
            turn=request.turn,
            cause=type(err).__name__,
        )

    async def complete(self, request: ModelRequest) -> ModelResponse:
        try:
            return await self.model.complete(request)
        except ModelError as err:
            if self.mode != "fail":
                raise
            raise self._failed(request, err) from None

    async def complete_many(self, requests: Sequence[ModelRequest]) -> list[ModelResponse | BaseException]:
        # delegate the batch, so the wrappers inside (the call recorder) see it as one
        out = await self.model.complete_many(requests)
        if self.mode == "fail":
            out = [self._failed(r, x) if isinstance(x, ModelError) else x for r, x in zip(requests, out)]
        return out
