"""What every ``novel-engine`` command shares: one-line usage errors, the seed, log-level and state
store flags, synthetic casts named on the command line, and the progress bar of long runs (the
commands other packages add, such as the serve app's, use these too).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from importlib import metadata
from typing import Any, NoReturn

from novel_engine.core.rng import SEED_LIMIT, seed_problem
from novel_engine.errors import NovelEngineError

__all__ = [
    "EXIT_USER_ERROR",
    "CliParser",
    "LOG_LEVELS",
    "SYNTHETIC_PREFIX",
    "TurnProgress",
    "add_log_level",
    "add_store_flags",
    "count_arg",
    "store_settings",
    "emit",
    "load_cli_scenario",
    "seed_arg",
    "unit_arg",
    "setup_logging",
    "user_error",
    "version",
]

LOG_LEVELS = ("debug", "info", "warning", "error")
SYNTHETIC_PREFIX = "synthetic:"
#: the largest synthetic cast the command line makes: about 3 GB of memory at 1,000,000 personas
MAX_SYNTHETIC_PERSONAS = 1_000_000
EXIT_USER_ERROR = 2


class CliParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr (and exit code 2), naming the
    command and where to read its help, instead of argparse's usage block plus the error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def version() -> str:
    """The installed distribution's version (the source tree's when it is not installed)."""
    try:
        return metadata.version("novel-engine")
    except metadata.PackageNotFoundError:
        from novel_engine.version import __version__

        return __version__


def seed_arg(text: str) -> int:
    """argparse type of ``--seed``: a whole number with ``0 <= seed < 2**63`` (see ``SEED_LIMIT``)."""
    whole = text.strip().lstrip("+-").isdigit()
    problem = seed_problem(int(text)) if whole else f"expected a whole number from 0 to {SEED_LIMIT - 1}, got {text!r}"
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return int(text)


def count_arg(text: str) -> int:
    """argparse type of a count (``--turns``...): a whole number, zero or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected zero or more, got {value}")
    return value


def unit_arg(text: str) -> float:
    """argparse type of a fraction (``--verbosity``): a number between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {value}")
    return value


def add_log_level(p: argparse.ArgumentParser, *, top: bool = False) -> None:
    """``--log-level``, accepted before the command and after it (``run X --log-level info``)."""
    # a sub-command's default must not overwrite what was given before the command
    default = "warning" if top else argparse.SUPPRESS
    p.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default=default,
        dest="log_level",
        type=str.lower,
        help="what the engine logs on stderr (default warning; info adds a line per turn)",
    )


def add_store_flags(p: argparse.ArgumentParser) -> None:
    """Add ``--database-url``, ``--redis-url`` and ``--object-store-url`` (read by :func:`store_settings`)."""
    g = p.add_argument_group("state (default: an embedded store in NOVEL_ENGINE_DATA_DIR or ./.novel-engine)")
    g.add_argument("--database-url", help="sqlite:///path or postgresql://... (env NOVEL_ENGINE_DATABASE_URL)")
    g.add_argument("--redis-url", help="redis://host:6379/0 (env NOVEL_ENGINE_REDIS_URL)")
    g.add_argument("--object-store-url", help="file:///path or s3://bucket/prefix (env NOVEL_ENGINE_OBJECT_STORE_URL)")


def store_settings(args: argparse.Namespace) -> Any:
    """The :class:`~novel_engine.storage.StoreSettings` of :func:`add_store_flags`' flags over the environment."""
    from novel_engine.storage.settings import StoreSettings

    return StoreSettings.from_env(
        database_url=args.database_url, redis_url=args.redis_url, object_store_url=args.object_store_url
    )


def setup_logging(level: str) -> None:
    """Send log records at ``level`` and above to stderr, one line each.

    Configures the root logger only when nothing has yet (as ``logging.basicConfig`` does), so
    ``main()`` called inside another program (a test, a notebook) leaves that program's logging alone.
    """
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")


