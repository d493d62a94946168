"""The command line's language-model parts: ``run --llm ...``, ``replay`` and ``bench llm``.

Kept apart from :mod:`novel_engine.cli` so that module only wires them in. Keys never appear
on the command line: they come from ``GEMINI_API_KEY`` / ``GOOGLE_API_KEY`` / ``OPENAI_API_KEY``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from novel_engine.cli_support import seed_arg

__all__ = ["add_llm_flags", "llm_overrides", "add_replay_parser", "cmd_replay", "add_bench_parser", "cmd_bench_llm"]


def add_llm_flags(p: argparse.ArgumentParser) -> None:
    """``--llm`` and the options a user most often sets from the command line."""
    g = p.add_argument_group("language model (keys from GEMINI_API_KEY / GOOGLE_API_KEY / OPENAI_API_KEY)")
    g.add_argument(
        "--llm",
        choices=("offline", "gemini", "openai"),
        default=None,
        help="who decides and narrates (default: the scenario's llm, else offline)",
    )
    g.add_argument("--llm-model", dest="llm_model", default=None, help="the provider's model name")
    g.add_argument(
        "--llm-base-url",
        dest="llm_base_url",
        default=None,
        help="the API's base URL (required for openai, e.g. http://localhost:8000/v1)",
    )
    g.add_argument(
        "--llm-max-concurrency",
        dest="llm_max_concurrency",
        type=int,
        default=None,
        help="the most model calls in flight at once, cluster-wide (default 64)",
    )
    g.add_argument("--llm-rpm", dest="llm_rpm", type=int, default=None, help="requests per minute quota")
    g.add_argument("--llm-tpm", dest="llm_tpm", type=int, default=None, help="tokens per minute quota")
    g.add_argument(
        "--gemini-transport",
        dest="gemini_transport",
        choices=("genai", "rest"),
        default=None,
        help="genai (default: the official client) or rest (less CPU per call, for large casts)",
    )
    g.add_argument(
        "--on-model-failure",
        dest="on_model_failure",
        choices=("fallback", "fail"),
        default=None,
        help="fallback (default: the offline model decides, the event is flagged) or fail (stop the turn)",
    )


def llm_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Session-setting overrides from the flags of :func:`add_llm_flags` (None values left out)."""
    options = {
        k: v
        for k, v in {
            "model": getattr(args, "llm_model", None),
            "base_url": getattr(args, "llm_base_url", None),
            "max_concurrency": getattr(args, "llm_max_concurrency", None),
            "requests_per_minute": getattr(args, "llm_rpm", None),
            "tokens_per_minute": getattr(args, "llm_tpm", None),
            "gemini_transport": getattr(args, "gemini_transport", None),
        }.items()
        if v is not None
    }
    out: dict[str, Any] = {
        "llm": getattr(args, "llm", None),
        "on_model_failure": getattr(args, "on_model_failure", None),
    }
    if options:
        out["llm_options"] = options
    return out


def add_replay_parser(sub: Any, store_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    """``novel-engine replay SESSION``: re-run a stored LLM session from its recorded calls."""
    rep = sub.add_parser("replay", help="re-run a stored session from its recorded model calls (no API call)")
    rep.add_argument("session_id", help="the recorded session (local runtime, stored)")
    rep.add_argument("--turns", type=int, default=None, help="how many turns (default: as many as were recorded)")
    rep.add_argument("--out", help="also write the story as Markdown to this file")
    rep.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    store_flags(rep)


def cmd_replay(args: argparse.Namespace, store: Any, play: Callable[[Any, argparse.Namespace], int]) -> int:
    """Replay ``args.session_id``: the same scenario, seed and settings, every answer from the records
    (``play(session, args)`` plays and prints the turns, as ``run`` does)."""
    from novel_engine.api import Engine
    from novel_engine.core.scenario import Scenario
    from novel_engine.errors import NovelEngineError

    with Engine(store=store) as engine:
        head = engine._require_store("replay").call(lambda st: st.get_session(args.session_id))
        settings = dict(head.settings)
        if (settings.get("llm") or "offline") == "offline":
            raise NovelEngineError(
                f"session {args.session_id} used the offline model: it has no model calls to "
                f"replay (run it again with the same seed instead)"
            )
        settings["llm_options"] = {**(settings.get("llm_options") or {}), "replay_of": args.session_id}
        session = engine.create_session(Scenario.model_validate(head.scenario), settings=settings)
        args.turns = head.turn if args.turns is None else args.turns
        args.events = None
        if not args.quiet:
            print(f"replaying {args.session_id} ({args.turns} turns) as session {session.id}", file=sys.stderr)
        return play(session, args)


def add_bench_parser(bench_sub: Any) -> None:
    """``novel-engine bench llm``."""
    b = bench_sub.add_parser("llm", help="LLM-bound turns through the real Gemini client against a fake server")
    b.add_argument("--personas", type=int, default=1000, help="cast size (default 1000)")
    b.add_argument("--latency-ms", type=float, default=100.0, dest="latency_ms", help="fake server latency per call")
    b.add_argument("--cap", type=int, default=64, help="the most concurrent calls (default 64)")
    b.add_argument("--rate-429", type=float, default=0.10, dest="rate_429", help="share of calls answered 429")
    b.add_argument("--retry-after", default="0.1", dest="retry_after", help="Retry-After sent with a 429 (seconds)")
    b.add_argument("--turns", type=int, default=2)
    b.add_argument("--seed", type=seed_arg, default=1)
    b.add_argument("--runtime", choices=("local", "ray", "both"), default="both")
    b.add_argument(
        "--transport",
        choices=("genai", "rest", "both"),
        default="both",
        help="Gemini through google-genai, through the REST template, or both",
    )
    b.add_argument("--out", default="bench-results/llm.json", help="where to write the JSON figures")


def cmd_bench_llm(args: argparse.Namespace) -> int:
    """Run ``bench llm`` (see :mod:`novel_engine.benchmarks.llm`)."""
    from novel_engine.benchmarks.llm import bench_llm

    runtimes = ("local", "ray") if args.runtime == "both" else (args.runtime,)
    bench_llm(
        personas=max(1, args.personas),
        latency_s=args.latency_ms / 1000.0,
        cap=max(1, args.cap),
        rate_429=args.rate_429,
        retry_after=args.retry_after,
        turns=max(1, args.turns),
        seed=args.seed,
        runtimes=runtimes,
        out=args.out,
        transports=("genai", "rest") if args.transport == "both" else (args.transport,),
    )
    return 0
