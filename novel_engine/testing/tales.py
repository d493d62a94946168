"""Tiny scenarios for tests: the smallest stories that exercise one behaviour each."""

from __future__ import annotations

from typing import Any

__all__ = ["TRAITS", "short_tale"]

#: The five core traits every persona needs, all middling.
TRAITS = {"courage": 0.5, "intelligence": 0.5, "compassion": 0.5, "aggressiveness": 0.5, "social_tendency": 0.5}


def short_tale(*, main: bool = True) -> dict[str, Any]:
    """Two people in a hall; the story's one goal is reached when Ann speaks to Bo (a player action
    ``{"ann": {"action_type": "speak", "target": "bo"}}`` reaches it). With ``main=False`` the goal
    does not end the story; a second, minor goal (someone rests) never does."""
    return {
        "title": "A Short Tale",
        "style": "epic_fantasy",
        "seed": 3,
        "locations": [
            {"id": "hall", "name": "The Hall", "neighbours": ["yard"]},
            {"id": "yard", "name": "The Yard", "neighbours": ["hall"]},
        ],
        "personas": [
            {"id": "ann", "name": "Ann Ashe", "location": "hall", "traits": dict(TRAITS)},
            {"id": "bo", "name": "Bo Birch", "location": "hall", "traits": dict(TRAITS)},
        ],
        "narrative_goals": [
            {
                "id": "they_talk",
                "description": "Ann speaks her mind to Bo.",
                "main": main,
                "when": {"actor": "ann", "action_type": "speak", "target": "bo"},
            },
            {"id": "side_note", "description": "Someone rests.", "when": {"action_type": "rest"}, "main": False},
        ],
    }