def load_cli_scenario(name: str, seed: int | None) -> Any:
    """A scenario named on the command line: a built-in, a file, or ``synthetic:PERSONAS[:STYLE]``.

    A synthetic world is generated from ``seed`` (0 when None), which is also its session seed, so
    ``run synthetic:5000 --seed 3`` tells the same story every time.

    Raises:
        ScenarioError: unknown name, unreadable or invalid file, or a malformed ``synthetic:`` spec.
    """
    from novel_engine.core.scenario import STYLES
    from novel_engine.errors import ScenarioError
    from novel_engine.scenarios import load_scenario, synthetic

    if not name.startswith(SYNTHETIC_PREFIX):
        return load_scenario(name)
    usage = f"use {SYNTHETIC_PREFIX}PERSONAS or {SYNTHETIC_PREFIX}PERSONAS:STYLE (style: {', '.join(STYLES)})"
    size, _, style = name[len(SYNTHETIC_PREFIX) :].partition(":")
    try:
        personas = int(size.replace("_", ""))
    except ValueError:
        raise ScenarioError(f"{name!r}: the cast size {size!r} is not a whole number; {usage}") from None
    if not 1 <= personas <= MAX_SYNTHETIC_PERSONAS:
        raise ScenarioError(f"{name!r}: the cast size must be between 1 and {MAX_SYNTHETIC_PERSONAS:,}")
    if style and style not in STYLES:
        raise ScenarioError(f"{name!r}: unknown style {style!r}; {usage}")
    return synthetic(personas, seed=0 if seed is None else seed, style=style or "sci_fi")


def emit(text: str) -> None:
    """Print story text on stdout; while a progress bar shows, clear it first and redraw it after."""
    from tqdm import tqdm

    tqdm.write(text, file=sys.stdout)
    sys.stdout.flush()


class TurnProgress:
    """The progress of a run of ``total`` turns: a tqdm bar with an ETA on stderr when stderr is a
    terminal (bounded to 100 columns), and a log record per turn (``--log-level info``) always, so
    a run whose stderr goes to a file or a pipe says where it stands without a bar in it."""

    def __init__(self, total: int, *, quiet: bool, logger: logging.Logger) -> None:
        from tqdm import tqdm

        self.total = total
        self._log = logger
        try:  # the bar goes to stderr, so its terminal's width counts (stdout may be a file)
            columns = os.get_terminal_size(sys.stderr.fileno()).columns or 80
        except (OSError, ValueError, AttributeError):
            columns = 80
        width = min(100, columns)
        # disable=None: tqdm turns itself off when stderr is not a terminal
        self._bar = tqdm(
            total=total,
            unit="turn",
            file=sys.stderr,
            ncols=width,
            disable=True if quiet else None,
            leave=False,
            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} turns [{elapsed}<{remaining}{postfix}]",
        )

    @contextlib.contextmanager
    def active(self) -> Iterator[TurnProgress]:
        """While open, log records go above the bar instead of through it."""
        from tqdm.contrib.logging import logging_redirect_tqdm

        try:
            with logging_redirect_tqdm():  # the root logger's stderr handler
                yield self
        finally:
            self._bar.close()

    def turn_done(self, i: int, report: Any) -> None:
        """Advance by one turn and log what it did."""
        ms = sum(report.timings.values()) * 1000
        self._bar.set_postfix_str(f"tension {report.tension:.2f}", refresh=False)
        self._bar.update(1)
        self._log.info(
            "turn %d/%d: %d events, tension %.2f, %.0f ms", i, self.total, len(report.events), report.tension, ms
        )


def user_error(exc: NovelEngineError) -> str:
    """The one line (or, for a scenario, the list of problems) a user error prints."""
    from novel_engine.errors import ScenarioError

    return f"error: {exc}" if isinstance(exc, ScenarioError) else f"error: {exc.message}"
