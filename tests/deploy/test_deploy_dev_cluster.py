"""The local multi-node development cluster: up, a driver connects and sees every node, down.

Runs the real tool in subprocesses (its own Ray, apart from the test session's), so it also proves
that ``down`` stops only the cluster it started.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from novel_engine.runtime.dev_cluster import main, read_state

TOOL = [sys.executable, "-m", "novel_engine.runtime.dev_cluster"]


def _tool(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([*TOOL, *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_up_connect_down(tmp_path):
    state = str(tmp_path / "cluster.json")
    up = _tool("up", "--workers", "1", "--cpus", "1", "--state", state)
    try:
        assert up.returncode == 0, up.stderr + (tmp_path / "cluster.log").read_text()
        info = read_state(tmp_path / "cluster.json")
        assert up.stdout.strip() == info["address"] and info["nodes"] == 2
        assert _tool("status", "--state", state).stdout.strip() == info["address"]
        again = _tool("up", "--state", state)
        assert again.returncode == 1 and "already up" in again.stderr
        probe = (
            f"import json, ray; ray.init(address={info['address']!r}, include_dashboard=False, "
            "log_to_driver=False); "
            "print(json.dumps([len([n for n in ray.nodes() if n['Alive']]), ray.cluster_resources()]))"
        )
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        nodes, resources = json.loads(out.stdout.strip().splitlines()[-1])
        assert nodes == 2 and resources["CPU"] == 1 and resources["dev_node1"] == 1  # head offers no CPU
    finally:
        down = _tool("down", "--state", state)
    assert down.returncode == 0, down.stderr
    assert read_state(tmp_path / "cluster.json") is None
    with pytest.raises(ProcessLookupError):
        os.kill(info["pid"], 0)
    assert _tool("status", "--state", state).returncode == 1


def test_down_and_status_without_a_cluster(tmp_path, capsys):
    state = str(tmp_path / "none.json")
    assert main(["down", "--state", state]) == 0
    assert main(["status", "--state", state]) == 1
    assert "no dev cluster is up" in capsys.readouterr().err
    assert main(["up", "--workers", "-1", "--state", state]) == 2
