"""The HAProxy guard's config rewrite and its orphan reaper (pure parts; the whole server is in
tests/integration/test_serve_hard_kill.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from serve_app.haproxy_guard import RETRY_AFTER_S, UNAVAILABLE_RESPONSE, guard_config, install, reap_orphans

# the shape of the config Serve 2.60 generates (sections at column 0, settings indented)
CONFIG = """global
    stats socket /tmp/haproxy-serve/n1/admin.sock mode 666 level admin expose-fd listeners
    stats timeout 30s
defaults
    mode http
    errorfile 502 /tmp/haproxy-serve/n1/500.http
    errorfile 503 /tmp/haproxy-serve/n1/500.http
    errorfile 504 /tmp/haproxy-serve/n1/500.http
frontend prometheus
    bind :9101
    mode http
    http-request use-service prometheus-exporter if { path /metrics }
    no log
frontend http_frontend
    bind 127.0.0.1:33479
    default_backend default_backend
backend default_backend
    http-request return status 404
listen stats
  bind *:8404
  stats enable
  stats uri /stats
  stats refresh 1s
"""


def test_the_statistics_page_goes_and_the_metrics_bind_loopback():
    safe = guard_config(CONFIG)
    assert "listen stats" not in safe and "8404" not in safe
    assert "    bind 127.0.0.1:9101\n" in safe
    # everything else is untouched: the admin socket, the HTTP frontend, the backends
    assert safe == CONFIG.replace("    bind :9101\n", "    bind 127.0.0.1:9101\n").split("listen stats")[0]


def test_the_metrics_host_can_be_chosen_and_a_safe_config_stays_the_same():
    assert "    bind 0.0.0.0:9101\n" in guard_config(CONFIG.replace("bind :9101", "bind *:9101"), "0.0.0.0")
    once = guard_config(CONFIG)
    assert guard_config(once) == once


def test_install_points_serve_at_the_guard_and_keeps_a_choice_already_made(tmp_path):
    env: dict[str, str] = {}
    path = install(env)
    assert env["RAY_SERVE_HAPROXY_BINARY_PATH"] == path and os.access(path, os.X_OK)
    # outside the kernel's ephemeral range, which every bind(0) on the machine draws from
    assert 20000 <= int(env["RAY_SERVE_HAPROXY_METRICS_PORT"]) < 32768
    assert "serve_app.haproxy_guard" in open(path, encoding="utf-8").read()
    mine = {"RAY_SERVE_HAPROXY_BINARY_PATH": "/opt/haproxy", "RAY_SERVE_HAPROXY_METRICS_PORT": "9999"}
    assert install(mine) == "/opt/haproxy" and mine["RAY_SERVE_HAPROXY_METRICS_PORT"] == "9999"


def test_the_guard_rewrites_the_config_and_execs_with_the_same_arguments(tmp_path):
    cfg = tmp_path / "haproxy-serve" / "haproxy.cfg"
    cfg.parent.mkdir()
    cfg.write_text(CONFIG, encoding="utf-8")
    fake = tmp_path / "real-haproxy"
    fake.write_text(f"#!{sys.executable}\nimport sys; print(' '.join(sys.argv[1:]))\n", encoding="utf-8")
    fake.chmod(0o755)
    code = f"from serve_app.haproxy_guard import main; main({str(fake)!r})"
    done = subprocess.run(
        [sys.executable, "-c", code, "-db", "-f", str(cfg), "-sf", "123"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"-db -f {cfg} -sf 123"
    unavailable = cfg.parent / "novel-engine-503.http"
    assert cfg.read_text(encoding="utf-8") == guard_config(CONFIG, unavailable_file=str(unavailable))
    assert unavailable.read_bytes() == UNAVAILABLE_RESPONSE.encode()


def test_no_replica_to_answer_is_a_503_with_retry_after_not_a_bare_500():
    """Serve points HAProxy's 502/503/504 at a bare 500 page; the guard points them at a 503 problem."""
    safe = guard_config(CONFIG, unavailable_file="/x/novel-engine-503.http")
    for code in (502, 503, 504):
        assert f"    errorfile {code} /x/novel-engine-503.http\n" in safe
    assert "500.http" not in safe and guard_config(safe, unavailable_file="/x/novel-engine-503.http") == safe
    head, body = UNAVAILABLE_RESPONSE.split("\r\n\r\n", 1)
    lines = head.split("\r\n")
    assert lines[0] == "HTTP/1.1 503 Service Unavailable"
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert headers["Retry-After"] == str(RETRY_AFTER_S) and int(headers["Content-Length"]) == len(body.encode())
    assert json.loads(body)["status"] == 503 and headers["Content-Type"] == "application/problem+json"
    from serve_app.problems import UNAVAILABLE_RETRY_AFTER_S

    assert RETRY_AFTER_S == UNAVAILABLE_RETRY_AFTER_S


def _spawner(parent_name: str, fake: str, cfg: str, then: str) -> subprocess.Popen:
    """A process named ``parent_name`` that starts a stand-in HAProxy (argv[0] ``fake``, running a
    Serve-like config) and then runs ``then`` (exit at once: the child is orphaned; or wait)."""
    code = (
        f"import subprocess, sys; subprocess.Popen([{fake!r}, '-c', 'import time; time.sleep(60)', '-f', {cfg!r}], "
        f"executable={sys.executable!r}); {then}"
    )
    return subprocess.Popen([parent_name, "-c", code], executable=sys.executable)


def test_an_orphaned_serve_haproxy_is_reaped_and_one_under_a_proxy_actor_is_not(tmp_path):
    (tmp_path / "haproxy-serve").mkdir()
    fake, cfg = str(tmp_path / "haproxy"), str(tmp_path / "haproxy-serve" / "haproxy.cfg")
    gone = _spawner("python", fake, cfg, "sys.exit(0)")  # its child is adopted by init
    gone.wait(timeout=30)
    live = _spawner("ray::ProxyActor", fake, cfg, "import time; time.sleep(60)")  # as Ray names the proxy actor
    try:
        deadline, killed = time.time() + 10, []
        while not killed and time.time() < deadline:
            killed = reap_orphans()
            time.sleep(0.1)
        time.sleep(0.5)  # the live one's child has surely started by now
        killed += reap_orphans()
        assert len(killed) == 1
        children = subprocess.run(["pgrep", "-P", str(live.pid)], capture_output=True, text=True).stdout.split()
        assert len(children) == 1  # the HAProxy under a live proxy actor is untouched
    finally:
        subprocess.run(["pkill", "-KILL", "-P", str(live.pid)])
        live.send_signal(signal.SIGKILL)
        live.wait()


def test_the_metrics_port_skips_ports_in_use():
    import random
    import socket

    from serve_app.haproxy_guard import _free_port

    taken = _free_port(random.Random(5))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", taken))
        busy.listen()
        assert _free_port(random.Random(5)) != taken  # the same first draw, now in use
