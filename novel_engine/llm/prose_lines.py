"""What characters say in the offline prose: lines made from the content of an exchange.

A quoted line comes from what is being said, in this order:

- the fact told (``data["tells"]`` of a speak event: where someone is, who fell, who struck whom);
- for a persuasion, the request: the speaker's goal that concerns the listener (``Persuade the
  knight to offer tribute`` asks ``offer tribute``), else a plea to help with its top goal;
- for talk, the speaker's goal that concerns the listener, its feeling for the listener (warm or
  cold), else its top goal or a question;
- the reply follows the outcome (agreeing on success, hedging on a partial one, refusing on failure).

The scenario's voice lines are flavour, said as catchphrases in calm acts only (talk, a search, a
watch, a walk, a rest that did not fail; never over a blow, a flight or a rescue): one is used only
when it fits the listener (a line that names someone is said only to that someone; with no listener,
only a line that names no one), never twice in a chapter and never when it was quoted in the chapters
before (``NarrationInput.before``: up to twenty).
"""

from __future__ import annotations

import re
from typing import Any

from novel_engine.llm.port import CharacterSketch
from novel_engine.llm.prose_grammar import quote_forms, strip_end

__all__ = ["LineMaker", "named_in", "fits_listener", "CALM_ACTS"]

_I_FORMS = frozenset({"I", "I'm", "I'll", "I've", "I'd", "OK", "Ok"})
_WORD = re.compile(r"[A-Z][\w'’-]*")
_SENTENCE_START = re.compile(r"(^|[.!?]\s+|[\"“]\s*)$")
# "Persuade the knight to offer tribute", "Talk Ser Aldric out of a charge", "Egg the knight on to kill"
_REQUEST = re.compile(
    r"^(?:persuade|convince|get|talk|egg|urge|press|push|beg|ask|tell)\s+.+?\s+"
    r"(?P<how>on to|out of|into|to)\s+(?P<what>.+)$",
    re.IGNORECASE,
)
_YOU = {
    "she": "you",
    "he": "you",
    "her": "your",
    "his": "your",
    "him": "you",
    "herself": "yourself",
    "himself": "yourself",
    "they": "you",
    "their": "your",
    "them": "you",
}
# acts calm enough for a character's catchphrase (not a fight, a flight, a rescue or a failure)
CALM_ACTS = frozenset({"speak", "persuade", "observe", "investigate", "rest", "move"})
_SENTENCE_LOWER = re.compile(r"([.!?] )([a-z])")
_CLAIM_POOLS = {"location_of": "location", "status_of": "status", "hostile": "hostile", "ally": "ally"}


def named_in(line: str) -> set[str]:
    """The words of ``line`` that look like names: capitalised words inside a sentence, and a
    capitalised word that opens a sentence as a vocative (``VESTA, ...``)."""
    names = set()
    for m in _WORD.finditer(line):
        word = m.group(0).rstrip("'’")
        if word in _I_FORMS:
            continue
        start = _SENTENCE_START.search(line[: m.start()]) is not None
        if not start or line[m.end() : m.end() + 1] == ",":
            names.add(word.removesuffix("'s").removesuffix("’s"))
    return names


def fits_listener(line: str, listener: CharacterSketch | None) -> bool:
    """Whether ``line`` may be said to ``listener``: every name in it is the listener's."""
    names = named_in(line)
    if not names:
        return True
    if listener is None:
        return False
    own = set(re.findall(r"[\w'’-]+", listener.name))
    return names <= own


def first_name(sketch: CharacterSketch | None, fallback: str) -> str:
    """How a speaker addresses someone: the first word of the name that is not a title."""
    if sketch is None or not sketch.name:
        return fallback
    words = [w for w in sketch.name.split() if w.lower().strip(".") not in _TITLES]
    return words[0] if words else sketch.name


_TITLES = frozenset(
    {
        "ser",
        "sir",
        "lady",
        "lord",
        "elder",
        "maester",
        "dr",
        "doctor",
        "captain",
        "commander",
        "sergeant",
        "detective",
        "officer",
        "mr",
        "mrs",
        "ms",
        "miss",
        "the",
        "old",
        "father",
        "mother",
        "brother",
        "sister",
        "chief",
        "lieutenant",
        "engineer",
        "agent",
    }
)


