"""The StateStore contract for the security layer's calls: insert-only users and listing a user's keys.

Both live in the SQL part of the store, so they run against the two SQL backends (embedded SQLite
and PostgreSQL); Redis and S3 do not take part in them.
"""

from __future__ import annotations

import uuid

import pytest

from novel_engine.errors import ConflictError, NotFoundError


@pytest.fixture(params=["embedded", "postgresql"])
def backend(request) -> str:
    """Only the SQL backends (overrides the suite-wide parametrisation for this module)."""
    return request.param


@pytest.fixture
def sql_runner(runner):
    return runner


def sid() -> str:
    """An id unique across runs (PostgreSQL keeps its rows between runs)."""
    return f"t-{uuid.uuid4().hex[:12]}"


def test_create_user_is_insert_only(sql_runner):
    u = sid()
    sql_runner.call(lambda st: st.create_user(u, {"username": "ada", "n": 1}))
    assert sql_runner.call(lambda st: st.get_user(u)) == {"username": "ada", "n": 1}
    with pytest.raises(ConflictError) as err:
        sql_runner.call(lambda st: st.create_user(u, {"username": "ada", "n": 2}))
    assert err.value.details["user_id"] == u
    assert sql_runner.call(lambda st: st.get_user(u))["n"] == 1  # the first user is untouched
    with pytest.raises(NotFoundError):
        sql_runner.call(lambda st: st.get_user(u + "-other"))


def test_list_api_keys_returns_only_that_users_keys(sql_runner):
    alice, bob = sid(), sid()
    sql_runner.call(lambda st: st.put_api_key(f"h2-{alice}", alice, {"id": "k2"}))
    sql_runner.call(lambda st: st.put_api_key(f"h1-{alice}", alice, {"id": "k1"}))
    sql_runner.call(lambda st: st.put_api_key(f"h3-{bob}", bob, {"id": "k3"}))
    assert sql_runner.call(lambda st: st.list_api_keys(alice)) == [
        (f"h1-{alice}", {"id": "k1"}),
        (f"h2-{alice}", {"id": "k2"}),
    ]
    # Replacing a key's data (how a revocation is recorded) shows in the listing.
    sql_runner.call(lambda st: st.put_api_key(f"h1-{alice}", alice, {"id": "k1", "revoked_at": "now"}))
    assert sql_runner.call(lambda st: st.list_api_keys(alice))[0][1] == {"id": "k1", "revoked_at": "now"}
    assert sql_runner.call(lambda st: st.list_api_keys(sid())) == []
