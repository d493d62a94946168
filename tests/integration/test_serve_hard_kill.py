"""`novel-engine serve` owns its processes and ports: HAProxy's side ports listen on loopback only
(no statistics page at all), and after the server is killed hard (SIGKILL, as an OOM kill would)
nothing it started lives on, so the next start on the same port succeeds; and its sessions come
back from the store: the same story goes on, and a subscriber resuming from the last event it saw
misses nothing."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request

import httpx
import psutil
import pytest
from cli_runs import cli
from websockets.sync.client import connect

SECRET = "a-test-secret-for-the-hard-kill-test-0123456789-abcdefghij"
PASSWORD = "correct horse battery staple"

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(data_dir: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    # one secret for both servers: a token issued before the kill still works after it
    env.update(NOVEL_ENGINE_DATA_DIR=data_dir, NOVEL_ENGINE_SERVE_INGRESS="haproxy", NOVEL_ENGINE_JWT_SECRET=SECRET)
    return env


def start(port: int, data_dir: str) -> subprocess.Popen:
    env = server_env(data_dir)
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


def events_after(port: int, token: str, sid: str, after_seq: int, until_turn: int) -> list[dict]:
    """The session's events after ``after_seq`` over the WebSocket, up to ``until_turn``'s turn_complete."""
    with connect(f"ws://127.0.0.1:{port}/ws?token={token}", open_timeout=60) as ws:
        ws.send(json.dumps({"type": "subscribe", "session_id": sid, "after_seq": after_seq}))
        events = []
        while True:
            frame = json.loads(ws.recv(timeout=60))
            assert frame["type"] != "error", frame
            if "seq" in frame:
                events.append(frame)
                if frame["type"] == "turn_complete" and frame["turn"] == until_turn:
                    return events


def play(http: httpx.Client, sid: str) -> dict:
    r = http.post(f"/api/v1/sessions/{sid}/turns", json={}, timeout=120)
    assert r.status_code == 200, r.text
    return r.json()


def test_side_ports_are_private_and_a_hard_kill_leaves_nothing_behind(tmp_path):
    port = free_port()
    data = str(tmp_path / "data")
    made = subprocess.run(
        cli("users", "create", "ada", "--password-stdin"), input=PASSWORD + "\n", env=server_env(data), text=True
    )
    assert made.returncode == 0
    first = start(port, data)
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    login = http.post("/api/v1/auth/login", json={"username": "ada", "password": PASSWORD})
    token = login.json()["access_token"]
    http.headers["Authorization"] = f"Bearer {token}"
    sid = http.post("/api/v1/sessions", json={"world_template": "noir_city", "settings": {"seed": 3}}).json()["id"]
    before = [play(http, sid) for _ in range(2)]
    seen = events_after(port, token, sid, 0, until_turn=2)
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
    second = start(port, data)  # the same port: nothing of the first holds it
    try:
        # the session comes back from the store where it was, and goes on
        assert http.get(f"/api/v1/sessions/{sid}").json()["turn"] == 2
        third = play(http, sid)
        assert third["turn"] == 3 and [t["turn"] for t in before] == [1, 2]
        stored = http.get(f"/api/v1/sessions/{sid}/turns").json()["items"]
        assert [t["turn"] for t in stored] == [1, 2, 3]
        assert [t["prose"] for t in stored] == [t["prose"] for t in (*before, third)]
        # a subscriber resuming from the last event it saw gets the rest, gapless
        after = events_after(port, token, sid, seen[-1]["seq"], until_turn=3)
        assert [e["seq"] for e in after] == list(range(seen[-1]["seq"] + 1, seen[-1]["seq"] + 1 + len(after)))
        assert {e["turn"] for e in after if e["type"] == "turn_complete"} == {3}
        assert [e["seq"] for e in seen] == list(range(1, len(seen) + 1))
    finally:
        second.send_signal(signal.SIGINT)
    assert second.wait(timeout=120) == 0
