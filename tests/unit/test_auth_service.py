"""AuthService: logins, tokens, API keys, rate limits and the audit trail, on an in-process store."""

from __future__ import annotations

import asyncio
import base64
import json
import types

import jwt
import pytest
from argon2 import PasswordHasher, profiles

from novel_engine.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
)
from novel_engine.storage import StoreRunner, open_store
from serve_app.security import AuthService, AuthSettings, Principal

SECRET = "x7Qp2Lr9Vt4Wm8Zk3Nb6Yc1Hd5Jf0Gs-test-only"
T0 = 1_800_000_000.0  # a whole minute, so window arithmetic below is exact
PASSWORD = "correct horse battery"


class Clock:
    """A settable clock (seconds since the epoch)."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def cheap_hasher() -> PasswordHasher:
    return PasswordHasher.from_parameters(profiles.CHEAPEST)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    c = Clock()
    # The in-process hot store windows its counters on the wall clock: give it the test clock,
    # so a minute boundary can never fall inside a test.
    import novel_engine.storage.hot as hot

    monkeypatch.setattr(hot, "time", types.SimpleNamespace(time=c, monotonic=hot.time.monotonic))
    return c


def run(clock: Clock, scenario, **settings):
    """Run ``scenario(auth, store)`` against a fresh in-memory store."""

    async def main():
        store = open_store("memory")
        await store.open()
        try:
            auth = AuthService(
                store, AuthSettings(jwt_secret=SECRET, **settings), clock, password_hasher=cheap_hasher()
            )
            return await scenario(auth, store)
        finally:
            await store.close()

    return asyncio.run(main())


def test_login_returns_a_token_that_authenticates(clock):
    async def scenario(auth, _):
        user_id = await auth.create_user("Ada@Example.com", PASSWORD)
        answer = await auth.login("ada@example.com", PASSWORD)
        who = await auth.authenticate(answer["access_token"])
        return user_id, answer, who

    user_id, answer, who = run(clock, scenario, token_ttl_s=900)
    assert answer["token_type"] == "bearer" and answer["expires_in"] == 900
    assert answer["expires_at"] == "2027-01-15T08:15:00+00:00"  # T0 + 900 s, UTC
    assert who == Principal(user_id, "ada@example.com", "jwt", None)


def test_bad_password_and_unknown_user_get_the_same_error(clock):
    async def scenario(auth, store):
        await auth.create_user("ada", PASSWORD)
        errors = []
        for name, pw in (("ada", "wrong password"), ("nobody", PASSWORD), ("x", PASSWORD)):
            with pytest.raises(AuthenticationError) as err:
                await auth.login(name, pw)
            errors.append((err.value.message, err.value.details))
        return errors, await store.audit_log()

    errors, log = run(clock, scenario)
    assert errors[0] == errors[1] == errors[2] == ("wrong username or password", {"reason": "bad_credentials"})
    failed = [e for e in log if e["action"] == "login_failed"]
    assert [e["actor"] for e in failed] == ["ada", "nobody", "x"]


def test_tokens_expire_on_the_injected_clock(clock):
    async def scenario(auth, _):
        await auth.create_user("ada", PASSWORD)
        token = (await auth.login("ada", PASSWORD))["access_token"]
        clock.now = T0 + 59
        assert (await auth.authenticate(token)).username == "ada"
        clock.now = T0 + 60
        with pytest.raises(AuthenticationError) as err:
            await auth.authenticate(token)
        return err.value

    err = run(clock, scenario, token_ttl_s=60)
    assert err.details["reason"] == "expired" and "expired" in err.message


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_tampered_and_foreign_tokens_are_rejected(clock):
    async def scenario(auth, _):
        await auth.create_user("ada", PASSWORD)
        token = (await auth.login("ada", PASSWORD))["access_token"]
        head, body, sig = token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        forged = [
            ".".join((head, _b64({**claims, "sub": "u_someone_else"}), sig)),  # payload changed, old signature
            token[:-2] + ("AA" if not token.endswith("AA") else "BB"),  # signature changed
            jwt.encode(claims, "another-secret-that-is-long-enough-1234", algorithm="HS256"),
            ".".join((_b64({"alg": "none", "typ": "JWT"}), body, "")),  # unsigned
            "not-a-token",
        ]
        reasons = []
        for bad in forged:
            with pytest.raises(AuthenticationError) as err:
                await auth.authenticate(bad)
            reasons.append(err.value.details["reason"])
        return reasons

    assert run(clock, scenario) == ["invalid"] * 5


def test_api_keys_are_created_listed_used_and_revoked(clock):
    async def scenario(auth, store):
        uid = await auth.create_user("ada", PASSWORD)
        me = Principal(uid, "ada", "jwt")
        made = await auth.create_api_key(me, "  my   notebook ")
        listed = await auth.list_api_keys(me)
        via_key = await auth.authenticate(made["key"])
        stored = await store.list_api_keys(uid)
        await auth.revoke_api_key(me, made["id"])
        with pytest.raises(AuthenticationError) as err:
            await auth.authenticate(made["key"])
        return made, listed, via_key, stored, err.value, await auth.list_api_keys(me)

    made, listed, via_key, stored, err, after = run(clock, scenario)
    assert made["key"].startswith(f"nek_{made['id']}_") and made["name"] == "my notebook"
    assert listed == [{"id": made["id"], "name": "my notebook", "created_at": made["created_at"]}]
    assert via_key == Principal(via_key.user_id, "ada", "api_key", made["id"])
    assert made["key"] not in json.dumps(stored)  # only the hash is stored
    assert err.details["reason"] == "revoked" and after == []


def test_another_users_key_cannot_be_revoked_and_keys_cannot_mint_keys(clock):
    async def scenario(auth, _):
        ada = Principal(await auth.create_user("ada", PASSWORD), "ada", "jwt")
        bob = Principal(await auth.create_user("bob", PASSWORD), "bob", "jwt")
        key = await auth.create_api_key(ada, "ada's")
        with pytest.raises(NotFoundError):
            await auth.revoke_api_key(bob, key["id"])
        with pytest.raises(NotFoundError):
            await auth.revoke_api_key(ada, "0123456789abcdef")
        as_key = await auth.authenticate(key["key"])  # still valid after bob's attempt
        with pytest.raises(PermissionDeniedError):
            await auth.create_api_key(as_key, "minted by a key")
        return await auth.list_api_keys(ada), await auth.list_api_keys(bob)

    ada_keys, bob_keys = run(clock, scenario)
    assert [k["name"] for k in ada_keys] == ["ada's"] and bob_keys == []


def test_rate_limit_per_user_and_per_key_with_retry_after(clock):
    async def scenario(auth, store):
        ada = Principal(await auth.create_user("ada", PASSWORD), "ada", "jwt")
        key = await auth.authenticate((await auth.create_api_key(ada, "k"))["key"])
        clock.now = T0 + 15
        for _ in range(3):
            await auth.check_rate(ada)
        with pytest.raises(RateLimitedError) as err:
            await auth.check_rate(ada)
        with pytest.raises(RateLimitedError):
            await auth.check_rate(ada)
        await auth.check_rate(key)  # the key has its own budget
        clock.now = T0 + 60  # next window
        await auth.check_rate(ada)
        return err.value, [e for e in await store.audit_log() if e["action"] == "rate_limited"]

    err, audited = run(clock, scenario, rate_limit_per_minute=3)
    assert err.retry_after == 45 and err.details["limit"] == 3
    assert len(audited) == 1  # one entry per caller and window, however many refusals


def test_login_attempts_are_throttled_per_username(clock):
    async def scenario(auth, _):
        await auth.create_user("ada", PASSWORD)
        for _ in range(2):
            with pytest.raises(AuthenticationError):
                await auth.login("ada", "guess-guess")
        with pytest.raises(RateLimitedError) as err:
            await auth.login("ADA", PASSWORD)  # even the right password waits for the window
        clock.now = T0 + 60
        return err.value, await auth.login("ada", PASSWORD)

    err, answer = run(clock, scenario, login_attempts_per_minute=2)
    assert err.retry_after == 60 and answer["access_token"]


def test_audit_records_every_kind_and_no_secret(clock):
    async def scenario(auth, store):
        uid = await auth.create_user("ada", PASSWORD)
        token = (await auth.login("ada", PASSWORD))["access_token"]
        with pytest.raises(AuthenticationError):
            await auth.login("ada", "a-wrong-password")
        me = await auth.authenticate(token)
        made = await auth.create_api_key(me, "k1")
        await auth.revoke_api_key(me, made["id"])
        for bad in (made["key"], token + "x", ""):
            with pytest.raises(AuthenticationError):
                await auth.authenticate(bad, context={"method": "GET", "path": "/api/v1/sessions"})
        with pytest.raises(AuthenticationError):
            await auth.login(token, PASSWORD)  # a token pasted as the username
        await auth.audit("access_denied", uid, reason="not_owner", password=PASSWORD, key=made["key"])
        return token, made, await store.audit_log(1000)

    token, made, log = run(clock, scenario)
    actions = [e["action"] for e in log]
    for action in ("user_created", "login", "login_failed", "api_key_created", "api_key_revoked", "access_denied"):
        assert action in actions
    dump = json.dumps(log)
    secret_part = made["key"].split(made["id"] + "_", 1)[1]  # the secret itself may hold "_"
    for secret in (PASSWORD, "a-wrong-password", token, token.split(".")[2], made["key"], secret_part):
        assert secret not in dump
    denied = [e["data"] for e in log if e["action"] == "access_denied"]
    assert {"reason": "revoked", "key_id": made["id"], "method": "GET", "path": "/api/v1/sessions"}.items() <= denied[
        0
    ].items()
    assert [d["reason"] for d in denied] == ["revoked", "invalid", "missing", "not_owner"]
    assert all(e["data"]["at"].startswith("2027-01-15T08:00:00") for e in log)


def test_user_validation_and_lookup(clock):
    async def scenario(auth, _):
        uid = await auth.create_user("Ada", PASSWORD)
        with pytest.raises(ConflictError):
            await auth.create_user("ADA", "another password")
        for name, pw, field in (
            ("ab", PASSWORD, "username"),
            ("-ada", PASSWORD, "username"),
            ("has space", PASSWORD, "username"),
            ("carol", "short", "password"),
            ("carol", " " * 12, "password"),
        ):
            with pytest.raises(InvalidInputError) as err:
                await auth.create_user(name, pw)
            assert err.value.details["field"] == field
        return uid, await auth.get_user_by_name("ADA"), await auth.get_user_by_name("nobody")

    uid, found, missing = run(clock, scenario)
    assert found == {"id": uid, "username": "ada", "created_at": "2027-01-15T08:00:00+00:00"}
    assert missing is None


def test_works_through_a_store_runner(clock):
    """A replica may hold the store on its own loop thread (StoreRunner) rather than its own loop."""
    with StoreRunner(open_store("memory")) as runner:
        auth = AuthService(runner, AuthSettings(jwt_secret=SECRET), clock, password_hasher=cheap_hasher())

        async def scenario():
            await auth.create_user("ada", PASSWORD)
            return await auth.authenticate((await auth.login("ada", PASSWORD))["access_token"])

        assert asyncio.run(scenario()).username == "ada"


def test_a_hash_with_old_parameters_is_upgraded_at_login(clock):
    async def scenario(old, store):
        uid = await old.create_user("ada", PASSWORD)
        before = (await store.get_user(uid))["password_hash"]
        current = AuthService(store, old.settings, clock)  # the default hasher
        await current.login("ada", PASSWORD)
        after = (await store.get_user(uid))["password_hash"]
        await current.login("ada", PASSWORD)  # the upgraded hash verifies
        return before, after

    before, after = run(clock, scenario)
    assert "m=8," in before and "$argon2id$v=19$m=19456,t=2,p=1$" in after
