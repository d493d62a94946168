"""Every benchmark of the engine, one module per suite (``novel-engine bench ...``): ``core``,
``runtime`` (runtime_bench.py, with scaling.py and ray_probe.py), ``llm``, ``store`` and ``story``.
The HTTP API's (``bench api``, ``bench load``) live with the app, in ``serve_app``. Each prints its
figures and writes them as JSON (:func:`write_results`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["write_results"]


def write_results(result: dict[str, Any], out: str | os.PathLike) -> Path:
    """Write a benchmark's figures as indented JSON to ``out`` (its folder made if need be); say where."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    return path
