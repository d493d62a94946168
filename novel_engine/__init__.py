"""Novel Engine: stories told by many AI characters at once, run as a simulation.

The public surface is small: :class:`Engine` creates :class:`Session` objects. Everything else
lives in the sub-packages. Names are imported lazily so ``import novel_engine.core...`` stays light.
"""

from typing import Any

__all__ = ["Engine", "Session", "TurnReport", "NovelEngineError", "__version__"]
from novel_engine.version import __version__


def __getattr__(name: str) -> Any:
    if name in ("Engine", "Session", "TurnReport"):
        from novel_engine import api

        return getattr(api, name)
    if name == "NovelEngineError":
        from novel_engine.errors import NovelEngineError

        return NovelEngineError
    raise AttributeError(f"module 'novel_engine' has no attribute {name!r}")
