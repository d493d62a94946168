"""What the HTTP adapters share: classifying failures, reading Retry-After, token estimates.

A failure worth retrying (429, 408, any 5xx, a timeout, a lost connection) becomes
:class:`~novel_engine.errors.ModelTransientError` carrying the status and the server's Retry-After;
anything else (400, 401, 403, 404...) is a plain :class:`~novel_engine.errors.ModelError` that no
retry will fix. Only :class:`~novel_engine.llm.resilience.RetryingModel` retries: the adapters
switch their clients' own retries off, so one wrapper counts every attempt.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from novel_engine.errors import ModelError, ModelTransientError

__all__ = [
    "RETRYABLE_STATUS",
    "parse_retry_after",
    "http_failure",
    "timeout_failure",
    "estimate_tokens",
    "parse_structured",
]

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER_S = 600.0  # a server asking for more is treated as asking for this


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: a number of seconds or an HTTP date (None if absent
    or unreadable). Fractional seconds are accepted, as some gateways send them."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def http_failure(provider: str, status: int, message: str, headers: Mapping[str, Any] | None = None) -> ModelError:
    """The error for an HTTP status from ``provider``: transient (retried) or final."""
    retry_after = parse_retry_after((headers or {}).get("retry-after") or (headers or {}).get("Retry-After"))
    text = f"{provider} answered HTTP {status}: {message[:300]}".rstrip(": ")
    if status in RETRYABLE_STATUS:
        return ModelTransientError(text, provider=provider, status=status, retry_after=retry_after)
    return ModelError(text, provider=provider, status=status)


def timeout_failure(provider: str, what: str) -> ModelTransientError:
    """The error for a call that timed out or lost its connection (retried)."""
    return ModelTransientError(f"{provider}: {what}", provider=provider, status=None, retry_after=None)


def estimate_tokens(*texts: str) -> int:
    """A rough token count (about four characters a token) for quota accounting before a call."""
    return max(1, sum(len(t) for t in texts) // 4)


def parse_structured(text: str, schema: type[BaseModel] | None) -> BaseModel | None:
    """The answer parsed against ``schema``, or None when it does not fit (the agent then repairs)."""
    if schema is None or not text:
        return None
    try:
        return schema.model_validate_json(text)
    except ValidationError:
        return None
