"""Start and stop a local multi-node Ray cluster for development.

    python -m novel_engine.runtime.dev_cluster up --workers 2 --cpus 1   # prints the address
    python -m novel_engine.runtime.dev_cluster status
    python -m novel_engine.runtime.dev_cluster down

``up`` launches a holder process in the background that starts a head node and ``--workers``
worker nodes on this machine (``ray.cluster_utils.Cluster``: every node is a real raylet with its
own object store, so placement across nodes behaves as on a real cluster), writes the address to
a state file and waits. ``down`` signals exactly that holder process, which shuts down only its
own nodes; it never runs ``ray stop``, which would kill every Ray process on the machine,
including other people's. Drivers and notebooks connect with ``ray.init(address=...)`` or
``Engine("ray", address=...)``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main", "read_state", "DEFAULT_STATE"]

DEFAULT_STATE = Path(".novel-engine") / "dev-cluster.json"


def read_state(path: Path) -> dict | None:
    """The state file's content (``pid``, ``address``, ``nodes``), or None when no cluster is up."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - someone else's process reuses the pid
        return True
    return True


def _hold(args: argparse.Namespace) -> int:
    """The holder process: start the nodes, publish the address, wait for SIGTERM/SIGINT, shut down."""
    from ray.cluster_utils import Cluster

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    state = Path(args.state)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": args.head_cpus})
    try:
        for i in range(args.workers):
            # a custom resource per node lets a test or a demo pin an actor to one node
            cluster.add_node(num_cpus=args.cpus, resources={f"dev_node{i + 1}": 1})
        cluster.wait_for_nodes()
        tmp = state.with_suffix(".tmp")
        tmp.write_text(
            json.dumps({"pid": os.getpid(), "address": cluster.address, "nodes": 1 + args.workers}), encoding="utf-8"
        )
        tmp.replace(state)  # readers never see half a file
        stop.wait()
    finally:
        state.unlink(missing_ok=True)
        cluster.shutdown()
    return 0


def _up(args: argparse.Namespace) -> int:
    state = Path(args.state)
    current = read_state(state)
    if current and _alive(current["pid"]):
        print(
            f"a dev cluster is already up at {current['address']} (pid {current['pid']}); "
            f"stop it with: python -m novel_engine.runtime.dev_cluster down",
            file=sys.stderr,
        )
        return 1
    state.parent.mkdir(parents=True, exist_ok=True)
    state.unlink(missing_ok=True)
    log = state.with_suffix(".log")
    cmd = [
        sys.executable,
        "-m",
        "novel_engine.runtime.dev_cluster",
        "_hold",
        "--state",
        str(state),
        "--workers",
        str(args.workers),
        "--cpus",
        str(args.cpus),
        "--head-cpus",
        str(args.head_cpus),
    ]
    with log.open("w", encoding="utf-8") as out:
        holder = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + args.timeout
    while read_state(state) is None:
        if holder.poll() is not None:
            print(f"the dev cluster failed to start (exit {holder.returncode}); see {log}", file=sys.stderr)
            return 1
        if time.monotonic() > deadline:
            holder.terminate()
            print(f"the dev cluster did not come up within {args.timeout:.0f} s; see {log}", file=sys.stderr)
            return 1
        time.sleep(0.2)  # polling a file written by another process: there is no event to await
    info = read_state(state)
    print(info["address"])
    print(
        f"{info['nodes']} nodes up (holder pid {info['pid']}); connect with "
        f"ray.init(address={info['address']!r}) or Engine('ray', address={info['address']!r})",
        file=sys.stderr,
    )
    return 0


def _down(args: argparse.Namespace) -> int:
    state = Path(args.state)
    info = read_state(state)
    if info is None or not _alive(info["pid"]):
        state.unlink(missing_ok=True)
        print("no dev cluster is up", file=sys.stderr)
        return 0
    os.kill(info["pid"], signal.SIGTERM)
    deadline = time.monotonic() + args.timeout
    while _alive(info["pid"]) and time.monotonic() < deadline:
        time.sleep(0.2)  # not our child (it was started by `up`), so it cannot be waited on
    if _alive(info["pid"]):
        print(f"the holder (pid {info['pid']}) did not stop within {args.timeout:.0f} s", file=sys.stderr)
        return 1
    print(f"stopped the dev cluster at {info['address']}", file=sys.stderr)
    return 0


def _status(args: argparse.Namespace) -> int:
    info = read_state(Path(args.state))
    if info is None or not _alive(info["pid"]):
        print("no dev cluster is up", file=sys.stderr)
        return 1
    print(info["address"])
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m novel_engine.runtime.dev_cluster", description="A local multi-node Ray cluster for development."
    )
    sub = p.add_subparsers(dest="command", required=True)
    for name, help_ in (
        ("up", "start a head and worker nodes in the background"),
        ("down", "stop them"),
        ("status", "print the address if a cluster is up"),
        ("_hold", argparse.SUPPRESS),
    ):
        c = sub.add_parser(name, help=help_)
        c.add_argument("--state", default=str(DEFAULT_STATE), help=f"state file (default {DEFAULT_STATE})")
        c.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for up/down")
        if name in ("up", "_hold"):
            c.add_argument("--workers", type=int, default=2, help="worker nodes besides the head (default 2)")
            c.add_argument("--cpus", type=int, default=1, help="CPUs each worker node offers (default 1)")
            c.add_argument(
                "--head-cpus",
                type=int,
                default=0,
                dest="head_cpus",
                help="CPUs the head offers (default 0, as on KubeRay: work goes to workers)",
            )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = _parser().parse_args(argv)
    if getattr(args, "workers", 0) < 0 or getattr(args, "cpus", 1) < 0:
        print("error: --workers and --cpus must be zero or more", file=sys.stderr)
        return 2
    return {"up": _up, "down": _down, "status": _status, "_hold": _hold}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
