"""The pure layers (core, agents) import no runtime, web, database, network or file I/O library."""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import novel_engine

PKG = Path(novel_engine.__file__).parent
PURE = ("core", "agents")
FORBIDDEN = {
    "ray",
    "fastapi",
    "starlette",
    "asyncpg",
    "redis",
    "s3fs",
    "fsspec",
    "httpx",
    "requests",
    "aiohttp",
    "google",
    "sqlite3",
    "socket",
    "urllib",
    "http",
    "subprocess",
    "pyarrow",
    "psycopg",
    "websockets",
    "open",
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "open":
            names.add("open")  # file I/O belongs in storage adapters
    return names


def test_pure_layers_import_nothing_impure_directly():
    offenders = {}
    for layer in PURE:
        for path in sorted((PKG / layer).glob("*.py")):
            bad = _imports(path) & FORBIDDEN
            if bad:
                offenders[str(path.relative_to(PKG))] = sorted(bad)
    assert offenders == {}


def test_pure_layers_pull_in_nothing_impure_transitively():
    modules = [f"novel_engine.{layer}.{m.name}" for layer in PURE for m in pkgutil.iter_modules([str(PKG / layer)])]
    assert len(modules) >= 10
    code = (
        "import importlib, json, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = {m.split(".")[0] for m in json.loads(out)}
    assert not (
        loaded
        & {
            "ray",
            "fastapi",
            "starlette",
            "asyncpg",
            "redis",
            "s3fs",
            "fsspec",
            "httpx",
            "requests",
            "aiohttp",
            "pyarrow",
            "websockets",
            "google",
        }
    )


def test_the_checker_catches_an_offender(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import ray\nfrom redis import Redis\nx = open('f')\n")
    assert _imports(bad) & FORBIDDEN == {"ray", "redis", "open"}


ROOT = PKG.parent


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` (import-linter) with the contracts of ``cwd``'s pyproject.toml."""
    exe = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(exe), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_no_upward_imports_and_no_import_circles():
    """The contracts in pyproject.toml: layers (serve_app > CLI and benchmarks > api > session >
    runtime > storage... > agents > llm > core) and no circle between the modules of any package."""
    out = _lint_imports(ROOT)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "2 kept, 0 broken" in out.stdout


def test_the_contracts_catch_an_upward_import_and_a_circle(tmp_path):
    """A copy of the packages with one upward import (core -> runtime) and one circle added."""
    import shutil

    for pkg in ("novel_engine", "serve_app"):
        shutil.copytree(ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__", "webapp"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "novel_engine" / "core" / "upward.py").write_text("from novel_engine.runtime import turn\n")
    (tmp_path / "novel_engine" / "storage" / "circle_a.py").write_text("from novel_engine.storage import circle_b\n")
    (tmp_path / "novel_engine" / "storage" / "circle_b.py").write_text("from novel_engine.storage import circle_a\n")
    out = _lint_imports(tmp_path)
    assert out.returncode != 0
    assert "novel_engine.core is not allowed to import novel_engine.runtime" in out.stdout
    assert "No cycles are allowed in novel_engine.storage" in out.stdout
