"""The one exception tree of Novel Engine.

Every error the engine raises on purpose derives from :class:`NovelEngineError`. Errors carry
structured fields (not only a message) and stay picklable, so they survive crossing Ray actors
and can be rendered as a clear message for a person or as JSON for an API client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "NovelEngineError",
    "ConfigError",
    "FieldError",
    "ScenarioError",
    "UnknownScenarioError",
    "ModelError",
    "ModelOutputError",
    "ModelTransientError",
    "CircuitOpenError",
    "ReplayMissError",
    "ModelFailedError",
    "InvalidActionError",
    "StateLostError",
    "SessionError",
    "StoreError",
    "ConflictError",
    "NotFoundError",
    "CheckpointError",
    "InvalidInputError",
    "AuthenticationError",
    "PermissionDeniedError",
    "RateLimitedError",
    "BenchmarkError",
]


class NovelEngineError(Exception):
    """Root of every error the engine raises deliberately.

    Args:
        message: what went wrong, in words a user understands.
        **details: structured context (kept in ``self.details``) for logs and API clients.
    """

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __reduce__(self):  # keep structured fields when pickled across processes
        return (_rebuild, (type(self), self.message, self.details))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly description of the error."""
        return {"type": type(self).__name__, "message": self.message, **self.details}


def _rebuild(cls: type[NovelEngineError], message: str, details: dict[str, Any]) -> NovelEngineError:
    err = cls.__new__(cls)
    NovelEngineError.__init__(err, message, **details)
    for key, value in details.items():
        if not hasattr(err, key):
            setattr(err, key, value)
    return err


class ConfigError(NovelEngineError):
    """A setting is missing or invalid; the message names the setting and how to fix it."""


@dataclass(frozen=True)
class FieldError:
    """One validation problem: where it is (a path such as ``personas[2].traits.courage``) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ScenarioError(NovelEngineError):
    """A scenario file or object is invalid. ``errors`` lists every problem with its path."""

    def __init__(self, message: str, errors: list[FieldError] | None = None, source: str | None = None) -> None:
        super().__init__(message, errors=list(errors or []), source=source)
        self.errors = list(errors or [])
        self.source = source

    def __reduce__(self):
        return (type(self), (self.message, self.errors, self.source))

    def __str__(self) -> str:
        head = f"{self.source}: {self.message}" if self.source else self.message
        if not self.errors:
            return head
        return head + "\n" + "\n".join(f"  - {e}" for e in self.errors)


class UnknownScenarioError(ScenarioError):
    """A scenario name is neither a built-in scenario nor an existing file."""


class ModelError(NovelEngineError):
    """A language model call failed (transport, quota, timeout...)."""


class ModelOutputError(ModelError):
    """A language model answered, but its output does not fit the requested schema."""


class ModelTransientError(ModelError):
    """A call failed in a way worth retrying: 429, a 5xx, a timeout or a lost connection.

    ``status`` is the HTTP status (None for a timeout), ``retry_after`` the seconds the server
    asked to wait (None when it did not say).
    """


class CircuitOpenError(ModelError):
    """The circuit breaker is open after repeated failures: the call was not attempted."""


class ModelFailedError(NovelEngineError):
    """A model call failed for good and the session's ``on_model_failure`` is ``fail``: the turn stops.

    Deliberately not a :class:`ModelError`, so the agents' per-call fallback does not absorb it.
    """


class ReplayMissError(ModelFailedError):
    """Replay found no recorded response for a request: the replay cannot be exact, so the turn
    stops (whatever ``on_model_failure`` says) instead of falling back."""


class InvalidActionError(NovelEngineError):
    """A player action or world event names an unknown agent, action type or target."""


class SessionError(NovelEngineError):
    """A session operation is not possible in the session's current state."""


class StateLostError(SessionError):
    """An actor of a Ray session restarted and lost its state (it is not at the turn it should be).

    ``turn`` is the turn the actor was asked for, ``have`` the turn its state is at. The session
    must be restored from its last committed checkpoint before it can go on.
    """


class StoreError(NovelEngineError):
    """The state store failed (unreachable server, lost connection, bad schema version...).

    ``backend`` names the backend (``sqlite``, ``postgresql``, ``redis``, ``object_store``); the
    operation that raised it changed nothing that was not already committed.
    """


class ConflictError(StoreError):
    """Another writer changed the session first (optimistic versioning); reload and retry.

    ``session_id``, ``expected`` (the version this writer started from) and ``actual`` say which.
    """


class NotFoundError(StoreError):
    """The store holds no record by that key (session, checkpoint, object, user...)."""


class CheckpointError(NovelEngineError):
    """A checkpoint cannot be read or restored (unknown format, corrupt or malformed data)."""


class InvalidInputError(NovelEngineError):
    """A request field is invalid (HTTP 422); ``field`` names it and the message says what is wrong."""


class AuthenticationError(NovelEngineError):
    """Missing, malformed, expired, tampered or revoked credentials, or a wrong username or password
    (HTTP 401). ``reason`` is a short code for logs (``missing``, ``expired``, ``invalid``, ``revoked``...);
    the message never says whether a username exists.
    """


class PermissionDeniedError(NovelEngineError):
    """The caller is authenticated but may not do this, e.g. act in another user's session (HTTP 403)."""


class RateLimitedError(NovelEngineError):
    """Too many requests in the current window (HTTP 429); retry after ``retry_after`` seconds.

    Args:
        message: what was limited.
        retry_after: whole seconds until the window resets (at least 1).
    """

    def __init__(self, message: str, retry_after: int = 1, **details: Any) -> None:
        super().__init__(message, retry_after=retry_after, **details)
        self.retry_after = retry_after


class BenchmarkError(NovelEngineError):
    """A benchmark's worker process failed; the message carries the worker's own error output."""
