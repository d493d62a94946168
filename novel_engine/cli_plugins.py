"""Commands that other installed packages add to ``novel-engine``, found through entry points.

Imports flow one way: ``serve_app`` is built on ``novel_engine``, never the reverse. So the
commands that start or administer the HTTP server (``serve``, ``users``, ``bench api``) are not
imported here: the serve app declares them in ``pyproject.toml``::

    [project.entry-points."novel_engine.commands"]
    serve = "serve_app.commands:serve"

    [project.entry-points."novel_engine.bench"]
    api = "serve_app.commands:bench_api"
    load = "serve_app.commands:bench_load"

Each entry point names a function ``register(subparsers) -> handler``: it adds the parser named
like the entry point to the given subcommands, and returns the function that runs the parsed
command and returns its exit code. Loading it imports only that module, which stays light (the
command's heavy parts load when it runs), so ``novel-engine --help`` stays quick.

The commands the documentation promises still parse when their package is missing (or the
installed metadata predates them); running one then says what is missing, rather than argparse's
"invalid choice".
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from importlib import metadata
from typing import Any

from novel_engine.errors import NovelEngineError

__all__ = ["COMMANDS", "BENCH_SUITES", "Handler", "add_plugin_commands"]

COMMANDS = "novel_engine.commands"  # top-level commands (`novel-engine serve`)
BENCH_SUITES = "novel_engine.bench"  # `novel-engine bench <suite>`

Handler = Callable[[argparse.Namespace], int]

# What README and docs/ promise, by group: name -> (help, the package that provides it).
PROMISED: dict[str, dict[str, tuple[str, str]]] = {
    COMMANDS: {
        "serve": ("start the HTTP and WebSocket API on Ray Serve (Ctrl-C stops it)", "serve_app"),
        "users": ("manage the users of the HTTP server", "serve_app"),
    },
    BENCH_SUITES: {
        "api": ("HTTP latency/throughput with 64 clients, WebSocket delivery to 1,000 subscribers", "serve_app"),
        "load": ("users creating sessions and playing turns for a fixed time, with sockets", "serve_app"),
    },
}


def _missing(name: str, group: str, reason: str) -> Handler:
    command = name if group == COMMANDS else f"bench {name}"
    package = PROMISED.get(group, {}).get(name, ("", "the package providing it"))[1]

    def run(_: argparse.Namespace) -> int:
        raise NovelEngineError(
            f"`novel-engine {command}` comes with {package}, which is not installed here ({reason}); "
            "install Novel Engine with it (in a checkout: pip install -e .)",
            command=command,
        )

    return run


def _stub(sub: Any, name: str, help_text: str, handler: Handler) -> None:
    p = sub.add_parser(name, help=f"{help_text} [not installed]", add_help=False)

    def take_anything(args: Any = None, namespace: Any = None) -> tuple[argparse.Namespace, list[str]]:
        # whatever follows (flags included) is the missing command's; its handler says what is missing
        return argparse.Namespace(plugin=handler), []

    p.parse_known_args = take_anything  # type: ignore[method-assign]


def _entry_points(group: str) -> list[metadata.EntryPoint]:
    seen: dict[str, metadata.EntryPoint] = {}
    for ep in metadata.entry_points(group=group):
        seen.setdefault(ep.name, ep)  # the same distribution found twice on the path: the first wins
    return sorted(seen.values(), key=lambda ep: ep.name)


def add_plugin_commands(sub: Any, group: str) -> None:
    """Add the commands the installed packages declare in ``group`` to ``sub`` (argparse subparsers).

    Each command's parser gets ``plugin`` (its :data:`Handler`) as a default, so the caller runs
    ``args.plugin(args)``. A promised command whose package cannot be loaded gets a parser that
    accepts anything and a handler raising :class:`NovelEngineError` that names what is missing.
    """
    for ep in _entry_points(group):
        if ep.name in sub.choices:
            continue  # a built-in command of that name wins
        try:
            register = ep.load()
        except ImportError as err:
            promised = PROMISED.get(group, {}).get(ep.name, ("",))[0]
            _stub(sub, ep.name, promised or f"from {ep.value}", _missing(ep.name, group, f"import failed: {err}"))
            continue
        handler = register(sub)
        if ep.name not in sub.choices:
            raise NovelEngineError(f"entry point {ep.name} = {ep.value} ({group}) added no command {ep.name!r}")
        sub.choices[ep.name].set_defaults(plugin=handler)
    for name, (help_text, _) in PROMISED.get(group, {}).items():
        if name not in sub.choices:
            _stub(sub, name, help_text, _missing(name, group, f"no {group} entry point {name!r}"))