_TITLED = "(?:" + "|".join(sorted(_TITLES - {"the", "old"})) + r")\.?\s+"


def _aim(text: str, listener: CharacterSketch | None = None, speaker: CharacterSketch | None = None) -> str:
    """A goal as the infinitive that follows ``I mean to``: first letter lowered, no end stop, and
    the listener, when it names them, addressed as "you"."""
    text = strip_end(text)
    first = text.split(" ", 1)[0]
    if first[:1].isupper() and not first[1:2].isupper():
        text = text[:1].lower() + text[1:]
    return _address(text, listener, speaker) if listener is not None else text


def _refs(listener: CharacterSketch) -> list[str]:
    """How a goal may name the listener: its full name, "the <word>" for a word of its name, its id
    or the first words of its description ("the singer", "the elder"), and each of its names."""
    words = {w.lower() for w in re.findall(r"[A-Za-z]+", f"{listener.name} {listener.id.replace('_', ' ')}")}
    words |= {w.lower() for w in re.findall(r"[A-Za-z]+", listener.description)[:4]} - {"a", "an", "the", "of"}
    names = [w for w in re.findall(r"[A-Z][a-z]{2,}", listener.name) if w.lower() not in _TITLES]
    return [
        re.escape(listener.name),
        *(rf"the {re.escape(w)}" for w in sorted(words) if len(w) > 2),
        *(re.escape(w) for w in names),
    ]


def _against(goal: str | None, listener: CharacterSketch | None) -> bool:
    """Whether ``goal`` works against ``listener`` ("Keep the engineer from finding the bypass
    chip"): such an aim is pursued behind their back, never asked of them."""
    if not goal or listener is None:
        return False
    m = re.match(r"(?:keep|stop|prevent)\s+(.+?)\s+(?:from|away from)\b", strip_end(goal), re.I)
    return m is not None and any(re.fullmatch(ref, m.group(1), re.I) for ref in _refs(listener))


def _address(text: str, listener: CharacterSketch, speaker: CharacterSketch | None = None) -> str:
    """``text`` said to ``listener``: its names for them become "you" (possessives "your"), a
    third-person pronoun becomes "you" when it is the listener's and "I"/"my"/"me" when it is the
    speaker's (told apart by the pronouns of their descriptions; with both alike, a text that names
    the listener again after the pronoun means the speaker: "trade Halloran what he knows for what
    the detective knows"), and the verb after a new "you" or "I" agrees ("you keeps" -> "you keep")."""
    # a title goes with the name it stands before ("keep Sergeant Doyle steering" -> "keep you steering")
    pattern = re.compile(rf"\b(?:{_TITLED})?(?:{'|'.join(_refs(listener))})(?P<pos>'s|’s)?\b", re.IGNORECASE)
    named = len(pattern.findall(text))
    mine, yours = _gender(speaker), _gender(listener)
    if not named:
        # nobody named: a pronoun of the speaker's alone is the speaker's ("what she saw", said by
        # the witness to a man); with anyone else named it may be theirs, and is left alone
        if mine is None or mine == yours or named_in(text[:1].upper() + text[1:]):
            return text
        words = text.split(" ")
        words = [_mine(w, words[i + 1 : i + 2]) if _PRONOUN_GENDER.get(w) == mine else w for i, w in enumerate(words)]
        return _agree(" ".join(words))
    text = pattern.sub(lambda m: "your" if m.group("pos") else "you", text)
    words = text.split(" ")
    out = []
    for i, w in enumerate(words):
        core = w.rstrip(",.;:!?")
        g = _PRONOUN_GENDER.get(core)
        if g is None:
            out.append(w)
            continue
        later_named = "you" in words[i + 1 :] or "your" in words[i + 1 :]
        theirs, own = yours in (None, g), mine in (None, g)  # whose it may be
        if theirs and not (own and later_named):
            form = _YOU[core]
        elif own:
            form = _mine(w, words[i + 1 : i + 2]) if core == w else _ME[core]
        else:
            out.append(w)
            continue
        out.append(form + w[len(core) :])
    return _agree(" ".join(out))


