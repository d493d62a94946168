"""The novel-engine command, end to end in a subprocess, as a user runs it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml
from cli_runs import cli as cli_cmd


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        cli_cmd(*args),
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env={**os.environ, "PYTHONHASHSEED": "random"},
    )


def test_run_prints_the_same_story_twice_and_writes_files(tmp_path):
    a = cli(
        "run",
        "fantasy_world",
        "--turns",
        "8",
        "--seed",
        "7",
        "--log-level",
        "info",
        "--out",
        str(tmp_path / "s.md"),
        "--events",
        str(tmp_path / "e.jsonl"),
    )  # local is the default runtime
    b = cli("run", "fantasy_world", "--turns", "8", "--seed", "7", "--runtime", "local")
    assert a.returncode == 0, a.stderr
    assert b.returncode == 0, b.stderr
    assert a.stdout == b.stdout  # byte-identical, across runs and hash seeds
    on_ray = cli(
        "run",
        "fantasy_world",
        "--turns",
        "8",
        "--seed",
        "7",
        "--runtime",
        "ray",
        "--database-url",
        f"sqlite:///{tmp_path / 'ray.db'}",
    )
    assert on_ray.returncode == 0, on_ray.stderr[-3000:]
    assert on_ray.stdout == a.stdout
    # the Ray run was stored like a local one: `resume` continues it in process, as 10 straight
    # turns go (the story ends by itself at turn 10)
    sid = on_ray.stderr.split("novel-engine resume ")[1].split()[0]
    more = cli("resume", sid, "--turns", "2", "--database-url", f"sqlite:///{tmp_path / 'ray.db'}")
    assert more.returncode == 0, more.stderr[-3000:]
    straight = cli("run", "fantasy_world", "--turns", "10", "--seed", "7", "--runtime", "local", "--no-store")
    assert straight.stdout.endswith(more.stdout) and "## Turn 9" in more.stdout
    assert "## Turn 8" in a.stdout and "## Turn 1\n" in a.stdout
    assert "turn 8/8" in a.stderr  # --log-level info: a line per turn on stderr
    assert "turn 8/8" not in b.stderr and "%|" not in b.stderr  # no bar when stderr is not a terminal
    assert (tmp_path / "s.md").read_text().startswith("# ")
    events = [json.loads(l) for l in (tmp_path / "e.jsonl").read_text().splitlines()]
    assert {e["turn"] for e in events} == set(range(1, 9))


def test_scenarios_lists_the_builtins():
    out = cli("scenarios")
    assert out.returncode == 0
    for name in ("fantasy_world", "noir_city", "space_station"):
        assert name in out.stdout


def test_validate_prints_every_error_without_traceback(tmp_path):
    from novel_engine.scenarios import load_scenario

    data = load_scenario("fantasy_world").model_dump(mode="json", exclude_none=True)
    data["personas"][2]["traits"]["courage"] = 1.5
    data["locations"][0]["neighbours"].append("atlantis")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    out = cli("validate", str(bad))
    assert out.returncode == 2
    assert "personas[2].traits.courage: must be between 0 and 1" in out.stderr
    assert "atlantis" in out.stderr
    assert "Traceback" not in out.stderr
    good = tmp_path / "good.yaml"
    data["personas"][2]["traits"]["courage"] = 0.5
    data["locations"][0]["neighbours"].pop()
    good.write_text(yaml.safe_dump(data))
    assert cli("validate", str(good)).returncode == 0


def test_user_errors_are_clean():
    for args in (
        ["run", "no_such_world"],
        ["run", "fantasy_world", "--turns", "-3"],
        ["run", "fantasy_world", "--runtime", "local", "--personas-per-actor", "0"],
        ["run", "fantasy_world", "--verbosity", "7"],
        ["bench", "core", "--personas", "ten"],
        ["run", "fantasy_world", "--processes", "2"],  # gone: Ray is the way to use several cores
    ):
        out = cli(*args)
        assert out.returncode == 2, args
        assert "Traceback" not in out.stderr and out.stderr.strip(), args


def test_bench_core_writes_json(tmp_path):
    out = cli(
        "bench",
        "core",
        "--personas",
        "50,200",
        "--turns",
        "2",
        "--count-calls",
        "--out",
        str(tmp_path / "b.json"),
    )
    assert out.returncode == 0, out.stderr
    data = json.loads((tmp_path / "b.json").read_text())
    rows = data["results"]
    assert [r["personas"] for r in rows] == [50, 200]
    # the work per persona-turn, counted in calls: about the same at both sizes (linear work)
    calls = [r["calls_per_persona_turn"] for r in rows]
    assert all(c > 50 for c in calls) and 0.5 < calls[1] / calls[0] < 2.0, calls
    assert "function calls per persona-turn" in out.stdout
    for r in rows:
        assert r["seconds_per_turn"] > 0 and r["peak_rss_mib"] > 0 and r["persona_turns_per_s"] > 0
        assert len(r["turn_seconds"]) == 2 and max(r["turn_seconds"]) == r["max_seconds_per_turn"]
        assert abs(sum(r["turn_seconds"]) / 2 - r["seconds_per_turn"]) < 1e-3
        assert set(r["phase_seconds"]) >= {"perceive", "believe", "brief", "decide", "resolve", "narrate"}
    assert rows[0]["cost_ratio"] == 1.0
    cal = data["host_calibration_s"]  # the host's speed, measured beside the figures
    assert 0 < cal["before"] < 60 and 0 < cal["after"] < 60 and "host speed" in out.stdout


def one_line_error(out: subprocess.CompletedProcess, *needles: str) -> str:
    """A user error: exit code 2, one line on stderr naming what was wrong, no traceback."""
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr[-2000:]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def test_version_and_python_dash_m():
    from novel_engine.cli_support import version

    out = cli("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"novel-engine {version()}"
    by_module = subprocess.run(
        [sys.executable, "-m", "novel_engine", "--version"], capture_output=True, text=True, timeout=60
    )
    assert by_module.returncode == 0 and by_module.stdout == out.stdout
    listed = subprocess.run(
        [sys.executable, "-m", "novel_engine", "scenarios"], capture_output=True, text=True, timeout=60
    )
    assert listed.returncode == 0 and "fantasy_world" in listed.stdout


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    one_line_error(cli("run", "fantasy_world", "--bogus"), "unrecognized arguments: --bogus", "--help")
    one_line_error(cli("--log-level", "loud", "scenarios"), "--log-level", "invalid choice")
    # the seed of the report: an OverflowError traceback from SQLite before seeds had a range
    one_line_error(cli("run", "fantasy_world", "--seed", "99999999999999999999999"), "--seed", "2**63 - 1")
    one_line_error(cli("run", "fantasy_world", "--seed", "-1"), "--seed", "between 0 and 2**63 - 1")
    one_line_error(cli("run", "fantasy_world", "--turns", "1", "--database-url", "mysql://db/x"), "mysql")
    one_line_error(
        cli("run", "fantasy_world", "--turns", "1", "--no-store", "--out", "s3:///story.md"), "--out", "bucket"
    )
    one_line_error(cli("run", str(tmp_path)), "is a directory")  # an unreadable scenario
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00title: x")
    one_line_error(cli("run", str(binary)), "binary.yaml", "not UTF-8")
    one_line_error(cli("run", "synthetic:many"), "synthetic:many", "PERSONAS")
    one_line_error(cli("run", "synthetic:50:western"), "unknown style 'western'")
    db = f"sqlite:///{tmp_path / 'state.db'}"
    one_line_error(cli("resume", "nosuchsession", "--database-url", db), "nosuchsession")
    one_line_error(cli("run", "fantasy_world", "--dashboard"), "--dashboard", "--runtime ray")


def test_sessions_lists_what_resume_takes(tmp_path):
    db = ["--database-url", f"sqlite:///{tmp_path / 'state.db'}"]
    empty = cli("sessions", *db)
    assert empty.returncode == 0 and empty.stdout == "" and "no stored sessions" in empty.stderr
    first = cli("run", "fantasy_world", "--turns", "2", "--seed", "3", *db)
    second = cli("run", "noir_city", "--turns", "1", *db)
    ids = [r.stderr.split("novel-engine resume ")[1].split()[0] for r in (first, second)]
    listed = cli("sessions", *db)
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["ID", "SCENARIO", "TURNS", "LAST", "PLAYED"]
    assert [r.split()[0] for r in rows] == [ids[1], ids[0]]  # the most recently played first
    assert "The Wyrm of Harrowmere" in rows[1] and rows[1].split()[-3] == "2"
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d$", rows[0])
    assert cli("resume", ids[0], "--turns", "1", *db).returncode == 0
    assert cli("sessions", *db).stdout.splitlines()[1].split()[0] == ids[0]  # played last now


def test_synthetic_cast_from_the_command_line():
    a = cli("run", "synthetic:300:noir", "--turns", "2", "--seed", "5", "--no-store")
    assert a.returncode == 0, a.stderr[-2000:]
    assert a.stdout.startswith("# Synthetic noir world (300 personas, seed 5)") and "## Turn 2" in a.stdout
    assert cli("run", "synthetic:300:noir", "--turns", "2", "--seed", "5", "--no-store").stdout == a.stdout
    other = cli("run", "synthetic:300", "--turns", "1", "--no-store")  # sci_fi, seed 0 by default
    assert other.returncode == 0 and other.stdout.startswith("# Synthetic sci_fi world (300 personas, seed 0)")


def test_progress_bar_on_a_terminal_only():
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()  # stderr is a terminal of 40 x 200 characters; stdout is a pipe
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))
    exe = cli_cmd("run", "fantasy_world", "--turns", "3", "--no-store")
    proc = subprocess.run(exe, stdout=subprocess.PIPE, stderr=follower, timeout=300)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    bar = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0 and b"## Turn 3" in proc.stdout
    frames = [f for f in re.split(r"[\r\n]", bar) if "turns [" in f]
    assert any("1/3 turns" in f and "tension 0." in f for f in frames), bar[-2000:]
    assert all(len(re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", f)) <= 100 for f in frames)  # bounded width
    assert any(re.search(r"<\d\d:\d\d", f) for f in frames)  # an ETA
    quiet = cli("run", "fantasy_world", "--turns", "3", "--no-store")
    assert "turns [" not in quiet.stderr  # stderr not a terminal: no bar
