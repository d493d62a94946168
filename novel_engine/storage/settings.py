"""Where state goes, configured by URL and validated at start.

Three settings, each an environment variable and a CLI flag:

- ``NOVEL_ENGINE_DATABASE_URL`` (``--database-url``): ``sqlite:///path/state.db`` (the default,
  under the data folder), ``sqlite://`` (in memory) or ``postgresql://user@host:5432/db``.
- ``NOVEL_ENGINE_REDIS_URL`` (``--redis-url``): ``redis://host:6379/0``; unset keeps the cache,
  fan-out and counters in process.
- ``NOVEL_ENGINE_OBJECT_STORE_URL`` (``--object-store-url``): ``file:///path`` (the default, under
  the data folder), ``memory://prefix`` or ``s3://bucket/prefix``. S3 takes its endpoint from
  ``NOVEL_ENGINE_S3_ENDPOINT`` (or ``AWS_ENDPOINT_URL``) and credentials from the usual
  ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_DEFAULT_REGION``.

The data folder is ``NOVEL_ENGINE_DATA_DIR`` or ``./.novel-engine``. ``NOVEL_ENGINE_CHECKPOINT_EVERY``
sets the checkpoint period in turns (default 0: chosen by cast size).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from novel_engine.errors import ConfigError

__all__ = ["StoreSettings", "data_dir", "auto_checkpoint_every"]

ENV_DATA_DIR = "NOVEL_ENGINE_DATA_DIR"
ENV_DATABASE = "NOVEL_ENGINE_DATABASE_URL"
ENV_REDIS = "NOVEL_ENGINE_REDIS_URL"
ENV_OBJECTS = "NOVEL_ENGINE_OBJECT_STORE_URL"
ENV_S3_ENDPOINT = "NOVEL_ENGINE_S3_ENDPOINT"
ENV_CHECKPOINT_EVERY = "NOVEL_ENGINE_CHECKPOINT_EVERY"

#: casts of n personas are checkpointed every ``ceil(n / this)`` turns (within the bounds below)
CHECKPOINT_CAST_STEP = 1000
#: the shortest gap between checkpoints chosen automatically
MIN_AUTO_CHECKPOINT_EVERY = 5
#: the longest gap between checkpoints chosen automatically (a resume replays at most this many turns)
MAX_AUTO_CHECKPOINT_EVERY = 10


def auto_checkpoint_every(personas: int) -> int:
    """The checkpoint period chosen for a cast of ``personas`` when ``checkpoint_every`` is 0.

    A checkpoint costs about as much as a turn (capture, JSON, compression), while a resume
    replays the turns since the last one (each cheaper than a turn: the model's answers are
    recorded). Casts up to 5,000 checkpoint every :data:`MIN_AUTO_CHECKPOINT_EVERY` turns; a cast
    of n more every ``ceil(n / 1000)`` turns, at most 10. That keeps the checkpoint cost near a
    fifth of the turn time and a resume under ten replayed turns. (Small casts checkpointed every
    turn before: under load that was half of a session host's work.)
    """
    return max(MIN_AUTO_CHECKPOINT_EVERY, min(MAX_AUTO_CHECKPOINT_EVERY, -(-personas // CHECKPOINT_CAST_STEP)))


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    """The folder of the embedded store: ``NOVEL_ENGINE_DATA_DIR`` or ``./.novel-engine``."""
    env = os.environ if env is None else env
    return Path(env.get(ENV_DATA_DIR) or ".novel-engine").expanduser().resolve()


@dataclass(frozen=True)
class StoreSettings:
    """The three state URLs, plus tuning knobs.

    Attributes:
        database_url: the SQL store (sessions, turns, events, checkpoints, users, keys, audit log).
        redis_url: the hot store (cache, fan-out, counters); None keeps them in process.
        object_store_url: large objects (Parquet archives, large checkpoints, exports).
        s3_endpoint: the S3 endpoint for ``s3://`` object stores (None: AWS itself).
        checkpoint_every: a checkpoint every N turns (between two, resume replays the turns from
            their recorded inputs); 0 chooses by cast size (see :func:`auto_checkpoint_every`).
        archive_every: archive events as Parquet every N turns (0: never).
        sql_event_tail: how many of the newest *archived* events SQL keeps; older archived events
            are deleted from SQL in the transaction that records their archive, so SQL holds a
            bounded tail while reads (``events``, ``events_table``) still see the whole session.
        large_checkpoint_bytes: checkpoints larger than this go to the object store.
        cache_ttl_s: how long a cached session record may be served.
    """

    database_url: str
    redis_url: str | None = None
    object_store_url: str | None = None
    s3_endpoint: str | None = None
    checkpoint_every: int = 0
    archive_every: int = 10
    sql_event_tail: int = 10_000
    large_checkpoint_bytes: int = 1 << 20
    cache_ttl_s: int = 300

    @classmethod
    def embedded(cls, folder: str | os.PathLike | None = None) -> StoreSettings:
        """The no-server default: SQLite file and local object folder under ``folder``."""
        root = Path(folder).expanduser().resolve() if folder else data_dir()
        return cls(database_url=f"sqlite:///{root / 'state.db'}", object_store_url=(root / "objects").as_uri())

    @classmethod
    def memory(cls) -> StoreSettings:
        """Everything in this process (tests, throwaway sessions): in-memory SQLite and objects."""
        return cls(database_url="sqlite://", object_store_url="memory://novel-engine")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **flags: str | None) -> StoreSettings:
        """Read the environment, let non-None ``flags`` (CLI values) override it, and validate.

        Raises:
            ConfigError: naming the bad setting and how to fix it.
        """
        env = os.environ if env is None else env
        base = cls.embedded(data_dir(env))
        every = env.get(ENV_CHECKPOINT_EVERY, "").strip()
        if every and not every.isdigit():
            raise ConfigError(
                f"{ENV_CHECKPOINT_EVERY}: expected a whole number of turns (0: by cast size), got {every!r}",
                setting=ENV_CHECKPOINT_EVERY,
            )
        base = replace(base, checkpoint_every=int(every or 0))
        s = replace(
            base,
            database_url=flags.get("database_url") or env.get(ENV_DATABASE) or base.database_url,
            redis_url=flags.get("redis_url") or env.get(ENV_REDIS) or None,
            object_store_url=flags.get("object_store_url") or env.get(ENV_OBJECTS) or base.object_store_url,
            s3_endpoint=env.get(ENV_S3_ENDPOINT) or env.get("AWS_ENDPOINT_URL") or None,
        )
        return s.validated()

    def validated(self) -> StoreSettings:
        """Return self after checking every URL; raise ``ConfigError`` naming the bad one."""
        db = urlsplit(self.database_url or "")
        if db.scheme not in ("sqlite", "postgresql", "postgres"):
            raise ConfigError(
                f"{ENV_DATABASE}: unsupported URL {self.database_url!r}; use sqlite:///path/to/state.db, "
                "sqlite:// (in memory) or postgresql://user@host:5432/dbname",
                setting=ENV_DATABASE,
            )
        if db.scheme.startswith("postgres") and not db.hostname:
            raise ConfigError(
                f"{ENV_DATABASE}: {self.database_url!r} names no host; use postgresql://user@host:5432/dbname",
                setting=ENV_DATABASE,
            )
        if db.scheme == "sqlite" and db.netloc:
            raise ConfigError(
                f"{ENV_DATABASE}: {self.database_url!r} has a host part; a SQLite URL has three "
                "slashes before the path: sqlite:///path/to/state.db",
                setting=ENV_DATABASE,
            )
        if self.redis_url is not None:
            r = urlsplit(self.redis_url)
            if r.scheme not in ("redis", "rediss") or not r.hostname:
                raise ConfigError(
                    f"{ENV_REDIS}: unsupported URL {self.redis_url!r}; use redis://host:6379/0 "
                    "or leave it unset to keep cache and fan-out in process",
                    setting=ENV_REDIS,
                )
        if self.object_store_url is not None:
            o = urlsplit(self.object_store_url)
            if o.scheme not in ("file", "s3", "memory"):
                raise ConfigError(
                    f"{ENV_OBJECTS}: unsupported URL {self.object_store_url!r}; use "
                    "file:///path, s3://bucket/prefix or memory://name",
                    setting=ENV_OBJECTS,
                )
            if o.scheme == "s3" and not o.netloc:
                raise ConfigError(
                    f"{ENV_OBJECTS}: {self.object_store_url!r} names no bucket; use s3://bucket/prefix",
                    setting=ENV_OBJECTS,
                )
        for name in ("large_checkpoint_bytes", "cache_ttl_s"):
            if getattr(self, name) < 1:
                raise ConfigError(f"store setting {name} must be 1 or more, got {getattr(self, name)}", setting=name)
        for name, zero in (
            ("archive_every", "never"),
            ("checkpoint_every", "by cast size"),
            ("sql_event_tail", "keep no archived event in SQL"),
        ):
            if getattr(self, name) < 0:
                raise ConfigError(
                    f"store setting {name} must be 0 ({zero}) or more, got {getattr(self, name)}", setting=name
                )
        return self

    def describe(self) -> str:
        """The URLs without passwords, for logs and progress lines."""

        def clean(url: str | None) -> str | None:
            if not url:
                return url
            u = urlsplit(url)
            if u.password:
                return url.replace(f":{u.password}@", ":***@")
            return url

        return (
            f"database={clean(self.database_url)} redis={clean(self.redis_url)} objects={clean(self.object_store_url)}"
        )
