"""The « Je donne mon avis » questionnaire the form asks: JDMA's fixed form ``v2_2024_static``, read once from
``app/data/reference/jdma_form.csv`` (its source and licence in that folder's README).

The CSV has one row per answer option (or per free-text field): the step, the field's code, question and hint, the
kind of input, each option's position, label, stored code (JDMA's ``answer_item_id``), stored text, intention and
score out of 10, and the field's display condition. Nothing of it is written here again, but for what the CSV leaves
implicit: which field is required (the first step's, as in JDMA, whose hint says so) and how long a free text may be.

The questionnaire is in French; its texts are shown through the translation catalog (``translated``), which holds
each of them (``_TEXTS`` at the end of this module lists them for extraction).
"""

import csv
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from .models import FORM_VERSION

CSV_PATH = Path(__file__).resolve().parent.parent / "data" / "reference" / "jdma_form.csv"

# The first step's question must be answered (JDMA's « primary section »; its hint reads « Ce champ est
# obligatoire. »); every other question may be left unanswered.
REQUIRED_FIELDS = frozenset({"satisfaction"})
# Free texts: the length the hint announces (« Maximum 250 caractères. »), or ours for the comment (JDMA gives none).
TEXT_LIMITS = {"contact_tried_verbatim": 250, "verbatim": 5000, "contact_email": 254}

CHOICE_KINDS = frozenset({"smiley", "radio", "yes-no", "array-radio"})
MULTIPLE_KINDS = frozenset({"checkbox"})
TEXT_KINDS = frozenset({"input-textarea", "input-email"})


@dataclass(frozen=True)
class Option:
    """One answer a person can choose; ``code`` is what is stored (``answer_item_id``), with ``stored_text``."""

    code: int
    position: int
    label: str  # French, as shown (translated on display)
    stored_text: str  # the answer_text stored with the code: JDMA stores the French label
    intention: str  # very_bad, bad, medium, good, very_good, neutral
    score: float | None  # out of 10, as the observatory counts it (None where it counts none)
    exclusive: bool = False  # ticked alone (« Je n'ai pas eu besoin d'aide »)


@dataclass(frozen=True)
class Condition:
    """A question shown only when another field's answer has one of some codes."""

    field: str
    any_of: frozenset[int]

    def holds(self, answers: dict) -> bool:
        """Whether the condition holds for ``answers`` (field code -> list of codes, as ``Field.codes`` reads)."""
        value = answers.get(self.field)
        return isinstance(value, list | tuple | set | frozenset) and bool(self.any_of & set(value))


@dataclass(frozen=True)
class Field:
    code: str
    step: int
    question: str  # French
    hint: str  # French, may be empty
    kind: str
    options: tuple[Option, ...] = ()
    condition: Condition | None = None
    # JDMA asks its per-channel questions for the channels ticked, except these (kept as the CSV says).
    excluded: frozenset[int] = frozenset()
    intention: str = "neutral"  # of a free-text field
    stored_text: str = ""  # the CSV's stored_answer_text of a free-text field ("(free text)")

    @property
    def is_choice(self) -> bool:
        return self.kind in CHOICE_KINDS

    @property
    def is_multiple(self) -> bool:
        return self.kind in MULTIPLE_KINDS

    @property
    def is_text(self) -> bool:
        return self.kind in TEXT_KINDS

    @property
    def required(self) -> bool:
        return self.code in REQUIRED_FIELDS

    @property
    def max_length(self) -> int | None:
        return TEXT_LIMITS.get(self.code)

    @property
    def is_follow_up(self) -> bool:
        """Shown only when its condition holds: without JavaScript, on a page after its step's other questions."""
        return self.condition is not None

    def option(self, code: int) -> Option | None:
        return next((o for o in self.options if o.code == code), None)

    @property
    def exclusive_option(self) -> Option | None:
        return next((o for o in self.options if o.exclusive), None)


@dataclass(frozen=True)
class Step:
    number: int
    title: str  # French
    fields: tuple[Field, ...] = field(default_factory=tuple)

    @property
    def main_fields(self) -> tuple[Field, ...]:
        """The questions always shown on the step's page."""
        return tuple(f for f in self.fields if not f.is_follow_up)

    @property
    def follow_up_fields(self) -> tuple[Field, ...]:
        """The questions shown only when their condition holds (the step's follow-up page)."""
        return tuple(f for f in self.fields if f.is_follow_up)


@dataclass(frozen=True)
class Questionnaire:
    version: str
    steps: tuple[Step, ...]

    @property
    def fields(self) -> tuple[Field, ...]:
        return tuple(f for s in self.steps for f in s.fields)

    @property
    def last_step(self) -> int:
        return self.steps[-1].number

    def step(self, number: int) -> Step | None:
        return next((s for s in self.steps if s.number == number), None)

    def field(self, code: str) -> Field | None:
        return next((f for f in self.fields if f.code == code), None)

    def texts(self) -> set[str]:
        """Every French text shown (step titles, questions, hints, option labels), but labels that are numbers."""
        out = {s.title for s in self.steps}
        for f in self.fields:
            out.update(t for t in (f.question, f.hint) if t)
            out.update(o.label for o in f.options if not o.label.isdigit())
        return out


# --- reading the CSV ------------------------------------------------------------------------------------------------

_CODES = re.compile(r"\[([0-9, ]*)\]")


def _codes(text: str) -> frozenset[int]:
    match = _CODES.search(text)
    if not match:
        raise ValueError(f"no list of codes in {text!r}")
    return frozenset(int(part) for part in match.group(1).split(",") if part.strip())


