"""The word tables the synthetic world generator draws from: name syllables, trait grids, moods
and each style's flavour (roles, kinds of place, broadcasts, complications)."""

from __future__ import annotations

_SYLLABLES = (
    "ka",
    "ren",
    "dor",
    "li",
    "mo",
    "sa",
    "vel",
    "tor",
    "ni",
    "esh",
    "ar",
    "bel",
    "cor",
    "dra",
    "fen",
    "gal",
    "hal",
    "is",
    "jor",
    "kel",
    "lun",
    "mar",
    "nor",
    "ori",
    "pel",
    "quin",
    "ros",
    "sil",
    "tam",
    "ul",
    "var",
    "wyn",
    "xan",
    "yor",
    "zel",
    "thu",
)
# values on a 0.01 grid by table lookup: one multiply and one index per draw, cheaper than round()
# on the per-persona path (about a million draws at 100,000 personas)
_UNIT = tuple(i / 100 for i in range(101))  # 0.00 .. 1.00
_SIGNED = tuple((i - 100) / 100 for i in range(201))  # -1.00 .. 1.00
# two-syllable name stems, capitalised once here rather than once per generated name
_STEMS = tuple((a + b).capitalize() for a in _SYLLABLES for b in _SYLLABLES)
_BIASES = ("confirmation", "anchoring", "recency", "negativity")
_MOODS = (
    "wary",
    "restless",
    "loyal",
    "ambitious",
    "weary",
    "reckless",
    "quiet",
    "bitter",
    "hopeful",
    "cunning",
    "proud",
    "frightened",
)

# per style: (roles, kinds of place, broadcast, complications)
_FLAVOUR: dict[str, tuple[tuple[str, ...], tuple[str, ...], str, tuple[str, ...]]] = {
    "sci_fi": (
        (
            "engineer",
            "pilot",
            "medic",
            "miner",
            "technician",
            "security officer",
            "botanist",
            "navigator",
            "quartermaster",
            "xenobiologist",
        ),
        (
            "Docking Ring",
            "Hydroponics Bay",
            "Reactor Deck",
            "Cargo Hold",
            "Observation Deck",
            "Med Bay",
            "Habitat Module",
            "Comms Array",
        ),
        "Station-wide alert: hull sensors report an intruder aboard. All crew stay alert.",
        (
            "A power surge blacks out the sector.",
            "A hull breach alarm sounds; bulkheads slam shut.",
            "An unknown ship hails the station.",
        ),
    ),
    "noir": (
        (
            "bootlegger",
            "cab driver",
            "bartender",
            "beat cop",
            "fence",
            "reporter",
            "croupier",
            "dockworker",
            "lawyer",
            "pickpocket",
        ),
        ("Street", "Alley", "Pier", "Hotel", "Club", "Precinct", "Diner", "Warehouse"),
        "The radio crackles: a killer is loose in the city, and the police have no leads.",
        ("The power fails across the block.", "A body turns up in the gutter.", "Sirens wail as a police raid begins."),
    ),
    "epic_fantasy": (
        (
            "blacksmith",
            "hunter",
            "priest",
            "squire",
            "herbalist",
            "minstrel",
            "miller",
            "sellsword",
            "scribe",
            "shepherd",
        ),
        ("Vale", "Crossing", "Keep", "Market", "Woods", "Ford", "Hollow", "Shrine"),
        "Heralds ride through every village: a beast stalks the land, and the crown offers gold.",
        (
            "A storm breaks and floods the road.",
            "Raiders burn a farmstead.",
            "A comet blazes across the sky, and folk whisper of omens.",
        ),
    ),
}
