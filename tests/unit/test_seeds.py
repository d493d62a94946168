"""Seeds have one documented range, 0 <= seed < 2**63 (SEED_LIMIT), checked everywhere a seed enters."""

from __future__ import annotations

import pytest
import yaml

from novel_engine.config import SEED_LIMIT, parse_settings
from novel_engine.core.rng import check_seed
from novel_engine.errors import ConfigError, NovelEngineError, ScenarioError

TOO_BIG = 99999999999999999999999  # the seed of the report: an OverflowError from SQLite before


def test_the_range_is_what_the_stores_can_keep():
    assert SEED_LIMIT == 2**63  # a signed 64-bit integer: SQLite INTEGER, PostgreSQL BIGINT
    for ok in (0, 7, SEED_LIMIT - 1):
        assert check_seed(ok) == ok
    for bad in (-1, SEED_LIMIT, TOO_BIG, True, "7", 7.0, None):
        with pytest.raises(ConfigError) as err:
            check_seed(bad)
        assert err.value.details["setting"] == "seed" and "seed" in err.value.message


def test_settings_and_sessions_refuse_a_seed_out_of_range(tmp_path):
    from novel_engine import Engine

    with pytest.raises(ConfigError, match=r"seed: must be between 0 and 2\*\*63 - 1"):
        parse_settings(None, seed=TOO_BIG)
    with Engine(store=f"sqlite:///{tmp_path / 'state.db'}") as engine:
        with pytest.raises(ConfigError, match="seed"):
            engine.create_session("fantasy_world", seed=-5)
        with pytest.raises(ConfigError, match="seed"):
            engine.create_session("fantasy_world", seed=TOO_BIG)
        assert engine.stored_sessions() == []  # nothing was stored for the refused ones
        # the largest seed is stored and played (SQLite keeps it exactly)
        session = engine.create_session("fantasy_world", seed=SEED_LIMIT - 1)
        session.run(2)
        assert [r.seed for r in engine.stored_sessions()] == [SEED_LIMIT - 1]
        assert engine.resume(session.id).seed == SEED_LIMIT - 1
        with pytest.raises(ConfigError, match="seed"):
            session.fork(seed=SEED_LIMIT)


def test_a_scenario_file_with_a_seed_out_of_range_names_the_field(tmp_path):
    from novel_engine.scenarios import load_scenario

    data = load_scenario("fantasy_world").model_dump(mode="json", exclude_none=True)
    data["seed"] = TOO_BIG
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert [(e.path, e.message) for e in err.value.errors] == [
        ("seed", f"must be between 0 and 2**63 - 1 ({SEED_LIMIT - 1}), got {TOO_BIG}")
    ]


def test_synthetic_worlds_check_their_seed_too():
    from novel_engine.scenarios import synthetic

    assert synthetic(5, seed=SEED_LIMIT - 1).seed == SEED_LIMIT - 1
    for bad in (-1, SEED_LIMIT):
        with pytest.raises(NovelEngineError, match="seed"):
            synthetic(5, seed=bad)
