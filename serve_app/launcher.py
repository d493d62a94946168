"""``novel-engine serve``: start Ray and the Serve app on this machine, print the URL, run until Ctrl-C.

With no flags it uses embedded defaults: a new local Ray instance of its own (``--address`` joins
a running cluster instead), the embedded state store under
``NOVEL_ENGINE_DATA_DIR`` (or ``./.novel-engine``) and HTTP on 127.0.0.1:8000. Outside ``--dev``
the server refuses to start without a strong ``NOVEL_ENGINE_JWT_SECRET``; ``--dev`` makes up a
random one for this run (shared by every replica, lost at exit) and says so.

For a cluster, deploy ``serve_app/serve_config.yaml`` (``serve deploy``) or the KubeRay manifests
instead; this command is for a laptop or a single machine.

Ingress: a Ray instance this command starts uses Serve's HAProxy ingress (see
:func:`use_haproxy_ingress`); ``NOVEL_ENGINE_SERVE_INGRESS=proxy`` keeps Serve's Python proxy.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import sys
import threading
from typing import Any

__all__ = ["add_serve_parser", "cmd_serve", "serve_env", "use_haproxy_ingress", "HAPROXY_ENV"]

APP_NAME = "novel-engine"

# Serve's high-throughput mode: HAProxy (C) takes HTTP and WebSocket traffic straight to the
# replicas' own HTTP servers instead of through Serve's Python proxy actor. Measured here with
# `bench api`: WebSocket delivery to 1,000 subscribers p99 ~590 -> ~110-140 ms, GET /health with
# 64 clients ~140 -> ~2,400 requests/s, one GET 11 -> 5 ms. Ray reads these when its processes
# start, so they must be set before the Ray instance (or the KubeRay pods) start.
HAPROXY_ENV = {"RAY_SERVE_ENABLE_HA_PROXY": "1", "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1"}


def use_haproxy_ingress(draining_s: float | None = 2.0, environ: Any = None) -> bool:
    """Ask for Serve's HAProxy ingress in the Ray instance this process is about to start.

    Sets :data:`HAPROXY_ENV` (values already set win) unless ``NOVEL_ENGINE_SERVE_INGRESS`` is
    ``proxy``. ``draining_s`` shortens how long a stopping replica keeps serving while HAProxy
    learns it is gone (Ray's default of 30 s suits a cluster behind a load balancer, not Ctrl-C
    on one machine); None keeps Ray's default. HAProxy runs behind
    :mod:`serve_app.haproxy_guard` (side ports on loopback, no statistics page, dies with its
    parent), and HAProxy processes a hard-killed server left behind are reaped first. Returns
    whether HAProxy was chosen.
    """
    environ = os.environ if environ is None else environ
    choice = environ.get("NOVEL_ENGINE_SERVE_INGRESS", "haproxy")
    if choice not in ("haproxy", "proxy"):
        from novel_engine.errors import ConfigError

        raise ConfigError(
            f"NOVEL_ENGINE_SERVE_INGRESS: must be haproxy or proxy, got {choice!r}",
            setting="NOVEL_ENGINE_SERVE_INGRESS",
        )
    if choice == "proxy":
        return False
    for key, value in HAPROXY_ENV.items():
        environ.setdefault(key, value)
    from serve_app import haproxy_guard

    reaped = haproxy_guard.reap_orphans()
    if reaped:
        logging.getLogger(__name__).warning(
            "stopped %d HAProxy process(es) a killed server left behind: %s", len(reaped), reaped
        )
    haproxy_guard.install(environ)
    if draining_s is not None:
        environ.setdefault("RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S", str(draining_s))
    return True


def add_serve_parser(sub: Any) -> None:
    """Add ``serve`` to the top-level subcommands."""
    p = sub.add_parser("serve", help="start the HTTP and WebSocket API on Ray Serve (Ctrl-C stops it)")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000; 0 picks a free one)")
    p.add_argument(
        "--dev",
        action="store_true",
        help="development mode: a random JWT secret for this run if none is set (never for a shared server)",
    )
    p.add_argument(
        "--public-docs",
        action="store_true",
        dest="public_docs",
        help="serve /docs and /openapi.json without a token (--dev does too)",
    )
    p.add_argument("--replicas", type=int, default=1, help="gateway replicas (default 1)")
    p.add_argument(
        "--address", default=None, help="Ray cluster address (default: RAY_ADDRESS, else a local instance of its own)"
    )
    m = p.add_argument_group(
        "language models (keys: GEMINI_API_KEY or GOOGLE_API_KEY, OPENAI_API_KEY in this "
        "command's environment, which the replicas of its own Ray instance inherit)"
    )
    m.add_argument(
        "--llm-allowed",
        default=None,
        metavar="LIST",
        help="models clients may choose, e.g. offline,gemini (default offline; env NOVEL_ENGINE_SERVE_LLM_ALLOWED)",
    )
    m.add_argument(
        "--llm-options",
        default=None,
        metavar="JSON",
        help='the operator\'s options per model, e.g. \'{"openai": {"base_url": "http://localhost:8000/v1"}}\' '
        "(env NOVEL_ENGINE_SERVE_LLM_OPTIONS)",
    )
    g = p.add_argument_group("state (default: an embedded store in NOVEL_ENGINE_DATA_DIR or ./.novel-engine)")
    g.add_argument("--database-url", help="sqlite:///path or postgresql://... (env NOVEL_ENGINE_DATABASE_URL)")
    g.add_argument("--redis-url", help="redis://host:6379/0 (env NOVEL_ENGINE_REDIS_URL)")
    g.add_argument("--object-store-url", help="file:///path or s3://bucket/prefix (env NOVEL_ENGINE_OBJECT_STORE_URL)")


def serve_env(dev: bool, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The ``NOVEL_ENGINE_*`` variables the replicas get (a random JWT secret in dev mode if unset).

    Raises:
        ConfigError: no usable JWT secret outside dev mode (before anything starts).
    """
    from serve_app.security import AuthSettings

    env = {k: v for k, v in (os.environ if environ is None else environ).items() if k.startswith("NOVEL_ENGINE_")}
    if dev and not env.get("NOVEL_ENGINE_JWT_SECRET"):
        env["NOVEL_ENGINE_JWT_SECRET"] = secrets.token_urlsafe(48)
    AuthSettings.from_env(dev, env)
    return env


