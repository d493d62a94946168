"""tools/pick-python: the interpreter `make` builds .venv from."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "pick-python"


def pick(env: dict[str, str] | None = None) -> str:
    out = subprocess.run(
        [str(SCRIPT)], capture_output=True, text=True, check=True, timeout=120, env={**os.environ, **(env or {})}
    )
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1, out.stdout  # make reads the whole output as the interpreter's path
    return lines[0]


def version_and_venv(python: str) -> str:
    return subprocess.run(
        [python, "-c", "import sys, venv, ensurepip; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()


def loads_libpython(python: str) -> bool:
    maps = subprocess.run(
        [python, "-c", "print(open('/proc/self/maps').read())"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return "libpython" in maps


def usable(python: str) -> bool:
    try:
        return version_and_venv(python) in ("3.11", "3.12", "3.13")
    except (OSError, subprocess.CalledProcessError):
        return False


def test_picks_a_cpython_that_can_make_the_venv():
    python = pick()
    assert Path(python).is_absolute() and os.access(python, os.X_OK), python
    assert usable(python)


def test_a_statically_linked_python_is_preferred():
    """On a machine with both kinds, the static one is picked, every time."""
    candidates = ("/usr/bin/python3", "/usr/bin/python3.11", "/usr/bin/python3.12", "/usr/bin/python3.13")
    static = [p for p in candidates if os.access(p, os.X_OK) and usable(p) and not loads_libpython(p)]
    if not static:  # e.g. only pyenv or conda builds: there is no preference to show
        pytest.skip("no statically linked CPython 3.11-3.13 that can make a venv on this machine")
    for _ in range(3):
        assert not loads_libpython(pick())


def test_a_broken_or_too_old_python_first_on_the_path_is_passed_over(tmp_path):
    for name, body in (
        ("python3", "exit 1"),
        ("python3.13", "echo 'Python 3.8'; exit 0"),
        ("python3.12", "echo /nowhere 0"),
    ):
        fake = tmp_path / name
        fake.write_text(f"#!/bin/sh\n{body}\n")
        fake.chmod(0o755)
    python = pick({"PATH": f"{tmp_path}:{os.environ['PATH']}"})
    assert not python.startswith(str(tmp_path)) and python != "/nowhere"
    assert usable(python)
