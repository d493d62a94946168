"""The commands the serve app adds to ``novel-engine``: ``serve``, ``users create``, ``bench api`` and
``bench load``.

``novel_engine`` never imports the serve app; it finds these through the entry points declared in
``pyproject.toml`` (groups ``novel_engine.commands`` and ``novel_engine.bench``, see
:mod:`novel_engine.cli_plugins`). Each function adds its parser and returns the function that
runs the command. This module and the parsers load on every ``novel-engine`` invocation, so
they import only the standard library and the light launcher/bench modules; Ray Serve, FastAPI
and argon2 load when a command runs.
"""

from __future__ import annotations

import argparse
from typing import Any

from novel_engine.cli_plugins import Handler
from novel_engine.cli_support import add_store_flags, store_settings

__all__ = ["serve", "users", "bench_api", "bench_load"]


def serve(sub: Any) -> Handler:
    """``novel-engine serve``: the HTTP and WebSocket API on Ray Serve (see :mod:`serve_app.launcher`)."""
    from serve_app.launcher import add_serve_parser, cmd_serve

    add_serve_parser(sub)
    return cmd_serve


def _create_user(args: argparse.Namespace) -> int:
    from serve_app.security.cli import create_user_command  # argon2 loads only for this command

    return create_user_command(args.username, store_settings(args), password_stdin=args.password_stdin)


def users(sub: Any) -> Handler:
    """``novel-engine users create NAME``: add a user of the HTTP server to the state store."""
    p = sub.add_parser("users", help="manage the users of the HTTP server")
    users_sub = p.add_subparsers(dest="users_command", required=True)
    uc = users_sub.add_parser("create", help="create a user (password prompted for, or read with --password-stdin)")
    uc.add_argument("username", help="3-64 characters: letters, digits and . _ @ + - (case-insensitive)")
    uc.add_argument(
        "--password-stdin",
        action="store_true",
        dest="password_stdin",
        help="read the password from the first line of stdin instead of prompting",
    )
    add_store_flags(uc)
    return _create_user


def bench_api(bench_sub: Any) -> Handler:
    """``novel-engine bench api``: HTTP and WebSocket figures of the served app (see :mod:`serve_app.bench`)."""
    from serve_app.bench import add_bench_parser, cmd_bench_api

    add_bench_parser(bench_sub)
    return cmd_bench_api


def bench_load(bench_sub: Any) -> Handler:
    """``novel-engine bench load``: users creating and playing sessions for a while (see :mod:`serve_app.bench_load`)."""
    from serve_app.bench_load import add_load_parser, cmd_bench_load

    add_load_parser(bench_sub)
    return cmd_bench_load
