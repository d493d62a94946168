"""The ``novel-engine`` command line: run stories, list and resume stored sessions, list and validate
scenarios, run benchmarks (also ``python -m novel_engine``). The serve app adds ``serve``, ``users``
and ``bench api`` through entry points (:mod:`novel_engine.cli_plugins`): this package never
imports it.

User errors (a bad scenario, an unknown name, a bad flag or setting, a seed out of range) are one
line on stderr with exit code 2 and no traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence

from novel_engine import cli_llm
from novel_engine.cli_bench import add_bench_parser, cmd_bench
from novel_engine.cli_plugins import COMMANDS, add_plugin_commands
from novel_engine.cli_support import (
    EXIT_USER_ERROR,
    CliParser,
    TurnProgress,
    add_log_level,
    add_store_flags,
    count_arg,
    emit,
    load_cli_scenario,
    seed_arg,
    setup_logging,
    store_settings,
    unit_arg,
    user_error,
    version,
)
from novel_engine.errors import NovelEngineError

__all__ = ["main"]

log = logging.getLogger("novel_engine.cli")


def _parser() -> argparse.ArgumentParser:
    p = CliParser(prog="novel-engine", description="Stories told by many AI characters at once.")
    p.add_argument("--version", action="version", version=f"novel-engine {version()}")
    add_log_level(p, top=True)
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a story and print it turn by turn")
    run.add_argument(
        "scenario",
        help="a built-in scenario name (see `novel-engine scenarios`), a YAML file, or "
        "synthetic:PERSONAS[:STYLE] (a generated world, e.g. synthetic:5000:noir)",
    )
    run.add_argument("--turns", type=count_arg, default=10, help="how many turns to play (default 10)")
    run.add_argument(
        "--seed",
        type=seed_arg,
        default=None,
        help="the session seed, 0 <= seed < 2**63 (default: the scenario's; synthetic: 0)",
    )
    run.add_argument(
        "--out",
        help="also write the story to this file or s3://bucket/key: EPUB (.epub), "
        "a standalone HTML page with the tension curve (.html), else Markdown",
    )
    run.add_argument("--events", help="also write every event as JSON lines to this file or s3://bucket/key")
    run.add_argument("--verbosity", type=unit_arg, default=None, help="prose verbosity in [0, 1]")
    run.add_argument("--style", choices=("epic_fantasy", "noir", "sci_fi"), help="override the prose style")
    run.add_argument("--quiet", action="store_true", help="no progress bar or messages on stderr")
    run.add_argument(
        "--pov",
        default=None,
        metavar="PERSONA",
        help="tell the story as this persona saw it (its perceptions and beliefs only)",
    )
    run.add_argument(
        "--runtime",
        choices=("local", "ray"),
        default="local",
        help="local (default, as Engine(): every phase in this process) or ray (actors on a "
        "private local Ray instance or a given cluster; the same story)",
    )
    run.add_argument(
        "--address",
        default=None,
        help="Ray cluster address, or 'auto' to join the cluster running here "
        "(default: $RAY_ADDRESS if set, else a private local Ray instance)",
    )
    run.add_argument(
        "--dashboard",
        action="store_true",
        help="Ray: start Ray's dashboard (on loopback) with the private local instance and say "
        "where it and the actors' logs are",
    )
    run.add_argument(
        "--personas-per-actor",
        type=int,
        default=None,
        dest="personas_per_actor",
        help="Ray: personas hosted per persona shard (default: 1 for small casts, else packed)",
    )
    run.add_argument(
        "--no-store",
        action="store_true",
        dest="no_store",
        help="keep the session in memory only (no resume, and on Ray no recovery of lost actors)",
    )
    add_store_flags(run)
    cli_llm.add_llm_flags(run)
    cli_llm.add_replay_parser(sub, add_store_flags)

    res = sub.add_parser("resume", help="continue a stored session where it stopped (in this process)")
    res.add_argument("session_id", help="the id `novel-engine run` printed on stderr")
    res.add_argument("--turns", type=count_arg, default=1, help="how many more turns to play (default 1)")
    res.add_argument("--out", help="also write the whole story to this file (.epub, .html, else Markdown)")
    res.add_argument("--quiet", action="store_true", help="no progress bar or messages on stderr")
    add_store_flags(res)

    ses = sub.add_parser("sessions", help="list the stored sessions (id, scenario, turns, last played)")
    add_store_flags(ses)

    sub.add_parser("scenarios", help="list the built-in scenarios")

    val = sub.add_parser("validate", help="check a scenario file and print every error in it")
    val.add_argument("file")

    add_bench_parser(sub)  # `bench core`, `bench runtime` and the other suites
    add_plugin_commands(sub, COMMANDS)  # `serve`, `users`
    for command in sub.choices.values():
        add_log_level(command)
    return p


def _cmd_run(args: argparse.Namespace) -> int:
    from novel_engine.api import Engine
    from novel_engine.storage.exports import check_target

    scenario = load_cli_scenario(args.scenario, args.seed)  # a bad scenario fails before Ray starts
    check_target(args.out, "--out")  # so does a malformed s3:// URL
    check_target(args.events, "--events")
    if args.pov is not None and not any(p.id == args.pov for p in scenario.personas):
        raise NovelEngineError(
            f"--pov: no persona {args.pov!r} in {scenario.title!r}; choose one of "
            f"{', '.join(p.id for p in scenario.personas[:20])}"
        )
    if args.personas_per_actor is not None and args.personas_per_actor < 1:
        raise NovelEngineError("--personas-per-actor: must be at least 1")
    if args.dashboard and args.runtime != "ray":
        raise NovelEngineError("--dashboard: Ray's dashboard needs --runtime ray")
    if args.runtime == "ray" and not args.quiet:
        print("starting the Ray runtime...", file=sys.stderr, flush=True)
    # The state store keeps every turn (so `resume` can continue the story, and on Ray the driver can
    # rebuild actors lost mid-run from it); Ray sessions store exactly what local ones do.
    store = None if args.no_store else store_settings(args)
    # A story run never joins whatever Ray instance happens to run on this machine unless asked:
    # "local" starts a private one (RAY_ADDRESS, as KubeRay sets it for a RayJob, still wins).
    address = args.address or os.environ.get("RAY_ADDRESS") or "local"
    engine = Engine(args.runtime, address=address, store=store, dashboard=args.dashboard)
    if args.dashboard:
        info = engine.ray_info()
        print(
            f"Ray dashboard: {info['dashboard_url'] or 'not running (this cluster has none)'}"
            + (f" (it asks for the token in {info['token_file']})" if info["token_file"] else "")
            + f"; actors' logs: {info['logs_dir']}",
            file=sys.stderr,
            flush=True,
        )
    session = engine.create_session(
        scenario,
        seed=args.seed,
        verbosity=args.verbosity,
        narrative_style=args.style,
        personas_per_actor=args.personas_per_actor,
        **cli_llm.llm_overrides(args),
    )
    if engine.store is not None and not args.quiet:
        print(
            f"session {session.id} (continue it with: novel-engine resume {session.id} --turns N)",
            file=sys.stderr,
            flush=True,
        )
    try:
        return _play(session, args)
    finally:
        session.close()
        engine.close()


def _play_turns(session, args: argparse.Namespace) -> None:
    """Play ``args.turns`` turns, printing each on stdout, with a progress bar on a terminal's stderr."""
    pov = getattr(args, "pov", None)  # `replay` plays through here too, without --pov
    with TurnProgress(args.turns, quiet=args.quiet, logger=log).active() as progress:
        if args.turns and session.finished:  # a resumed story that has already ended
            if not args.quiet:
                print(f"the story ended at turn {session.turn}: there is nothing more to play", file=sys.stderr)
            return
        for i in range(1, args.turns + 1):
            report = session.step()
            prose = session.pov_chapters(pov)[-1].text if pov else report.prose
            emit(f"## Turn {report.turn}\n\n{prose}\n")
            progress.turn_done(i, report)
            if session.finished:
                log.info("the story ends at turn %d: its main goals are reached", report.turn)
                if not args.quiet:
                    print(f"the story ends at turn {report.turn}: its main goals are reached", file=sys.stderr)
                break


