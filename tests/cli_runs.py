"""Helpers for tests that drive the `novel-engine` command in a subprocess (importable from every
test folder: pytest puts tests/, the folder of the root conftest, on sys.path)."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def cli(*args: str) -> list[str]:
    """The command line that runs ``novel-engine *args`` with this interpreter's installation."""
    exe = Path(sys.executable).with_name("novel-engine")
    return [str(exe), *args] if exe.exists() else [sys.executable, "-m", "novel_engine.cli", *args]


def run_until_killed(args: list[str], env: Mapping[str, str], at_turn: int, turns: int) -> str:
    """Start ``novel-engine *args``, SIGKILL it once turn ``at_turn``/``turns`` is reported; its session id."""
    # --log-level info: a log line per committed turn on stderr (the progress bar is for terminals only)
    proc = subprocess.Popen(
        cli(*args, "--log-level", "info"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=dict(env)
    )
    session_id = None
    for line in proc.stderr:  # wait for that committed turn, then kill without warning
        if line.startswith("session "):
            session_id = line.split()[1]
        if f"turn {at_turn}/{turns}" in line:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL and session_id, "the run was not killed mid-story"
    return session_id
