"""Scenarios: the built-in world templates, loading from files or mappings, and synthetic worlds.

Built-in scenarios are YAML files shipped as package data in ``novel_engine/scenarios/builtin``;
their file stem is their name (``fantasy_world``, ``noir_city``, ``space_station``). Every way of
getting a scenario ends in :func:`~novel_engine.core.scenario.validate_scenario`, so a scenario
from a file, an API request or a notebook cell is checked the same way and reports every problem
with its path.
"""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from novel_engine.core.scenario import Scenario, validate_scenario
from novel_engine.errors import ScenarioError, UnknownScenarioError
from novel_engine.scenarios.synthetic import synthetic

__all__ = [
    "MAX_SCENARIO_BYTES",
    "builtin_names",
    "describe_builtins",
    "load_scenario",
    "parse_scenario_text",
    "synthetic",
]

#: Scenario files larger than this are refused before parsing: a hand-written scenario is a few
#: kilobytes, and anything bigger is far more likely a mistake (or an attack) than a story.
MAX_SCENARIO_BYTES = 5 * 1024 * 1024
_SUFFIX = ".yaml"


def _builtin_dir() -> Any:
    return resources.files(__name__).joinpath("builtin")


def builtin_names() -> list[str]:
    """Return the names of the built-in scenarios, sorted (e.g. ``["fantasy_world", ...]``)."""
    return sorted(
        entry.name[: -len(_SUFFIX)]
        for entry in _builtin_dir().iterdir()
        if entry.name.endswith(_SUFFIX) and entry.is_file()
    )


def describe_builtins() -> list[dict[str, Any]]:
    """Summarise every built-in scenario (what ``novel-engine scenarios`` lists).

    Returns:
        One dict per built-in, sorted by name, with ``name``, ``title``, ``style``, ``personas``
        (the cast size) and ``locations`` (the number of places).
    """
    out = []
    for name in builtin_names():
        s = load_scenario(name)
        out.append(
            {
                "name": name,
                "title": s.title,
                "style": s.style,
                "personas": len(s.personas),
                "locations": len(s.locations),
            }
        )
    return out


def parse_scenario_text(text: str | bytes, source: str | None = None) -> Scenario:
    """Parse YAML text (JSON is YAML too) and validate it as a scenario.

    Args:
        text: the document.
        source: where it came from (a file name), used in error messages.

    Raises:
        ScenarioError: the text is not valid YAML (the error names the line and column) or not a
            valid scenario (the error lists every problem with its path).
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, source) from None
    return validate_scenario(data, source=source)


def _yaml_error(exc: yaml.YAMLError, source: str | None) -> ScenarioError:
    # the file name goes in ``source`` (str() prefixes it: "bad.yaml: YAML syntax error at line 3,
    # column 7: ..."), the same shape as validation errors, so callers render both alike
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    if mark is None:
        return ScenarioError(f"YAML syntax error: {problem}", source=source)
    # marks count from 0; editors and people count from 1
    line, column = mark.line + 1, mark.column + 1
    text = f"{problem} ({context})" if context else problem
    return ScenarioError(f"YAML syntax error at line {line}, column {column}: {text}", source=source)


def _read_limited(path: Path, source: str) -> bytes:
    try:
        with path.open("rb") as fh:
            # read one byte past the limit instead of trusting stat(): the file may grow, or be a
            # pipe or device that reports no size at all
            data = fh.read(MAX_SCENARIO_BYTES + 1)
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario file: {exc.strerror or exc}", source=source) from None
    if len(data) > MAX_SCENARIO_BYTES:
        raise ScenarioError(
            f"scenario file is too large (over {MAX_SCENARIO_BYTES // (1024 * 1024)} MB); "
            "for big worlds use novel_engine.scenarios.synthetic() or split the file",
            source=source,
        )
    return data


def _decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8-sig")  # -sig: tolerate the BOM some Windows editors write
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            f"scenario file is not UTF-8 text (bad byte at offset {exc.start})", source=source
        ) from None


def _load_builtin(name: str) -> Scenario:
    # parsing the YAML is most of the cost of creating a session (pure-Python PyYAML: ~30 ms for
    # fantasy_world); built-ins never change, so each is parsed once and validated per call, which
    # gives every caller a Scenario of its own
    return validate_scenario(copy.deepcopy(_builtin_data(name)), source=name + _SUFFIX)


@functools.cache
def _builtin_data(name: str) -> Any:
    entry = _builtin_dir().joinpath(name + _SUFFIX)
    try:
        return yaml.safe_load(entry.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, name + _SUFFIX) from None


def _load_file(path: Path) -> Scenario:
    source = str(path)
    if path.is_dir():
        raise ScenarioError("is a directory, not a scenario file", source=source)
    return parse_scenario_text(_decode(_read_limited(path, source), source), source=source)


def load_scenario(source: str | os.PathLike[str] | Mapping[str, Any] | Scenario) -> Scenario:
    """Load and validate a scenario from a built-in name, a YAML file or a parsed mapping.

    Args:
        source: a built-in name (see :func:`builtin_names`), a path to a YAML file, a mapping
            already parsed (e.g. from a JSON request body), or a :class:`Scenario` (returned as is).

    Returns:
        The validated :class:`Scenario`.

    Raises:
        UnknownScenarioError: ``source`` is a string that is neither a built-in name nor an
            existing file; the message lists the built-in names.
        ScenarioError: the file is larger than 5 MB, unreadable, not UTF-8, not valid YAML (the
            message names the file, line and column), or not a valid scenario (``errors`` lists
            every problem with its path and ``source`` is the file name).
    """
    if isinstance(source, Scenario):
        return source
    if isinstance(source, Mapping):
        return validate_scenario(dict(source))
    if isinstance(source, str) and source in builtin_names():
        return _load_builtin(source)
    if not isinstance(source, (str, os.PathLike)):
        raise ScenarioError(
            f"cannot load a scenario from a {type(source).__name__}; give a built-in name, a file path or a mapping"
        )
    path = Path(os.fsdecode(os.fspath(source))).expanduser()
    if path.exists():
        return _load_file(path)
    names = ", ".join(builtin_names())
    raise UnknownScenarioError(
        f"unknown scenario {os.fspath(source)!r}: it is neither a built-in scenario nor an existing "
        f"file (built-in scenarios: {names})"
    )
