"""``novel-engine sessions``: the stored sessions, most recently played first, so ``resume`` has an id."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

__all__ = ["list_stored_sessions", "session_rows"]


def session_rows(records: list[Any]) -> list[tuple[str, str, str, str]]:
    """``(id, scenario title, turns, last played)`` per session record, most recently played first
    (sessions stored before the store kept the time come last, by id)."""
    ordered = sorted(records, key=lambda r: (r.played_at is None, -(r.played_at or 0.0), r.id))
    rows = []
    for r in ordered:
        title = str(r.scenario.get("title") or "?")
        played = (
            datetime.fromtimestamp(r.played_at).astimezone().strftime("%Y-%m-%d %H:%M")
            if r.played_at is not None
            else "-"
        )
        rows.append((r.id, title if len(title) <= 40 else title[:39] + "…", str(r.turn), played))
    return rows


def list_stored_sessions(store: Any) -> int:
    """Print the sessions in ``store`` (StoreSettings) as a table on stdout; return the exit code."""
    from novel_engine.api import Engine

    with Engine(store=store) as engine:
        records = engine.stored_sessions()
    if not records:
        print("no stored sessions yet (novel-engine run stores each story it plays)", file=sys.stderr)
        return 0
    rows = [("ID", "SCENARIO", "TURNS", "LAST PLAYED"), *session_rows(records)]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for sid, title, turns, played in rows:
        print(f"{sid:<{widths[0]}}  {title:<{widths[1]}}  {turns:>{widths[2]}}  {played}")
    return 0
