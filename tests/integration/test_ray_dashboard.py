"""Ray's dashboard on a local run: Engine("ray", dashboard=True) starts it on loopback and says where
it is, with the token it asks for and the folder of the actors' logs. Its own Ray instance, in a
subprocess (the shared test cluster runs without one)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import json, urllib.request
    from novel_engine import Engine

    engine = Engine("ray", address="local", dashboard=True)
    session = engine.create_session("fantasy_world", seed=7)
    session.step()
    info = engine.ray_info()
    info["page_status"] = urllib.request.urlopen(info["dashboard_url"], timeout=30).status
    import os
    info["actor_logs"] = sorted(f for f in os.listdir(info["logs_dir"]) if f.startswith("worker-"))[:3]
    session.close()
    engine.close()
    print(json.dumps(info))
""")


def test_a_local_engine_with_the_dashboard_says_where_it_and_the_logs_are():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "RAY_ADDRESS": ""},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    info = json.loads(done.stdout.strip().splitlines()[-1])
    assert info["dashboard_url"].startswith("http://127.0.0.1:")
    assert info["page_status"] == 200
    assert info["actor_logs"], "no worker log files in the logs folder"


def test_run_with_the_dashboard_says_where_it_and_the_logs_are(tmp_path):
    from cli_runs import cli

    env = {k: v for k, v in __import__("os").environ.items() if k != "RAY_ADDRESS"}
    done = subprocess.run(
        cli("run", "fantasy_world", "--turns", "1", "--runtime", "ray", "--dashboard", "--no-store"),
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Ray dashboard: http://127.0.0.1:" in done.stderr and "actors' logs: /" in done.stderr
    assert done.stdout.startswith("# The Wyrm of Harrowmere")
