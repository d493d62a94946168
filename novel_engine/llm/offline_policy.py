"""The offline model's decision policy: a trait- and goal-weighted utility over the available actions.

Each option (action, target) in a persona's brief gets a utility from its traits (courage,
intelligence, compassion, aggressiveness, social_tendency), its goals, its health, the threat it
perceives, how it regards the people present, and what it remembers of the last turns; a little
seeded noise breaks ties and keeps stories varied. The option with the highest utility wins. So
the brave confront, the cautious hide or flee, the compassionate help the wounded, the sociable
talk, the curious investigate, and everyone pursues their goals, all deterministically for a seed.
"""

from __future__ import annotations

from typing import Any

from novel_engine.core.briefs import TurnBrief
from novel_engine.core.events import ActionType, Decision, build_decision
from novel_engine.core.rng import RandomStreams

__all__ = ["decide", "threat_level", "NOISE"]

NOISE = 0.25  # amplitude of the seeded noise added to every utility
REPEAT_PENALTY = 0.6  # repeating last turn's act on the same target when it made no progress
FIGHT_FATIGUE = 0.5  # per turn of a brawl past the second, whoever the blows go to
TALK_FATIGUE = 0.3  # per turn of idle talk past the first in the last TALK_WINDOW, whoever it was with
TALK_WINDOW = 4
_TALK = frozenset({"speak", "persuade"})


def threat_level(brief: TurnBrief) -> float:
    """How much danger the persona senses, in [0, 1]: bad news it credits, foes present, recent attacks."""
    # comparisons rather than max(): this runs for every persona every turn
    threat = 0.0
    for pf in brief.perceived:
        per = pf.perception
        v = per.fragment.valence
        if v < 0:
            t = -v * pf.credence * (1.0 if per.via in ("here", "private") else 0.6)
            if t > threat:
                threat = t
    for p in brief.present:
        if p.trust < -0.4 and p.affinity < -0.2:
            t = 0.5 + 0.4 * (1.0 if -p.trust > 1.0 else -p.trust)
            if t > threat:
                threat = t
    if threat < 0.8:
        recent = brief.turn - 2
        for m in brief.memories:
            if m.role == "target" and m.action_type == "attack" and m.turn >= recent:
                threat = 0.8
                break
    return 1.0 if threat > 1.0 else threat


def _goal_bonus(brief: TurnBrief) -> tuple[dict[tuple[str, str | None], float], dict[str, dict[str, float]]]:
    """Utility bonuses for options that pursue a goal directly, or lead toward it: by (action,
    target) for moves and untargeted actions, and by person present, then action, for the rest
    (so that scoring the people present looks each person up once, not once per action)."""
    bonus: dict[tuple[str, str | None], float] = {}
    people: dict[str, dict[str, float]] = {}
    for g in brief.goals:
        if g.action is None:
            continue
        act = g.action.value
        w = 0.35 + 0.55 * g.priority
        here = False  # whether the goal's target is present (a loop: no set made per persona)
        if g.target is not None:
            for p in brief.present:
                if p.id == g.target:
                    here = True
                    break
        if here:
            acts = people.setdefault(g.target, {})
            acts[act] = acts.get(act, 0.0) + w
            continue
        place = g.location or (g.target if g.target else None)  # a target here was handled above
        if act in ("investigate", "observe", "hide", "rest") and (place is None or place == brief.location):
            bonus[(act, None)] = bonus.get((act, None), 0.0) + w
            continue
        for dest, hop in brief.paths.items():
            if dest == place or (g.target is not None and dest == _believed_place(brief, g.target)):
                key = ("move", hop)
                bonus[key] = max(bonus.get(key, 0.0), 0.8 * w)
    return bonus, people


def _aggressors(brief: TurnBrief) -> set[str]:
    """Whom the persona believes attacked someone (``hostile:<attacker>`` beliefs)."""
    return {b.key[8:] for b in brief.beliefs if b.key.startswith("hostile:")}