def _agree(text: str) -> str:
    """The verb after "you" or "I" agrees with it ("you knows" -> "you know", "I has" -> "I have")."""
    text = re.sub(r"\b(you|I) (is|was|has|does)\b", lambda m: f"{m.group(1)} {_AGREE[m.group(1)][m.group(2)]}", text)
    return re.sub(r"\b(you|I) (\w{2,}[^s\W])s\b", r"\1 \2", text)


def _mine(word: str, after: list[str]) -> str:
    """A third-person pronoun of the speaker's, said by the speaker: "her" before a noun is "my"."""
    if word == "her" and after and after[0] not in _NOT_NOUN:
        return "my"
    return _ME[word]


def _gender(sketch: CharacterSketch | None) -> str | None:
    """ "f" or "m" from the pronouns of a description (None: it uses neither, or both alike)."""
    if sketch is None:
        return None
    words = re.findall(r"[a-z]+", sketch.description.lower())
    f = sum(w in ("she", "her", "herself") for w in words)
    m = sum(w in ("he", "his", "him", "himself") for w in words)
    return "f" if f > m else "m" if m > f else None


_PRONOUN_GENDER = {"she": "f", "her": "f", "herself": "f", "he": "m", "his": "m", "him": "m", "himself": "m"}
_ME = {"she": "I", "he": "I", "her": "me", "his": "my", "him": "me", "herself": "myself", "himself": "myself"}
_NOT_NOUN = frozenset({"to", "and", "or", "for", "with", "from", "out", "off", "up", "down", "in", "on", "at", "about"})
_AGREE = {
    "you": {"is": "are", "was": "were", "has": "have", "does": "do"},
    "I": {"is": "am", "was": "was", "has": "have", "does": "do"},
}


def _request(goal: str, listener: CharacterSketch | None, speaker: CharacterSketch | None = None) -> str | None:
    """What a persuasion goal asks of its listener, addressed to them, or None."""
    m = _REQUEST.match(strip_end(goal))
    if m is None:
        return None
    what = m.group("what")
    if m.group("how") == "out of":
        what = f"give up {what}"
    elif m.group("how") == "into":
        what = f"agree to {what}"
    words = what.split(" ")
    # "say what she saw from her window": the listener's pronouns (not "the witness to her theft")
    words = [_YOU[w] if w in _YOU and (i == 0 or words[i - 1] not in ("to", "of")) else w for i, w in enumerate(words)]
    what = " ".join(words)
    return _address(what, listener, speaker) if listener is not None else what


