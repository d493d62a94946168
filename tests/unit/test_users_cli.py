"""``novel-engine users create``: end to end through ``main()`` and a subprocess, on a SQLite file."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from novel_engine.cli import main
from novel_engine.errors import InvalidInputError
from novel_engine.storage import open_store
from serve_app.security import AuthService, AuthSettings
from serve_app.security.cli import read_password

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a long enough password"


def _login_and_audit(db_url: str, username: str, password: str):
    async def go():
        store = open_store(db_url)
        await store.open()
        try:
            auth = AuthService(store, AuthSettings(jwt_secret="Zp4Kx9Lq2Rv7Tw1Ys6Ub3Nc8Md5Fe0Gh-cli"))
            who = await auth.authenticate((await auth.login(username, password))["access_token"])
            return who, await store.audit_log()
        finally:
            await store.close()

    return asyncio.run(go())


def test_create_through_main_then_log_in(tmp_path, monkeypatch, capsys):
    db = f"sqlite:///{tmp_path / 'state.db'}"
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["users", "create", "Ada", "--password-stdin", "--database-url", db]) == 0
    out = capsys.readouterr().out
    assert out.startswith("created user ada (id u_")
    who, log = _login_and_audit(db, "ada", PASSWORD)
    assert who.username == "ada" and who.user_id in out
    created = [e for e in log if e["action"] == "user_created"]
    assert created[0]["data"]["via"] == "cli" and PASSWORD not in json.dumps(log)

    monkeypatch.setattr(sys, "stdin", io.StringIO("another password\n"))
    assert main(["users", "create", "ADA", "--password-stdin", "--database-url", db]) == 2
    assert "username 'ada' is taken" in capsys.readouterr().err


def test_bad_input_is_a_clear_error(tmp_path, monkeypatch, capsys):
    db = f"sqlite:///{tmp_path / 'state.db'}"
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    assert main(["users", "create", "bob", "--password-stdin", "--database-url", db]) == 2
    assert "at least 8 characters" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # not a terminal, no --password-stdin
    assert main(["users", "create", "bob", "--database-url", db]) == 2
    assert "--password-stdin" in capsys.readouterr().err


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_prompt_asks_twice():
    answers = iter([PASSWORD, PASSWORD])
    assert read_password(False, _Tty(), lambda _: next(answers)) == PASSWORD
    answers = iter([PASSWORD, PASSWORD + "!"])
    with pytest.raises(InvalidInputError, match="do not match"):
        read_password(False, _Tty(), lambda _: next(answers))


def test_subprocess_end_to_end_and_the_cli_still_imports_light(tmp_path):
    db = f"sqlite:///{tmp_path / 'state.db'}"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "novel_engine.cli",
            "users",
            "create",
            "carol@example.com",
            "--password-stdin",
            "--database-url",
            db,
        ],
        input=PASSWORD + "\n",
        text=True,
        capture_output=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    assert _login_and_audit(db, "carol@example.com", PASSWORD)[0].username == "carol@example.com"
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, novel_engine.cli; "
            "print(sorted(m for m in ('serve_app', 'fastapi', 'argon2', 'jwt') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert probe.stdout.strip() == "[]", probe.stderr
