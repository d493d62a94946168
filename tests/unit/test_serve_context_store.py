"""A Serve replica holds one state store, the Engine's: the access port and the auth service use it
too (the replica used to open a second store beside the Engine's)."""

from __future__ import annotations

import asyncio

import novel_engine.api as api
from novel_engine.storage import manager
from serve_app.config import ServeConfig
from serve_app.context import ServeContext
from serve_app.security.access_port import AccessPort


def test_a_replica_opens_one_store_and_it_is_the_engines(monkeypatch, tmp_path):
    opened = []
    real_open, real_engine = manager.open_store, api.Engine

    def counting_open(*args, **kwargs):
        opened.append(args)
        return real_open(*args, **kwargs)

    monkeypatch.setattr(manager, "open_store", counting_open)

    # the in-process runtime stands in for Ray: what is checked here is who opens which store
    class LocalEngine(real_engine):
        @classmethod
        async def aopen(cls, runtime: str, **kwargs):
            return await real_engine.aopen("local", **kwargs)

    monkeypatch.setattr(api, "Engine", LocalEngine)
    ctx = ServeContext(ServeConfig(database_url=f"sqlite:///{tmp_path / 'state.db'}", dev_mode=True))

    async def go() -> None:
        await ctx.start()
        try:
            assert isinstance(ctx.access, AccessPort)
            assert ctx.store.target is ctx.engine.store_runner  # calls go to the engine's store, on its loop
            # the engine runs on this loop (as on a replica's): its async API, no thread
            # one event loop per HTTP turn: the replica's runs the turn and the store alike
            assert ctx.engine.store_runner.loop is asyncio.get_running_loop()
            session = await ctx.engine.acreate_session("noir_city", seed=3)
            await session.astep()
            # ownership rows and the engine's stories are in one database: the listing joins them
            await ctx.access.add_session(session.id, "u_owner", "mine")
            recs, total = await ctx.access.sessions_of("u_owner")
            assert total == 1 and recs[0].session_id == session.id
            user_id = await ctx.auth.create_user("ada", "a long enough password")
            assert (await ctx.store(lambda s: s.get_user(user_id)))["username"] == "ada"
            assert [e["action"] for e in await ctx.access.audit_log(1)] == ["user_created"]
        finally:
            await ctx.close()

    asyncio.run(go())
    assert len(opened) == 1
