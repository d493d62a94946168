"""`novel-engine serve` owns its processes and ports: HAProxy's side ports listen on loopback only
(no statistics page at all), and after the server is killed hard (SIGKILL, as an OOM kill would)
nothing it started lives on, so the next start on the same port succeeds."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request

import psutil
import pytest
from cli_runs import cli

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(port: int, data_dir: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(NOVEL_ENGINE_DATA_DIR=data_dir, NOVEL_ENGINE_SERVE_INGRESS="haproxy")
    proc = subprocess.Popen(
        cli("serve", "--dev", "--port", str(port)),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 240
    while time.time() < deadline:
        assert proc.poll() is None, f"serve exited with {proc.returncode}: {proc.stderr.read()[-3000:]}"
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).status == 200:
                return proc
        except OSError:
            time.sleep(1)
    proc.kill()
    raise AssertionError("serve did not answer /health in time")


def listeners(pids: set[int]) -> list[tuple[str, int, str]]:
    """(address, port, process name) of every TCP socket these processes listen on."""
    out = []
    for c in psutil.net_connections(kind="tcp"):
        if c.status == psutil.CONN_LISTEN and c.pid in pids:
            out.append((c.laddr.ip, c.laddr.port, psutil.Process(c.pid).name()))
    return out


def test_side_ports_are_private_and_a_hard_kill_leaves_nothing_behind(tmp_path):
    port = free_port()
    first = start(port, str(tmp_path / "data"))
    tree = {p.pid for p in psutil.Process(first.pid).children(recursive=True)} | {first.pid}
    haproxies = [p for p in psutil.Process(first.pid).children(recursive=True) if p.name().startswith("haproxy")]
    try:
        assert haproxies, "the server runs no HAProxy ingress"
        haproxy_ports = listeners({p.pid for p in haproxies})
        assert ("127.0.0.1", port) in {(a, p) for a, p, _ in haproxy_ports}
        assert [x for x in haproxy_ports if x[0] not in ("127.0.0.1", "::1")] == []  # no side port beyond loopback
        assert not [x for x in haproxy_ports if x[1] == 8404], "HAProxy's statistics page is served"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    deadline = time.time() + 90
    while time.time() < deadline and [
        p for p in tree if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
    ]:
        time.sleep(1)
    assert not [p for p in haproxies if psutil.pid_exists(p.pid)], "HAProxy outlived the killed server"
    second = start(port, str(tmp_path / "data"))  # the same port: nothing of the first holds it
    second.send_signal(signal.SIGINT)
    assert second.wait(timeout=120) == 0