def _bounce_back(brief: TurnBrief) -> tuple[str | None, str | None, float] | None:
    """(the move that would make A, B, A, B, the place just left, the cost of going straight back
    there) from the persona's own moves: a place fled from lately is not gone back to."""
    moves = [
        m for m in brief.memories if m.role == "actor" and m.action_type in ("move", "flee") and m.outcome != "blocked"
    ]
    if not moves:
        return None
    last = moves[-1]
    bounce = None
    if len(moves) >= 2:
        before = moves[-2]
        if before.place == brief.location and before.other == last.place:
            bounce = before.other  # came here from B after going here -> B: going to B again bounces
    fled = last.action_type == "flee" and last.turn >= brief.turn - 4
    return bounce, last.place, 0.9 if fled else 0.2


def _brawl(brief: TurnBrief) -> int:
    """How many turns running, up to the last, the persona has attacked someone (any target)."""
    turns = {m.turn for m in brief.memories if m.role == "actor" and m.action_type == "attack"}
    n, t = 0, brief.turn - 1
    while t in turns:
        n, t = n + 1, t - 1
    return n


def _chatter(brief: TurnBrief) -> int:
    """Of the last ``TALK_WINDOW`` turns, how many the persona spent talking (speak or persuade)
    to anyone without it moving anything on (a secret told, someone won over)."""
    since = brief.turn - TALK_WINDOW
    return len(
        {
            m.turn
            for m in brief.memories
            if m.role == "actor" and m.turn >= since and m.action_type in _TALK and not m.progress
        }
    )


def _believed_place(brief: TurnBrief, persona: str) -> Any:
    found = brief.belief_value(f"location_of:{persona}")
    return found[0] if found else None