def parse_display_condition(text: str) -> tuple[Condition | None, frozenset[int], bool]:
    """The CSV's ``display_condition``: (the condition, the codes excluded, whether this option is exclusive).

    Its parts, separated by « ; »: ``<field> in [codes]`` and ``shown if <field> has any of [codes]`` (the same
    condition, as JDMA's ``conditions`` and ``needed`` write it), ``option values excluded [codes]`` and ``exclusive
    option``. Anything else is refused: a new kind of condition must be read, not skipped."""
    condition, excluded, exclusive = None, frozenset(), False
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        if part == "exclusive option":
            exclusive = True
        elif part.startswith("option values excluded "):
            excluded = _codes(part)
        elif match := re.fullmatch(r"(?:shown if )?(\w+) (?:in|has any of) (\[[0-9, ]*\])", part):
            found = Condition(match.group(1), _codes(match.group(2)))
            if condition is not None and condition != found:
                raise ValueError(f"two different conditions in {text!r}")
            condition = found
        else:
            raise ValueError(f"unknown display condition {part!r}")
    return condition, excluded, exclusive


def _score(text: str) -> float | None:
    return float(text) if text.strip() else None


def load(path: Path = CSV_PATH, version: str = FORM_VERSION) -> Questionnaire:
    """The questionnaire ``version`` from the CSV at ``path`` (steps and fields in the file's order)."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["form_version"] == version]
    if not rows:
        raise ValueError(f"no row of {version} in {path}")
    step_titles: list[str] = []
    fields: dict[str, dict] = {}
    for row in rows:
        if row["step"] not in step_titles:
            step_titles.append(row["step"])
        code = row["field_code"]
        condition, excluded, exclusive = parse_display_condition(row["display_condition"])
        spec = fields.setdefault(code, {
            "code": code, "step": step_titles.index(row["step"]) + 1, "question": row["question_fr"],
            "hint": row["hint_fr"], "kind": row["input_kind"], "options": [], "condition": condition,
            "excluded": excluded, "intention": row["intention"], "stored_text": ""})
        if (spec["question"], spec["hint"], spec["kind"], spec["condition"], spec["excluded"]) != (
                row["question_fr"], row["hint_fr"], row["input_kind"], condition, excluded):
            raise ValueError(f"the rows of {code} disagree about the field")
        if row["option_position"] == "":  # a free-text field: one row, no option
            spec["stored_text"] = row["stored_answer_text"]
            continue
        spec["options"].append(Option(code=int(row["stored_answer_item_id"]), position=int(row["option_position"]),
                                      label=row["option_label_fr"], stored_text=row["stored_answer_text"],
                                      intention=row["intention"], score=_score(row["score_on_10"]),
                                      exclusive=exclusive))
    built = [Field(**{**spec, "options": tuple(sorted(spec["options"], key=lambda o: o.position)),
                      "intention": spec["intention"] if not spec["options"] else "neutral"})
             for spec in fields.values()]
    steps = tuple(Step(number=n, title=title, fields=tuple(f for f in built if f.step == n))
                  for n, title in enumerate(step_titles, 1))
    return Questionnaire(version=version, steps=steps)


@cache
def get_questionnaire() -> Questionnaire:
    """The questionnaire the form asks, read once per process."""
    return load()


def translated(text: str) -> str:
    """A French text of the questionnaire in the reader's language (numbers, such as the 1-to-5 scale, as they are)."""
    return text if not text or text.isdigit() else gettext(text)


def lazy(text: str):
    """``translated`` when shown: for labels built before a request's language is known (form classes)."""
    return text if not text or text.isdigit() else _l(text)


# Every French text of the questionnaire, for the translation catalog (`make i18n-extract` reads them here; the test
# of this module checks the list against the CSV).
_TEXTS = (
    # steps
    _l("Expérience générale"), _l("Clarté"), _l("Aides"), _l("Commentaire"),
    # satisfaction
    _l("De façon générale, comment ça s’est passé ?"), _l("Ce champ est obligatoire."),
    _l("Pas bien"), _l("Moyen"), _l("Très bien"),
    # comprehension (options 1 to 5)
    _l("Qu'avez-vous pensé des informations et des instructions fournies ?"),
    _l("Sur une échelle de 1 à 5, 1 n'est pas clair du tout et 5 est très clair."),
    # contact_tried
    _l("Durant votre parcours, avez-vous tenté d’obtenir de l’aide par l’un des moyens suivants ?"),
    _l("Plusieurs choix possibles"),
    _l("Au guichet avec l’administration"), _l("Par téléphone avec l’administration"),
    _l("Par e-mail avec l’administration"), _l("Par chat avec l’administration"), _l("Une personne proche"),
    _l("Une association"), _l("Des sites internet"), _l("Autres, précisez"), _l("Je n'ai pas eu besoin d'aide"),
    # contact_tried_verbatim
    _l("Quels autres types d'aide avez-vous utilisés ?"), _l("Maximum 250 caractères."),
    # contact_reached
    _l("Quand vous avez cherché de l'aide, avez-vous réussi à joindre l'administration ?"), _l("Oui"), _l("Non"),
    # contact_satisfaction
    _l("Comment évaluez-vous la qualité de l'aide que vous avez obtenue de la part de l'administration ?"),
    _l("Sur une échelle de 1 à 5, 1 est très mauvaise et 5 est excellente."),
    _l("Très mauvaise"), _l("Mauvaise"), _l("Ni bonne, ni mauvaise"), _l("Bonne"), _l("Excellente"),
    # verbatim, contact_email
    _l("Souhaitez-vous nous en dire plus ?"), _l("Ne partagez pas d’information personnelle."),
    _l("Adresse mail"),
    _l("Vous pouvez laisser votre adresse email si vous acceptez d’être recontacté. Nous ne pouvons cependant pas "
       "garantir de réponse pour chaque message."),
)
