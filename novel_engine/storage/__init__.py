"""The state-store port and its backends (embedded SQLite, PostgreSQL, Redis, object stores).

Only the embedded path is imported eagerly; asyncpg, redis, s3fs and pyarrow load when a URL
asks for them.
"""

from novel_engine.storage.manager import UnifiedStateManager, open_store
from novel_engine.storage.port import EventRecord, SessionRecord, StateStore, TurnCommit, TurnRecord
from novel_engine.storage.runner import StoreRunner
from novel_engine.storage.settings import StoreSettings, data_dir

__all__ = [
    "StateStore",
    "UnifiedStateManager",
    "open_store",
    "StoreRunner",
    "StoreSettings",
    "data_dir",
    "SessionRecord",
    "TurnCommit",
    "TurnRecord",
    "EventRecord",
]