def decide(brief: TurnBrief, streams: RandomStreams) -> Decision:
    """Choose this persona's action for the turn of ``brief``.

    Args:
        brief: the persona's bounded view of the turn.
        streams: the session's random streams; the draw is keyed by (turn, persona, "decide").
    Returns:
        A :class:`Decision` with a target, a short rationale and, for talk, a line of dialogue.
    """
    t = brief.traits
    courage, intel = t.get("courage", 0.5), t.get("intelligence", 0.5)
    compassion, aggro = t.get("compassion", 0.5), t.get("aggressiveness", 0.5)
    social = t.get("social_tendency", 0.5)
    health = brief.health
    threat = threat_level(brief)
    provoked = {m.other for m in brief.memories if m.role == "target" and m.action_type == "attack"}
    aggressors = None  # known aggressors, worked out when someone hurt is present (see _aggressors)
    avail = brief.available_actions
    goals, people = _goal_bonus(brief)
    last = None  # the persona's own act of last turn (later memories may be what others did to it)
    for m in reversed(brief.memories):
        if m.role == "actor":
            last = m
            break
    again_act, again_target = (last.action_type, last.other) if last is not None else (None, None)
    # doing the very same thing again is for plans that move on (a search that found something, a
    # blow that wounded); otherwise people move on to something else
    again = REPEAT_PENALTY if last is not None and last.turn == brief.turn - 1 and not last.progress else 0.0
    brawl = _brawl(brief)  # turns running this persona has struck someone, whoever it was
    # pleasantries traded turn after turn, with one and then another, read as a loop: the more of
    # the last few turns went to talk that led nowhere, the likelier people go and do something
    chatter = TALK_FATIGUE * (_chatter(brief) - 1)
    back = _bounce_back(brief)  # the place that would make A, B, A, B (and the one just left)
    conditions = brief.conditions
    rand = streams.stream(brief.turn, brief.agent_id, "decide").random
    # Every option (action, target) gets its utility plus seeded noise, drawn in a fixed order
    # (the people present, moves, flights, then hide, observe, investigate, rest); the highest
    # wins. Options are scored as they are made: no list of them per persona.
    top_u, top_act, top_target, top_why = -9.0, "rest", None, "fatigue"
    if "speak" in avail:  # someone is here (a captive can still talk, nothing more)
        fights = "attack" in avail
        base_attack = 0.5 * aggro + 0.3 * courage - 0.4 * compassion - 0.5 * (1.0 - health) - 0.35
        base_help = 0.6 * compassion - 0.2 * aggro - 0.35
        base_speak = 0.5 * social - 0.2 - 0.3 * threat
        base_persuade = 0.35 * social + 0.3 * intel - 0.45
        help_w = 0.4 + 0.6 * compassion
        for p in brief.present:
            # what this persona would most like to do with each person present (then noise decides
            # between people and the other options): one option per person keeps a turn cheap.
            # Candidates in a fixed order (help, speak, persuade, attack), the first best kept.
            pid, trust, aff, status = p.id, p.trust, p.affinity, p.status
            need = 0.6 if status == "wounded" else 0.9 if status == "incapacitated" else -0.3
            if status == "captive":  # only a friend sets a captive free; nobody else meddles
                need = 0.8 if aff >= 0.3 else -0.6
            gp = people.get(pid) if people else None  # this person's goal bonuses, by action
            best_u = base_help + 0.3 * aff + need * help_w
            if need > 0.0 and aggressors is None:
                aggressors = _aggressors(brief)
            if aff < -0.3 or pid in provoked or (need > 0.0 and pid in aggressors and aff <= 0.3):
                best_u -= 1.2  # nobody nurses a foe, or a known aggressor, back to its feet
            if gp is not None:
                best_u += gp.get("help", 0.0)
            best_act, best_why = "help", "compassion"
            if not fights:
                best_u = -9.0  # a captive's hands are tied: words only
            foe = aff < -0.3 or pid in provoked or (need > 0.0 and pid in aggressors)
            if fights and foe and status == "incapacitated":
                # a foe down is taken captive rather than struck again or left to rise
                u = 0.4 * aggro + 0.3 * courage - 0.2 * compassion + 0.1 + (0.5 * -aff if aff < 0.0 else 0.0)
                if u > best_u:
                    best_act, best_u, best_why = "capture", u, "hostility"
            if status != "incapacitated":  # someone down can be helped, not talked to or fought
                u = base_speak + 0.2 * trust + 0.1 * aff
                if gp is not None:
                    u += gp.get("speak", 0.0)
                if u > best_u:
                    best_act, best_u, best_why = "speak", u, "company"
                u = base_persuade + 0.15 * trust
                if gp is not None:
                    u += gp.get("persuade", 0.0)
                if u > best_u:
                    best_act, best_u, best_why = "persuade", u, "persuasion"
                u = base_attack + (
                    0.5 * (-trust if trust < 0.0 else 0.0)
                    + 0.5 * (-aff if aff < 0.0 else 0.0)
                    + (0.6 if pid in provoked else 0.0)
                    - (0.3 * aff if aff > 0.0 else 0.0)
                )
                if gp is not None:
                    u += gp.get("attack", 0.0)
                if fights and status != "captive" and u > best_u:
                    best_act, best_u, best_why = "attack", u, "hostility"
                if fights and foe and status == "wounded" and health >= 0.6 and best_act == "attack":
                    # an outmatched foe is taken rather than beaten again: the fight ends there
                    best_act, best_u = "capture", u + 0.15
            u = best_u + NOISE * (rand() - 0.5)  # a person's goals are already in best_u
            if brawl >= 2 and best_act == "attack":
                u -= FIGHT_FATIGUE * (brawl - 1)  # a brawl that swings from one to the next wears out
            elif chatter > 0.0 and best_act in _TALK:
                u -= chatter
            if again_target == pid and again_act == best_act:
                # a fight that goes nowhere ends: neither side swings again at once
                u -= again * (2.0 + (1.0 if pid in provoked else 0.0)) if best_act == "attack" else again
            if u > top_u:
                top_u, top_act, top_target, top_why = u, best_act, pid, best_why
    for act, base, why in (
        ("move", 0.08 * (1.0 - social) + 0.1 * courage - 0.22 - 0.2 * threat * courage, "wander"),
        ("flee", threat * (1.0 - courage) * 1.2 + 0.5 * (1.0 - health) * threat - 0.35, "fear"),
    ):
        for place in avail.get(act, ()):
            u = base + NOISE * (rand() - 0.5)
            if goals:
                u += goals.get((act, place), 0.0)
            if again_target == place and again_act == act:
                u -= again
            if back is not None:
                if place == back[0]:
                    u -= 1.0  # A, B, A and now B again: a bounce
                elif place == back[1]:
                    u -= back[2]  # straight back where it came from (fled from: not soon)
            if conditions and "danger" in conditions and act == "flee":
                u += 0.6 * (1.0 - courage) + 0.1
            if conditions and "captive" in conditions and act == "flee":
                u += 0.3 + 0.3 * courage  # a captive looks for the way out
            if u > top_u:
                top_u, top_act, top_target, top_why = u, act, place, why
    for act, base, why in (
        ("hide", 0.9 * threat * (1.0 - courage) + 0.1 * (1.0 - social) - 0.25, "caution"),
        ("observe", 0.3 * intel + 0.1 * threat - 0.05 - 0.1 * social, "vigilance"),
        ("investigate", 0.45 * intel - 0.12 - 0.3 * threat, "curiosity"),
        ("rest", 0.9 * (1.0 - health) - 0.15, "fatigue"),
        ("fight_fire", 0.45 * courage + 0.35 * compassion + 0.15 - 0.6 * (1.0 - health), "duty"),
    ):
        if act not in avail:
            continue  # held captive (no hiding or searching), or no fire here to fight
        u = base + NOISE * (rand() - 0.5)
        if goals:
            u += goals.get((act, None), 0.0)
        if again_target is None and again_act == act:
            u -= again
        if conditions and act == "investigate" and "searched_out" in conditions:
            u -= 0.6  # nothing is left to find here
        if u > top_u:
            top_u, top_act, top_target, top_why = u, act, None, why
    action, target, why = top_act, top_target, top_why
    # built without re-validation: every field comes from the brief and is valid by construction
    return build_decision(
        ActionType(action),
        target,
        _tells(brief, target) if action in ("speak", "persuade") else {},
        _line(brief, action, rand),
        _rationale(brief, action, target, why, threat),
        _motives(brief, action, target),
    )


