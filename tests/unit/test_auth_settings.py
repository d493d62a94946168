"""AuthSettings: the server refuses a missing, placeholder or weak signing secret unless in dev mode."""

from __future__ import annotations

import logging

import pytest

from novel_engine.errors import ConfigError
from serve_app.security import AuthSettings

GOOD = "Zp4Kx9Lq2Rv7Tw1Ys6Ub3Nc8Md5Fe0Gh-aA"


@pytest.mark.parametrize(
    "secret, why",
    [
        (None, "not set"),
        ("", "not set"),
        ("changeme", "placeholder"),
        ("your-super-secure-secret-key", "placeholder"),
        ("please-change-me-before-going-to-production", "placeholder"),
        ("a-short-secret", "too short"),
        ("ab" * 20, "repetitive"),
    ],
)
def test_weak_secrets_are_refused_outside_dev_mode(secret, why):
    env = {} if secret is None else {"NOVEL_ENGINE_JWT_SECRET": secret}
    with pytest.raises(ConfigError) as err:
        AuthSettings.from_env(env=env)
    assert why in err.value.message and "NOVEL_ENGINE_JWT_SECRET" in err.value.message
    assert err.value.details["setting"] == "NOVEL_ENGINE_JWT_SECRET"
    if secret:
        assert secret not in err.value.message  # the refusal does not echo the secret


def test_a_good_secret_and_numbers_are_read():
    s = AuthSettings.from_env(
        env={
            "NOVEL_ENGINE_JWT_SECRET": GOOD,
            "NOVEL_ENGINE_TOKEN_TTL_S": "120",
            "NOVEL_ENGINE_RATE_LIMIT_PER_MINUTE": "30",
        }
    )
    assert (s.jwt_secret, s.token_ttl_s, s.rate_limit_per_minute, s.dev_mode) == (GOOD, 120, 30, False)
    assert GOOD not in repr(s)


@pytest.mark.parametrize(
    "var, value", [("NOVEL_ENGINE_TOKEN_TTL_S", "soon"), ("NOVEL_ENGINE_RATE_LIMIT_PER_MINUTE", "0")]
)
def test_bad_numbers_name_the_variable(var, value):
    with pytest.raises(ConfigError) as err:
        AuthSettings.from_env(env={"NOVEL_ENGINE_JWT_SECRET": GOOD, var: value})
    assert var in err.value.message


def test_dev_mode_starts_with_a_random_secret_and_says_so_loudly(caplog):
    with caplog.at_level(logging.WARNING, logger="serve_app.security.settings"):
        a = AuthSettings.from_env(dev_mode=True, env={})
        b = AuthSettings.from_env(dev_mode=True, env={})
    assert a.dev_mode and len(a.jwt_secret) >= 32 and a.jwt_secret != b.jwt_secret
    assert "DEV MODE" in caplog.text and "NOVEL_ENGINE_JWT_SECRET" in caplog.text


def test_direct_construction_is_checked_too():
    with pytest.raises(ConfigError):
        AuthSettings(jwt_secret="secret")
    assert AuthSettings(jwt_secret="secret", dev_mode=True).jwt_secret == "secret"