class LineMaker:
    """Makes the lines of one chapter. Its methods take the chapter's writer ``w`` (an
    :class:`~novel_engine.llm.prose_events.EventWriter`: ``w.say(pool, slots)`` fills a grammar
    template, ``w.name(id)`` names someone, ``w.rng`` draws) rather than keeping it, so the two make
    no reference cycle (a turn must leave no cyclic garbage: see ``gc_paused``).

    Args:
        characters: the chapter's character sketches by id.
        before: the text of the chapters before (a voice line quoted there is not said again).
    """

    def __init__(self, characters: dict[str, CharacterSketch], before: str) -> None:
        self.characters, self.before = characters, before
        self.voiced: set[str] = set()  # voice lines used in this chapter
        self.told: set[str] = set()  # events whose line tells a fact (their reply answers news)

    def line(self, w: Any, e: Any, action: str) -> str | None:
        """What the actor of ``e`` says, made from the exchange's content (None: nothing to say).

        A line the decider wrote itself (a language model's, not one of the speaker's voice lines)
        is what was said, and is kept."""
        said = self._line(w, e, action)
        # a request or goal that opens a sentence of the line opens it with a capital
        return _SENTENCE_LOWER.sub(lambda m: m.group(1) + m.group(2).upper(), said) if said else said

    def _line(self, w: Any, e: Any, action: str) -> str | None:
        data = e.data or {}
        speaker = self.characters.get(e.actor)
        listener = self.characters.get(e.target) if e.target else None
        first = first_name(listener, w.name(e.target)) if e.target else ""
        if e.dialogue and speaker is not None and e.dialogue not in speaker.voice:
            return e.dialogue
        told = data.get("tells")
        if action == "speak" and isinstance(told, dict):
            line = self._told(w, told, first, (e.actor, e.target))
            if line:
                self.told.add(e.id)
                return line
        if action in ("speak", "persuade") and speaker is not None:
            aim = speaker.aims.get(e.target or "")
            if _against(aim, listener):  # a scheme against the listener is not told to them
                aim = None
            request = _request(aim, listener, speaker) if aim and action == "persuade" else None
            if request:
                return w.say("says.request", {"first": first, "request": request})
            if action == "persuade":
                goal = aim or (None if _against(speaker.goal, listener) else speaker.goal)
                if not goal:
                    return None
                said = _aim(goal, listener, speaker)
                # an aim on the listener themselves is told as the speaker's intent: a plea's "we"
                # reads wrong there ("We make sure you keep your pretty mouth shut")
                key = "says.goal" if re.search(r"\byou(?:r|rself)?\b", said) else "says.plea"
                return w.say(key, {"first": first, "goal": said})
            bond = speaker.bonds.get(e.target or "", 0.0)
            if aim:
                return w.say("says.goal", {"first": first, "goal": _aim(aim, listener, speaker)})
            if bond >= 0.4 or bond <= -0.3:
                return w.say("says.warm" if bond > 0 else "says.cold", {"first": first})
            if speaker.goal and not _against(speaker.goal, listener) and w.rng.random() < 0.6:
                return w.say("says.goal", {"first": first, "goal": _aim(speaker.goal, listener, speaker)})
            return w.say("says.greet", {"first": first})
        if action not in ("attack", "help") or not e.dialogue or listener is None:
            # a scenario voice line is how someone talks, not what they shout over a blow or a
            # bandage; only those the scenario gives a voice shout as they strike or help
            return None
        if action == "help":
            return w.say("says.aid", {"first": first})
        aim = speaker.aims.get(e.target or "") if speaker is not None else None
        if aim and w.rng.random() < 0.5:
            return w.say("says.vow", {"first": first, "goal": _aim(aim, listener, speaker)})
        return w.say("says.strike", {"first": first})

    def _told(self, w: Any, told: dict, first: str, pair: tuple[str | None, str | None]) -> str | None:
        key, value = told.get("key"), told.get("value")
        if not isinstance(key, str):
            return None
        kind, _, subject = key.partition(":")
        pool = _CLAIM_POOLS.get(kind)
        if pool is not None and subject in pair:
            return None  # nobody tells a listener, in the third person, where they or the speaker stand
        if pool is not None and subject:
            return w.say(
                f"says.{pool}",
                {"first": first, "subject": w.name(subject), "value": w.name(value) if isinstance(value, str) else ""},
            )
        content = strip_end(str(told.get("content") or ""))
        if content and not content.lower().startswith(kind.replace("_", " ")):
            return w.say("says.fact", {"first": first, "news": content[:1].lower() + content[1:]})
        return None

    def reply(self, w: Any, e: Any, action: str, outcome: str) -> str | None:
        """The listener's answer, which agrees with the outcome."""
        if action not in ("speak", "persuade") or not e.target:
            return None
        kind = "tell" if e.id in self.told else action
        return w.say(f"replies.{kind}.{outcome}", {})

    def catchphrase(self, w: Any, pid: str, listener: CharacterSketch | None) -> str | None:
        """One of ``pid``'s voice lines that may be said now (drawn from ``w.rng``), or None."""
        ch = self.characters.get(pid)
        if ch is None or not ch.voice:
            return None
        fit = [v for v in ch.voice if v not in self.voiced and not self._recent(v) and fits_listener(v, listener)]
        if not fit:
            return None
        line = fit[w.rng.randrange(len(fit))]
        self.voiced.add(line)
        return line

    def _recent(self, line: str) -> bool:
        forms = quote_forms(line)
        return bool(forms and self.before and strip_end(forms[0]) in self.before)