def _tells(brief: TurnBrief, listener: str | None) -> dict[str, Any]:
    """Talking passes on the persona's surest belief that is not about the listener."""
    for b in brief.beliefs:
        if b.credence >= 0.6 and not b.key.endswith(f":{listener}") and isinstance(b.value, (str, int, float, bool)):
            subject = b.key.split(":", 1)[-1]
            what = b.key.split(":", 1)[0].replace("_", " ")
            return {"tells_key": b.key, "tells_value": b.value, "tells_content": f"{what} {subject}: {b.value}"}
    return {}


def _line(brief: TurnBrief, action: str, rand) -> str | None:
    """A line of dialogue for talkative actions: the persona's own voice when it has one."""
    if action not in ("speak", "persuade", "attack", "help") or not brief.voice:
        return None
    if action in ("attack", "help") and rand() < 0.5:
        return None
    return brief.voice[int(rand() * len(brief.voice))]


def _rationale(brief: TurnBrief, action: str, target: str | None, why: str, threat: float) -> str:
    for g in brief.goals:
        if g.action is not None and (g.action.value == action and (g.target in (None, target))):
            return f"pursues the goal: {g.text}"
        if action == "move" and target in brief.paths.values() and g.action is not None:
            return f"heads toward what the goal needs: {g.text}"
    if threat > 0.5 and action in ("flee", "hide"):
        return "senses danger"
    return why


def _motives(brief: TurnBrief, action: str, target: str | None) -> list[str]:
    """Event ids behind the choice: what the persona perceived or remembers about its target."""
    out: list[str] = []
    if target is not None:
        for m in reversed(brief.memories):
            if m.other == target and m.role == "target" and len(out) < 2:
                out.append(m.event_id)
    for pf in brief.perceived:
        f = pf.perception.fragment
        if len(out) >= 3:
            break
        if f.id.startswith("ev:") and (target in f.subjects or (action in ("flee", "hide") and f.valence < 0)):
            out.append(f.id.split(":")[1])  # fragment ids of events are "ev:<event id>[:<part>]"
    return out