def _free_port(host: str) -> int:
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def cmd_serve(args: argparse.Namespace) -> int:
    """Run ``novel-engine serve`` from parsed arguments; returns the exit code."""
    from novel_engine.errors import ConfigError
    from novel_engine.storage.settings import StoreSettings

    if args.replicas < 1:
        raise ConfigError("--replicas: must be at least 1", setting="replicas")
    env = serve_env(args.dev)
    from serve_app.config import ServeConfig

    llm = {"llm_allowed": args.llm_allowed, "llm_options": args.llm_options}
    ServeConfig.from_args({k: v for k, v in llm.items() if v is not None}).llm_access().check_callable(os.environ)
    store = StoreSettings.from_env(
        database_url=args.database_url, redis_url=args.redis_url, object_store_url=args.object_store_url
    )
    port = args.port or _free_port(args.host)
    print("starting Ray and Serve...", file=sys.stderr, flush=True)
    from ray import serve

    from novel_engine.runtime.ray.connection import connect
    from serve_app.app import build_app

    # "local": a Ray instance of our own, never one that happens to run on this machine already
    # (as `novel-engine run` does: --address or RAY_ADDRESS join a cluster on purpose)
    address = args.address or os.environ.get("RAY_ADDRESS") or "local"
    if address == "local":  # a cluster we join has its own ingress settings
        use_haproxy_ingress()
    connect(address)
    stop = _stop_on_signals()  # before the app answers: a stop asked for as soon as it is up is not lost
    serve.start(http_options={"host": args.host, "port": port})
    config = {
        "database_url": store.database_url,
        "redis_url": store.redis_url,
        "object_store_url": store.object_store_url,
        "dev_mode": args.dev,
        "public_docs": args.public_docs,
        **llm,
    }
    app = build_app({**{k: v for k, v in config.items() if v is not None}, "num_replicas": args.replicas, "env": env})
    try:
        serve.run(app, name=APP_NAME, route_prefix="/")
        shown = "localhost" if args.host in ("127.0.0.1", "0.0.0.0") else args.host
        docs = (
            f"docs http://{shown}:{port}/docs" if args.dev or args.public_docs else "docs: /openapi.json with a token"
        )
        print(f"Novel Engine API: http://{shown}:{port}/  ({docs}, WebSocket ws://{shown}:{port}/ws)", flush=True)
        print(f"state: {store.describe()}" + ("  [dev mode]" if args.dev else ""), file=sys.stderr, flush=True)
        print("create a user with: novel-engine users create NAME; stop with Ctrl-C", file=sys.stderr, flush=True)
        while not stop.wait(1.0):
            pass
        print("stopping...", file=sys.stderr, flush=True)
    finally:
        serve.shutdown()
    return 0


def _stop_on_signals() -> threading.Event:
    # Ctrl-C or `kill`: a process started in the background of a script inherits SIGINT ignored,
    # and Ray's driver turns SIGTERM into an abrupt exit, so both are handled here explicitly.
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop
