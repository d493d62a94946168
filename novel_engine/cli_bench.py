"""``novel-engine bench``: the benchmark suites' subcommands and how a run is dispatched to them.

``bench core`` and ``bench runtime`` are defined here; ``bench store`` and ``bench story`` come from
their suites in :mod:`novel_engine.benchmarks`, ``bench llm`` from :mod:`novel_engine.cli_llm`, and
``bench api`` from the serve app through an entry point (:mod:`novel_engine.cli_plugins`). Every
suite writes its figures as JSON; the suites themselves are imported only when one runs.
"""

from __future__ import annotations

import argparse
from typing import Any

from novel_engine import cli_llm
from novel_engine.cli_plugins import BENCH_SUITES, add_plugin_commands
from novel_engine.cli_support import count_arg, seed_arg
from novel_engine.errors import NovelEngineError

__all__ = ["add_bench_parser", "cmd_bench"]


def add_bench_parser(sub: Any) -> None:
    """Add ``bench`` and its suites to the command line's subparsers ``sub``."""
    bench = sub.add_parser("bench", help="run a benchmark and write its figures as JSON")
    bench_sub = bench.add_subparsers(dest="suite", required=True)
    core = bench_sub.add_parser("core", help="the in-process engine at growing cast sizes")
    core.add_argument("--personas", default="100,1000,10000,100000", help="comma-separated cast sizes")
    core.add_argument("--turns", type=count_arg, default=3)
    core.add_argument("--seed", type=seed_arg, default=1)
    core.add_argument(
        "--count-calls",
        action="store_true",
        dest="count_calls",
        help="one more turn per size (one process) under cProfile: function calls per persona-turn",
    )
    core.add_argument("--out", default="bench-results/core.json", help="where to write the JSON figures")
    rt = bench_sub.add_parser("runtime", help="the Ray runtime beside the in-process one, LLM-bound turns, small casts")
    rt.add_argument("--personas", default="1000,10000,100000", help="comma-separated cast sizes")
    rt.add_argument("--llm-personas", type=count_arg, default=1000, dest="llm_personas")
    rt.add_argument("--turns", type=count_arg, default=3)
    rt.add_argument("--seed", type=seed_arg, default=1)
    rt.add_argument("--out", default="bench-results/runtime.json", help="where to write the JSON figures")
    rt.add_argument("--shards", type=count_arg, default=None, help="persona shards on Ray (default: the runtime's)")
    rt.add_argument(
        "--graph-shards",
        type=count_arg,
        default=None,
        dest="graph_shards",
        help="causal-graph shards on both runtimes (default: the director holds the graph)",
    )
    rt.add_argument(
        "--resolver-shards",
        type=count_arg,
        default=None,
        dest="resolver_shards",
        help="resolver shards that settle the map's regions, on both runtimes (default: the director)",
    )
    rt.add_argument(
        "--cluster-personas",
        type=count_arg,
        default=None,
        dest="cluster_personas",
        help="cast of the three-node cluster run (default: the smallest --personas)",
    )
    rt.add_argument(
        "--parts",
        default="compare,llm,small,cluster",
        help="comma-separated: compare (local and Ray per size), llm, small, cluster",
    )
    from novel_engine.benchmarks.store import add_bench_parser as add_store_bench  # `bench store`

    add_store_bench(bench_sub)
    cli_llm.add_bench_parser(bench_sub)
    from novel_engine.benchmarks.story import add_bench_parser as add_story_bench  # `bench story`

    add_story_bench(bench_sub)
    add_plugin_commands(bench_sub, BENCH_SUITES)  # `bench api`


def _counts(text: str, flag: str, what: str) -> list[int]:
    """A comma-separated list of whole numbers of at least 1, or a user error naming ``flag``."""
    try:
        counts = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise NovelEngineError(f"{flag}: expected comma-separated whole numbers, got {text!r}") from None
    if not counts or min(counts) < 1:
        raise NovelEngineError(f"{flag}: give at least one {what} of 1 or more")
    return counts


def cmd_bench(args: argparse.Namespace) -> int:
    """Run the ``bench`` suite ``args.suite`` chose; return the exit code."""
    from novel_engine.benchmarks.core import bench_core
    from novel_engine.benchmarks.runtime_bench import bench_runtime

    if args.suite == "store":
        from novel_engine.benchmarks.store import cmd_bench_store

        return cmd_bench_store(args)

    if args.suite == "llm":
        return cli_llm.cmd_bench_llm(args)
    if args.suite == "story":
        from novel_engine.benchmarks.story import cmd_bench_story

        return cmd_bench_story(args)
    sizes = _counts(args.personas, "--personas", "cast size")
    if args.suite == "runtime":
        bench_runtime(
            sizes,
            turns=max(1, args.turns),
            seed=args.seed,
            llm_personas=max(1, args.llm_personas),
            out=args.out,
            shards=args.shards,
            graph_shards=args.graph_shards,
            resolver_shards=args.resolver_shards,
            cluster_personas=args.cluster_personas,
            parts=[p.strip() for p in args.parts.split(",") if p.strip()],
        )
    else:
        bench_core(
            sizes,
            turns=max(1, args.turns),
            seed=args.seed,
            out=args.out,
            count_calls=args.count_calls,
        )
    return 0
