"""The observatory's names, levels and thresholds for the indicators the barometer shows, read once from
``app/data/reference/observatoire_indicators.csv`` (the observatory's own seed: its source in that folder's README).

Each of JDMA's six indicators maps to the observatory's indicator that shows it (``contact``, JDMA's « aide joignable
et efficace », has no observatory indicator: it is shown without a level). A value takes the level of the highest
threshold it reaches; a figure whose interval also reaches another level's side of a threshold is said uncertain.
"""

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from flask_babel import gettext
from flask_babel import lazy_gettext as _l

CSV_PATH = Path(__file__).resolve().parent.parent / "data" / "reference" / "observatoire_indicators.csv"

# JDMA indicator -> the observatory's indicator slug
OBSERVATORY = {
    "satisfaction": "satisfaction",
    "comprehension": "simplicity",
    "contact_reachability": "help_reachable",
    "contact_satisfaction": "help_efficient",
    "autonomy": "help_used",
    "contact": None,
}
# How the observatory writes a value: a note out of 10, or a percentage (thresholds in percent).
PERCENT = frozenset({"contact_reachability", "autonomy"})

# The observatory names its levels « Très bien », « Insuffisant », « Critique » where its statistics label them; the
# help indicators' levels carry only a format (« XX % »): they take the same names by colour.
COLOR_NAMES = {"green": "Très bien", "yellow": "Insuffisant", "red": "Critique"}

# Names for the indicators the observatory does not name the same way (« contact »), and our short names.
NAMES = {
    "satisfaction": _l("Satisfaction"),
    "comprehension": _l("Clarté des informations"),
    "contact": _l("Aide joignable et efficace"),
    "contact_reachability": _l("Aide joignable"),
    "contact_satisfaction": _l("Aide efficace"),
    "autonomy": _l("Autonomie"),
}
QUESTIONS = {
    "satisfaction": _l("De façon générale, comment ça s’est passé ?"),
    "comprehension": _l("Qu'avez-vous pensé des informations et des instructions fournies ?"),
    "contact": _l("La qualité de l'aide obtenue, chaque administration injoignable comptant 0."),
    "contact_reachability": _l("Quand vous avez cherché de l'aide, avez-vous réussi à joindre l'administration ?"),
    "contact_satisfaction": _l("Comment évaluez-vous la qualité de l'aide que vous avez obtenue de la part de "
                               "l'administration ?"),
    "autonomy": _l("La part des usagers qui n'ont pas eu besoin d'aide."),
}


@dataclass(frozen=True)
class Level:
    position: int
    color: str  # green, yellow, red (gray levels are the « not measured » states)
    label: str  # French, as the observatory writes it (« Très bien »); translated on display
    description: str  # French
    threshold: float | None  # on the observatory's scale (a note /10, or a percentage)
    goal_reached: bool

    @property
    def name(self) -> str:
        return gettext(self.label)


@dataclass(frozen=True)
class ObservatoryIndicator:
    slug: str
    label: str  # French
    description: str  # French
    method: str  # French: how the observatory says it computes it
    levels: tuple[Level, ...]  # those with a threshold, highest first

    def level(self, value: float) -> Level | None:
        return next((lv for lv in self.levels if value >= lv.threshold), None)


@cache
def observatory() -> dict[str, ObservatoryIndicator]:
    with CSV_PATH.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    out = {}
    for slug in {s for s in OBSERVATORY.values() if s}:
        mine = [r for r in rows if r["indicator_slug"] == slug]
        levels = tuple(sorted(
            (Level(int(r["level_position"]), r["level_color"], r["level_label_stats"] or COLOR_NAMES[r["level_color"]],
                   r["level_description"], float(r["level_threshold"]), r["goal_reached"] == "true")
             for r in mine if r["level_threshold"] != "" and r["level_color"] != "gray"),
            key=lambda lv: -lv.threshold))
        first = mine[0]
        out[slug] = ObservatoryIndicator(slug, first["indicator_label"], first["indicator_description"],
                                         first["calculation_method"], levels)
    return out


def observatory_scale(slug: str, value: float) -> float:
    """A JDMA value on the observatory's scale: a percentage for the shares, the note /10 otherwise."""
    if slug == "contact_reachability":
        return value * 100
    if slug == "autonomy":
        return value * 10
    return value


def level_of(slug: str, value: float | None) -> Level | None:
    """The observatory's level of a JDMA value (None without one, or for an indicator without levels)."""
    target = OBSERVATORY.get(slug)
    if value is None or target is None:
        return None
    return observatory()[target].level(observatory_scale(slug, value))


def is_uncertain(slug: str, low: float, high: float) -> bool:
    """Whether an interval reaches two levels: the level of its value could be another one's."""
    return level_of(slug, low) != level_of(slug, high)


# The observatory's level names the barometer shows (for the translation catalog; its level descriptions are not
# shown: the method page says the thresholds in its own words).
_TEXTS = (_l("Très bien"), _l("Insuffisant"), _l("Critique"))
