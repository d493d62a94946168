"""``novel-engine bench story``: do the stories hold together? Figures from an independent reader.

Plays every built-in scenario for a few seeds and a synthetic cast, with the offline model on the
in-process runtime, and reads each story with :func:`~novel_engine.benchmarks.story_checks.check_story`
(which does not use the engine's coherence engine). Prints the figures per scenario and overall
and writes them as JSON. It is a benchmark of story quality, not of speed: the seconds it prints
are only there to say how long the reading took.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from typing import Any

from novel_engine.benchmarks import write_results
from novel_engine.benchmarks.story_checks import CONTRADICTIONS, StoryFigures, check_story

__all__ = ["play_and_check", "bench_story", "add_bench_parser", "cmd_bench_story"]


def play_and_check(scenario: Any, seed: int, turns: int) -> StoryFigures:
    """Play ``scenario`` (a built-in name or a Scenario) for ``turns`` turns and read the story."""
    from novel_engine.api import Engine
    from novel_engine.scenarios import load_scenario

    sc = load_scenario(scenario)
    engine = Engine()
    try:
        session = engine.create_session(sc, seed=seed)
        reports = session.run(turns)
        ended = session.finished
        session.close()
    finally:
        engine.close()
    figures = check_story(sc, [(r.events, r.prose, r.milestones) for r in reports])
    figures.ended = int(ended)
    return figures


def _merge(stories: Sequence[StoryFigures]) -> dict[str, Any]:
    """Sum the counts of several stories; ratios from the sums, secrets as the mean over stories."""
    total = StoryFigures()
    for s in stories:
        for k, v in s.__dict__.items():
            if k == "contradictions":
                for kind, n in v.items():
                    total.contradictions[kind] += n
            elif k == "examples":
                total.examples.extend(v[: max(0, 6 - len(total.examples))])
            elif k == "longest_lull":
                total.longest_lull = max(total.longest_lull, v)
            else:
                setattr(total, k, getattr(total, k) + v)
    out = total.to_dict()
    shares = [s.secrets_uncovered / s.secrets for s in stories if s.secrets]
    out["secrets_ratio_mean"] = round(sum(shares) / len(shares), 4) if shares else None
    out["contradictions_per_story"] = round(out["contradictions_total"] / max(1, len(stories)), 3)
    out["bounces_per_story"] = round(total.bounces / max(1, len(stories)), 3)
    out["complications_fired_per_story"] = (
        f"{total.complications_fired / max(1, len(stories)):.2f} of {total.complications / max(1, len(stories)):.0f}"
    )
    out["stories"] = len(stories)
    return out


def _line(name: str, m: dict[str, Any]) -> str:
    def pct(x: float | None) -> str:
        return "  n/a" if x is None else f"{x:5.2f}"

    return (
        f"{name:<16} contradictions {m['contradictions_per_story']:5.2f}/story  repeats {pct(m['repeat_ratio'])}  "
        f"bounces {m['bounces_per_story']:4.1f}/story  secrets {pct(m['secrets_ratio_mean'])}  "
        f"complications {m['complications_fired_per_story']}  verbatim quotes {pct(m['verbatim_quote_ratio'])}  "
        f"templates {pct(m['template_ratio'])}  milestones holding {pct(m['milestones_holding_ratio'])} "
        f"({m['milestones']})  standing forgotten {m['standing_forgotten']}/{m['standing']}  "
        f"calm under threat {m['calm_under_threat']}  pronoun slips {m['pronoun_slips']}  "
        f"voice misfits {m['voice_misfits']}  longest lull {m['longest_lull']}  ended {m['ended']}  "
        f"long fights {m['long_fights']}  captures {m['captures']} (freed {m['freed']})  fires out {m['fires_out']}"
    )


def bench_story(
    seeds: Sequence[int] = (1, 2, 3, 4, 5),
    turns: int = 20,
    personas: int = 200,
    out: str | os.PathLike = "bench-results/story.json",
    scenarios: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Play and read every built-in for ``seeds`` and a ``personas``-strong synthetic cast (seed 1);
    print a line per scenario and overall; write the JSON to ``out`` and return it."""
    from novel_engine.scenarios import builtin_names
    from novel_engine.scenarios.synthetic import synthetic

    names = list(scenarios) if scenarios is not None else builtin_names()
    t0 = time.perf_counter()
    per: dict[str, list[StoryFigures]] = {}
    for name in names:
        per[name] = [play_and_check(name, seed, turns) for seed in seeds]
    if personas > 0:
        per[f"synthetic_{personas}"] = [play_and_check(synthetic(personas=personas, seed=1), 1, turns)]
    rows = {name: _merge(stories) for name, stories in per.items()}
    overall = _merge([s for stories in per.values() for s in stories])
    builtins = [s for name in names for s in per[name]]
    overall_builtin = _merge(builtins) if builtins else None
    for name, m in rows.items():
        print(_line(name, m), flush=True)
    print(_line("overall", overall))
    if overall_builtin is not None:
        print(_line("built-ins", overall_builtin))
    print("contradictions by kind: " + ", ".join(f"{k} {overall['contradictions'][k]}" for k in CONTRADICTIONS))
    for ex in overall["examples"][:6]:
        print(f"  e.g. {ex}")
    load = os.getloadavg()
    result = {
        "suite": "story",
        "seeds": list(seeds),
        "turns": turns,
        "synthetic_personas": personas,
        "seconds": round(time.perf_counter() - t0, 2),
        "load_average": [round(x, 2) for x in load],
        "scenarios": rows,
        "overall": overall,
        "builtins": overall_builtin,
        "per_story": {
            name: [dict(s.to_dict(), seed=seed) for s, seed in zip(stories, seeds)] for name, stories in per.items()
        },
    }
    print(
        f"read {sum(len(s) for s in per.values())} stories in {result['seconds']} s (load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f})"
    )
    write_results(result, out)
    return result


def add_bench_parser(bench_sub: Any) -> None:
    """Add ``bench story`` to the ``bench`` subcommands."""
    p = bench_sub.add_parser("story", help="story quality: contradictions, loops, discoveries, pacing, prose variety")
    p.add_argument("--seeds", default="1,2,3,4,5", help="comma-separated seeds for each built-in (default 1-5)")
    p.add_argument("--turns", type=int, default=20, help="turns per story (default 20)")
    p.add_argument("--personas", type=int, default=200, help="synthetic cast size (0: none; default 200)")
    p.add_argument("--scenario", action="append", default=None, help="only this built-in (repeatable)")
    p.add_argument("--out", default="bench-results/story.json", help="where to write the JSON figures")


def cmd_bench_story(args: argparse.Namespace) -> int:
    """Run ``bench story`` from parsed arguments; exit code 2 on bad arguments."""
    try:
        seeds = [int(s) for s in str(args.seeds).split(",") if s.strip()]
    except ValueError:
        print(f"error: --seeds: expected comma-separated integers, got {args.seeds!r}")
        return 2
    if not seeds or args.turns < 1 or args.personas < 0:
        print("error: --seeds needs at least one seed, --turns at least 1, --personas zero or more")
        return 2
    bench_story(seeds, turns=args.turns, personas=args.personas, out=args.out, scenarios=args.scenario)
    return 0