def _play(session, args: argparse.Namespace) -> int:
    from novel_engine.storage.exports import export_session

    sc = session.scenario
    print(f"# {sc.title}\n", flush=True)
    if sc.description:
        print(f"*{sc.description.strip()}*\n", flush=True)
    started = time.perf_counter()
    _play_turns(session, args)
    if args.out:
        export_session(session, args.out, flag="--out")  # a path or s3://bucket/key; the format by extension
    if args.events:
        export_session(session, args.events, "events", flag="--events")
    if not args.quiet:
        done = f"done: {session.turn} turns in {time.perf_counter() - started:.2f} s"  # fewer when it ended
        written = [x for x in (args.out, args.events) if x]
        print(done + (f"; wrote {', '.join(written)}" if written else ""), file=sys.stderr)
    return 0


def _cmd_resume(args: argparse.Namespace) -> int:
    from novel_engine.api import Engine
    from novel_engine.storage.exports import check_target, export_session

    check_target(args.out, "--out")
    with Engine(store=store_settings(args)) as engine:
        session = engine.resume(args.session_id)
        if not args.quiet:
            print(f"resumed {session.id} after turn {session.turn}", file=sys.stderr, flush=True)
        _play_turns(session, args)
        if args.out:
            export_session(session, args.out, flag="--out")
    return 0


def _cmd_sessions(args: argparse.Namespace) -> int:
    from novel_engine.cli_sessions import list_stored_sessions

    return list_stored_sessions(store_settings(args))


def _cmd_scenarios(_: argparse.Namespace) -> int:
    from novel_engine.scenarios import describe_builtins

    rows = describe_builtins()
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        print(
            f"{r['name']:<{width}}  {r['style']:<12}  {r['personas']} personas, {r['locations']} places  {r['title']}"
        )
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from novel_engine.scenarios import load_scenario

    sc = load_scenario(args.file)
    print(f"{args.file}: valid ({sc.title!r}: {len(sc.personas)} personas, {len(sc.locations)} places)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``novel-engine`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    setup_logging(args.log_level)
    handlers = {
        "run": _cmd_run,
        "resume": _cmd_resume,
        "sessions": _cmd_sessions,
        "scenarios": _cmd_scenarios,
        "validate": _cmd_validate,
        "bench": cmd_bench,
        "replay": lambda a: cli_llm.cmd_replay(a, store_settings(a), _play),
    }
    try:
        plugin = getattr(args, "plugin", None)  # a command another package added (cli_plugins)
        return plugin(args) if plugin is not None else handlers[args.command](args)
    except NovelEngineError as exc:
        print(user_error(exc), file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `novel-engine run ... | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
