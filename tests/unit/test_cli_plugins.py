"""``novel_engine`` never imports ``serve_app``: the serve app's commands arrive through entry points.

The boundary is checked on the source (every module of the package, any import form), and the
commands are checked the way a user meets them: declared, listed, and, when the serve app cannot
be loaded, a one-line error that says what is missing instead of a traceback or "invalid choice".
"""

from __future__ import annotations

import ast
import io
import sys
from importlib import metadata
from pathlib import Path

import pytest

import novel_engine
from novel_engine import cli_plugins
from novel_engine.cli import main

PKG = Path(novel_engine.__file__).parent


def _serve_app_imports(path: Path, root: Path = PKG.parent) -> list[str]:
    """Where a module imports ``serve_app``: import statements, and ``import_module``/``__import__``
    calls naming it (a string cannot hide the dependency either)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
                names = [str(node.args[0].value)]
        found += [f"{path.relative_to(root)}:{node.lineno} {n}" for n in names if n.split(".")[0] == "serve_app"]
    return found


def test_novel_engine_imports_nothing_from_serve_app():
    modules = sorted(PKG.rglob("*.py"))
    assert len(modules) > 50  # the whole package, subpackages included
    assert [hit for path in modules for hit in _serve_app_imports(path)] == []


def test_the_scan_sees_every_import_form(tmp_path):
    probe = tmp_path / "probe.py"
    code = (
        "import serve_app\nimport serve_app.app as a\nfrom serve_app.security import x\n"
        "import importlib\nimportlib.import_module('serve_app.launcher')\n__import__('serve_app')\n"
        "from novel_engine import api\n"
    )
    probe.write_text(code, encoding="utf-8")
    assert len(_serve_app_imports(probe, tmp_path)) == 5


def test_the_serve_apps_commands_are_declared_as_entry_points():
    declared = {
        (g, ep.name): ep.value
        for g in (cli_plugins.COMMANDS, cli_plugins.BENCH_SUITES)
        for ep in metadata.entry_points(group=g)
    }
    assert declared == {
        (cli_plugins.COMMANDS, "serve"): "serve_app.commands:serve",
        (cli_plugins.COMMANDS, "users"): "serve_app.commands:users",
        (cli_plugins.BENCH_SUITES, "api"): "serve_app.commands:bench_api",
        (cli_plugins.BENCH_SUITES, "load"): "serve_app.commands:bench_load",
    }, "reinstall (pip install -e .) if pyproject.toml's entry points changed"
    # every promised command is declared, so the documentation and the installed commands agree
    for group, commands in cli_plugins.PROMISED.items():
        assert {name for g, name in declared if g == group} == set(commands)


def test_the_commands_are_listed_with_their_options(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "serve " in out and "users " in out and "not installed" not in out
    with pytest.raises(SystemExit):
        main(["users", "create", "--help"])
    assert "--password-stdin" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["bench", "api", "--help"])
    assert "--subscribers" in capsys.readouterr().out


@pytest.fixture
def serve_app_missing(monkeypatch):
    """No entry points at all: the serve app is not installed (or its metadata predates them)."""
    monkeypatch.setattr(cli_plugins.metadata, "entry_points", lambda group: [])


@pytest.mark.parametrize(
    "argv",
    [
        ["serve", "--dev", "--port", "8000"],
        ["users", "create", "ada", "--password-stdin"],
        ["bench", "api", "--clients", "4"],
    ],
)
def test_a_missing_serve_app_is_a_clear_error(serve_app_missing, argv, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("a long enough password\n"))
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    command = " ".join(argv[:2] if argv[0] == "bench" else argv[:1])
    assert err.startswith(f"error: `novel-engine {command}` comes with serve_app, which is not installed here")
    assert "pip install" in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_missing_commands_still_show_in_the_help(serve_app_missing, capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "serve" in out and "users" in out and "[not installed]" in out


def test_a_serve_app_that_fails_to_import_is_a_clear_error(monkeypatch, capsys):
    broken = metadata.EntryPoint(name="serve", value="serve_app_gone_missing:serve", group=cli_plugins.COMMANDS)
    real = metadata.entry_points
    monkeypatch.setattr(
        cli_plugins.metadata,
        "entry_points",
        lambda group: [broken] if group == cli_plugins.COMMANDS else real(group=group),
    )
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "comes with serve_app" in err and "import failed" in err and "serve_app_gone_missing" in err
