"""``EngineLoop``: sync callers (scripts, the CLI, Jupyter) run the engine's coroutines on one loop."""

from __future__ import annotations

import asyncio

import pytest

from novel_engine.errors import SessionError
from novel_engine.event_loop import EngineLoop


class Loud:
    """A result whose repr counts how often it was made (a turn's report is costly to repr)."""

    reprs = 0

    def __repr__(self) -> str:
        Loud.reprs += 1
        return "Loud()"


def test_results_come_back_unformatted_and_every_call_runs_on_the_same_loop():
    loop = EngineLoop()
    try:

        async def turn() -> tuple[Loud, asyncio.AbstractEventLoop]:
            await asyncio.sleep(0)
            return Loud(), asyncio.get_running_loop()

        Loud.reprs = 0
        (a, first), (_, second) = loop.run(turn()), loop.run(turn())
        assert isinstance(a, Loud) and Loud.reprs == 0
        assert first is second is loop.loop  # one loop: store pools opened on it stay usable
    finally:
        loop.close()


def test_errors_pass_through_and_a_running_loop_is_fine():
    loop = EngineLoop()
    try:

        async def fails() -> None:
            raise ValueError("bad turn")

        with pytest.raises(ValueError, match="bad turn"):
            loop.run(fails())

        async def inside_a_loop() -> int:  # Jupyter: a loop is already running in this thread
            async def seven() -> int:
                return 7

            return loop.run(seven()) + await loop.arun(seven())

        assert asyncio.run(inside_a_loop()) == 14
    finally:
        loop.close()


def test_a_sync_call_from_the_engines_own_loop_is_refused_not_a_deadlock():
    async def main() -> None:
        loop = EngineLoop(asyncio.get_running_loop())

        async def seven() -> int:
            return 7

        assert await loop.arun(seven()) == 7  # awaited directly on the adopted loop
        with pytest.raises(SessionError, match="await"):
            loop.run(seven())

    asyncio.run(main())
