"""Store settings: the checkpoint period by cast size, and settings read from the environment."""

from __future__ import annotations

import pytest

from novel_engine.errors import ConfigError
from novel_engine.storage.settings import StoreSettings, auto_checkpoint_every


def test_casts_checkpoint_every_five_turns_large_ones_less_often_but_at_least_every_ten():
    assert [auto_checkpoint_every(n) for n in (0, 4, 100, 1000, 5000)] == [5, 5, 5, 5, 5]
    assert [auto_checkpoint_every(n) for n in (5001, 7500, 10_000, 100_000)] == [6, 8, 10, 10]


def test_checkpoint_period_and_sql_tail_are_validated(tmp_path):
    env = {"NOVEL_ENGINE_DATA_DIR": str(tmp_path)}
    assert StoreSettings.from_env(env).checkpoint_every == 0
    assert StoreSettings.from_env({**env, "NOVEL_ENGINE_CHECKPOINT_EVERY": "4"}).checkpoint_every == 4
    with pytest.raises(ConfigError, match="NOVEL_ENGINE_CHECKPOINT_EVERY"):
        StoreSettings.from_env({**env, "NOVEL_ENGINE_CHECKPOINT_EVERY": "often"})
    with pytest.raises(ConfigError, match="sql_event_tail"):
        StoreSettings("sqlite://", sql_event_tail=-1).validated()
    with pytest.raises(ConfigError, match="checkpoint_every"):
        StoreSettings("sqlite://", checkpoint_every=-2).validated()
