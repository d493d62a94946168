"""Seeded random streams derived from (seed, turn, agent, purpose).

No code in the engine touches the global ``random`` module. Every draw is a pure function of the
session seed and a key naming *who* draws *what* and *when*. That makes a story independent of the
order in which shards or actors answer, of the shard count and of the runtime.

A draw hashes its key with BLAKE2b (keyed by the seed), which costs about a microsecond: cheap
enough to call per persona per turn at a hundred thousand personas.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from typing import TypeVar

from novel_engine.errors import ConfigError

__all__ = ["SEED_LIMIT", "RandomStreams", "check_seed", "seed_problem", "stable_hash"]

T = TypeVar("T")
_SCALE = 1.0 / float(1 << 64)

#: Session seeds are whole numbers with ``0 <= seed < SEED_LIMIT``: the stores keep them as signed
#: 64-bit integers (SQLite INTEGER, PostgreSQL BIGINT), so a larger one could not be stored. The CLI,
#: the Python API, scenario files and the HTTP API all check against this one constant.
SEED_LIMIT = 2**63


def seed_problem(seed: object) -> str | None:
    """What is wrong with ``seed`` as a session seed, or None when it is a valid one."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        return f"must be a whole number, got {seed!r}"
    if not 0 <= seed < SEED_LIMIT:
        return f"must be between 0 and 2**63 - 1 ({SEED_LIMIT - 1}), got {seed}"
    return None


def check_seed(seed: object, setting: str = "seed") -> int:
    """Return ``seed`` if it is a valid session seed (``0 <= seed < SEED_LIMIT``).

    Raises:
        ConfigError: it is not a whole number in that range; the message names ``setting``.
    """
    problem = seed_problem(seed)
    if problem is not None:
        raise ConfigError(f"{setting}: {problem}", setting=setting, value=repr(seed))
    return seed  # type: ignore[return-value]


def stable_hash(text: str) -> int:
    """Return a 64-bit hash of ``text`` that is the same in every process (unlike ``hash``)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


class RandomStreams:
    """Deterministic random numbers keyed by (turn, agent, purpose) under one session seed.

    Args:
        seed: the session seed (any int).
    """

    __slots__ = ("seed", "_key")

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._key = hashlib.blake2b(str(self.seed).encode(), digest_size=16).digest()

    def _bits(self, turn: int, agent: str, purpose: str, index: int) -> int:
        material = f"{turn}|{agent}|{purpose}|{index}".encode()
        return int.from_bytes(hashlib.blake2b(material, digest_size=8, key=self._key).digest(), "big")

    def uniform(self, turn: int, agent: str, purpose: str, index: int = 0) -> float:
        """Return a float in [0, 1) for this key; the same key always gives the same number."""
        return self._bits(turn, agent, purpose, index) * _SCALE

    def chance(self, probability: float, turn: int, agent: str, purpose: str, index: int = 0) -> bool:
        """Return True with the given probability (clamped to [0, 1]) for this key."""
        return self.uniform(turn, agent, purpose, index) < probability

    def choice(self, options: Sequence[T], turn: int, agent: str, purpose: str, index: int = 0) -> T:
        """Pick one of ``options`` for this key. Raises IndexError on an empty sequence."""
        if not options:
            raise IndexError("choice from an empty sequence")
        return options[self._bits(turn, agent, purpose, index) % len(options)]

    def stream(self, turn: int, agent: str, purpose: str) -> random.Random:
        """Return a private ``random.Random`` for many draws under one key (e.g. a grammar)."""
        return random.Random(self._bits(turn, agent, purpose, 0))
