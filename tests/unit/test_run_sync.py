"""``run_sync``: sync callers (scripts, the CLI, Jupyter) run the engine's coroutines through it."""

from __future__ import annotations

import asyncio

import pytest

from novel_engine.api import run_sync


class Loud:
    """A result whose repr counts how often it was made (a turn's report is costly to repr)."""

    reprs = 0

    def __repr__(self) -> str:
        Loud.reprs += 1
        return "Loud()"


def test_the_result_comes_back_and_is_never_formatted():
    async def turn() -> Loud:
        await asyncio.sleep(0)
        return Loud()

    Loud.reprs = 0
    assert isinstance(run_sync(turn()), Loud)
    # asyncio.run formatted its main task (and so its result) when restoring the SIGINT handler
    assert Loud.reprs == 0


def test_errors_pass_through_and_a_running_loop_is_fine():
    async def fails() -> None:
        raise ValueError("bad turn")

    with pytest.raises(ValueError, match="bad turn"):
        run_sync(fails())

    async def inside_a_loop() -> int:  # Jupyter: a loop is already running in this thread
        async def seven() -> int:
            return 7

        return run_sync(seven())

    assert asyncio.run(inside_a_loop()) == 7
