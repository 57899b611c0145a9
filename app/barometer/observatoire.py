"""The state's observatory in Atelier's own answers: from the figures it publishes per procedure
(``app/data/reference/procedure_indicators.csv``), answers to the « Je donne mon avis » form that give exactly those
figures, and a bulk loader that writes them as the form would (responses, answers, then the monthly counts).

``solve`` finds, from the published numbers of answers, how many answers each option needs so that each of the six
indicators, computed as the barometer computes it (``stats.indicators()``), rounds to the published value (JDMA
publishes four decimals). The search is in integers: a mean of n answers on equally spaced scores (satisfaction:
0 / 5 / 10, steps of 5; the others: steps of 2.5) is ``step × W / n`` for a whole number W of steps, so W is the
whole number whose mean rounds to the published value; for n ≤ 2,000 answers at most one does (two neighbours
differ by at least 0.00125). A share of c answers is s / c for a whole s. How the W steps split between the options
is then a choice: the spread of greatest entropy with that mean (a geometric profile), rounded to whole answers.

The form asks each question once per response, where JDMA asks « did you reach the administration? » and the quality
of its help once per channel ticked. Four published procedures (jdma:1639 and jdma:2155 among the demo's, jdma:2006
and jdma:2770 among the large ones) count more reachability answers than responses that could have been asked it:
``solve(..., nearest=True)`` keeps the other five indicators exact and gives reachability as many answers as the form
allows (``Plan.deviations`` says what differs); without it they are refused.

``answers(plan)`` makes one answer set per response, in the form's rules (the exclusive « Je n'ai pas eu besoin
d'aide », the follow-up questions only after an administration channel), each at a position in the year; ``load``
writes them (dated over the current month and the eleven before it, never later than ``now``) and rebuilds the
monthly counts of the services it wrote (``tally.rebuild``). No score or option code is written here: they are read
from the questionnaire and the indicators.
"""

import csv
import math
import random
import secrets
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from functools import cache
from pathlib import Path

from sqlalchemy import func, select, text

from ..database import is_sqlite
from ..extensions import db
from ..feedback import tally
from ..feedback.models import FORM_VERSION, FeedbackAnswer, FeedbackResponse, Source
from ..feedback.questionnaire import get_questionnaire
from ..feedback.service import EDITABLE_FOR
from .queries import add_months
from .stats import Indicator, indicator, indicators

CSV_PATH = Path(__file__).resolve().parent.parent / "data" / "reference" / "procedure_indicators.csv"
EDITION_WINDOW = "edition window"  # the period the observatory's edition shows (``jdma.json``)
PRECISION = 4  # decimals JDMA publishes
WINDOW_MONTHS = 12
BATCH = 5000  # responses written per statement (or COPY)
# Where the responses come from: mostly the « Je donne mon avis » button on the procedure's own site.
SOURCES = ((Source.button, 70), (Source.link, 18), (Source.embed, 7), (Source.qr, 5))

class Infeasible(ValueError):
    """No set of the form's answers gives these published figures."""


# --- the published figures ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Line:
    """One line of ``procedure_indicators.csv``."""

    procedure: str  # jdma:<id>
    period: str  # as published: « edition window, scanned 2026-08-22 »
    indicator: str
    value: str  # as published
    unit: str
    source: str


@dataclass(frozen=True)
class Published:
    """A procedure's six indicators over one published period, each with its number of answers."""

    procedure: str
    period: str
    source: str
    values: Mapping[str, Decimal]
    counts: Mapping[str, int]

    @property
    def responses(self) -> int:
        """Every response answers the satisfaction question: its answers are the responses."""
        return self.counts["satisfaction"]


def read_lines(path: Path = CSV_PATH) -> list[Line]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        lacking = {"procedure", "edition_or_period", "indicator", "value", "unit_or_scale", "source"} - set(
            reader.fieldnames or ())
        if lacking:
            raise ValueError(f"{path} has no column {', '.join(sorted(lacking))}")
        lines = []
        for row in reader:
            if None in row.values():
                raise ValueError(f"{path}: line {reader.line_num} has too few fields")
            lines.append(Line(row["procedure"], row["edition_or_period"], row["indicator"], row["value"],
                              row["unit_or_scale"], row["source"]))
    return lines


def published_figures(lines: Iterable[Line], period: str = EDITION_WINDOW) -> dict[str, Published]:
    """procedure -> its published figures over the period whose name starts with ``period`` (the edition window by
    default). A procedure that lacks one of the six indicators or its count is refused."""
    slugs = [i.slug for i in indicators()]
    found: dict[str, dict] = {}
    for line in lines:
        if not line.period.startswith(period + ","):
            continue
        entry = found.setdefault(line.procedure, {"period": line.period, "source": line.source, "lines": {}})
        if line.period != entry["period"]:
            raise ValueError(f"{line.procedure}: two periods {entry['period']!r} and {line.period!r}")
        entry["lines"][line.indicator] = line.value
    out = {}
    for procedure, entry in found.items():
        values, counts = {}, {}
        for slug in slugs:
            try:
                values[slug] = Decimal(entry["lines"][slug])
                counts[slug] = int(entry["lines"][f"{slug}_count"])
            except (KeyError, ValueError, InvalidOperation) as err:
                raise ValueError(f"{procedure}: no readable {slug} and {slug}_count ({err})") from err
            if counts[slug] < 0:
                raise ValueError(f"{procedure}: {slug}_count is negative")
        out[procedure] = Published(procedure, entry["period"], entry["source"], values, counts)
    return out


def read_published(path: Path = CSV_PATH, period: str = EDITION_WINDOW) -> dict[str, Published]:
    return published_figures(read_lines(path), period)


# --- the form, as the indicators read it -----------------------------------------------------------------------------

@dataclass(frozen=True)
class _Form:
    """The codes the plan needs, read from the indicators and the questionnaire."""

    no_help: tuple[str, int]  # the exclusive « Je n'ai pas eu besoin d'aide » (autonomy's success)
    administration: tuple[int, ...]  # contact_tried codes after which the contact questions are asked
    other_help: tuple[int, ...]  # the other codes of contact_tried
    reached: tuple[str, int]  # « Oui »
    not_reached: tuple[str, int]  # « Non »
    quality_field: str


@cache
def _form() -> _Form:
    questionnaire = get_questionnaire()
    autonomy, reachability = indicator("autonomy"), indicator("contact_reachability")
    [(no_help, _score)] = autonomy.scores
    [(reached, _score)] = reachability.scores
    (not_reached,) = [cell for cell in reachability.trials if cell != reached]
    tried = questionnaire.field(no_help[0])
    if tried.exclusive_option is None or tried.exclusive_option.code != no_help[1]:
        raise ValueError("autonomy's success is not the help question's exclusive option")
    asked = questionnaire.field(reached[0]).condition
    quality_field = indicator("contact_satisfaction").scores[0][0][0]
    if asked.field != tried.code or questionnaire.field(quality_field).condition != asked:
        raise ValueError("the contact questions are not asked after the help question's channels")
    administration = tuple(sorted(asked.any_of))
    other = tuple(o.code for o in tried.options if not o.exclusive and o.code not in asked.any_of)
    return _Form(no_help, administration, other, reached, not_reached, quality_field)


def _levels(ind: Indicator) -> tuple[Fraction, tuple[tuple[str, int], ...]]:
    """A mean's step and its options' cells from the lowest score up (score = step × position), for the options of
    one question (``contact`` adds « Non » at 0 to the quality's: its own question's options are the quality's)."""
    field_code = ind.scores[0][0][0]
    own = sorted(((Fraction(score).limit_denominator(100), cell) for cell, score in ind.scores
                  if cell[0] == field_code), key=lambda pair: pair[0])
    step = own[-1][0] / (len(own) - 1)
    if [score for score, _cell in own] != [step * k for k in range(len(own))]:
        raise ValueError(f"the scores of {ind.slug} are not equally spaced")
    return step, tuple(cell for _score, cell in own)


# --- the plan -------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Deviation:
    """An indicator the form cannot give as published, and what it gives instead."""

    indicator: str
    published_value: Decimal
    published_count: int
    value: float | None
    count: int
    reason: str


@dataclass(frozen=True)
class Plan:
    """How many answers each option gets, for one procedure."""

    procedure: str
    responses: int
    options: Mapping[tuple[str, int], int]  # (field, code) -> answers, for satisfaction, comprehension, the quality
    help_answered: int  # responses that answer the help question (autonomy's count)
    no_help: int  # of which tick « Je n'ai pas eu besoin d'aide » (alone)
    administration: int  # of which tick an administration channel (and so may be asked the contact questions)
    reached: int  # « Oui » answers
    not_reached: int  # « Non » answers
    deviations: tuple[Deviation, ...] = ()

    @property
    def quality_answers(self) -> int:
        return sum(n for (code, _item), n in self.options.items() if code == _form().quality_field)

    def cells(self) -> Counter:
        """The counts the indicators read (the monthly aggregate's cells), summed over the year."""
        form = _form()
        out = Counter({cell: n for cell, n in self.options.items() if n})
        help_field = form.no_help[0]
        out[(help_field, tally.RESPONDENTS)] = self.help_answered
        out[form.no_help] = self.no_help
        out[form.reached] = self.reached
        out[form.not_reached] = self.not_reached
        for (code, _item), n in self.options.items():
            out[(code, tally.RESPONDENTS)] += n
        if self.reached + self.not_reached:
            out[(form.reached[0], tally.RESPONDENTS)] = self.reached + self.not_reached
        return +out


def _between(value: Decimal, scale: Fraction) -> tuple[int, int]:
    """The whole numbers k with k × scale within half a unit of the published precision of ``value``."""
    half = Fraction(1, 2 * 10 ** PRECISION)
    exact = Fraction(value)
    return math.ceil((exact - half) / scale), math.floor((exact + half) / scale)


def _rounds_to(value: float, published: Decimal) -> bool:
    return round(value, PRECISION) == float(published)


def _whole_steps(slug: str, published: Published, answers: int, step: Fraction, top: int) -> list[int]:
    """The totals W (in steps) whose mean ``step × W / answers`` rounds to the published value, nearest first."""
    value = published.values[slug]
    low, high = _between(value, step / answers)
    found = [w for w in range(max(low, 0), min(high, top * answers) + 1)
             if _rounds_to(float(step * w) / answers, value)]
    exact = Fraction(value) * answers / step
    return sorted(found, key=lambda w: (abs(w - exact), w))


def _successes(slug: str, published: Published, trials: int) -> list[int]:
    """The successes s among ``trials`` whose share (× the indicator's published scale) rounds to the published
    value, nearest first."""
    value, scale = published.values[slug], Fraction(indicator(slug).published_scale).limit_denominator(100)
    low, high = _between(value, scale / trials)
    found = [s for s in range(max(low, 0), min(high, trials) + 1)
             if _rounds_to(s / trials * float(scale), value)]
    exact = Fraction(value) / scale * trials
    return sorted(found, key=lambda s: (abs(s - exact), s))


def _profile(answers: int, total: int, levels: int) -> list[int]:
    """Whole answers on ``levels`` equally spaced levels (0 … levels − 1 steps), ``answers`` in all and ``total``
    steps in all: the geometric profile p(k) ∝ x^k with that mean (the greatest entropy), rounded to whole answers
    and then moved one step at a time until the total is exact."""
    top = levels - 1
    if answers == 0:
        return [0] * levels
    if not 0 <= total <= top * answers:
        raise Infeasible(f"{total} steps cannot be spread over {answers} answers")
    mean = total / answers
    if total in (0, top * answers):
        shares = [1.0 if k == (0 if total == 0 else top) else 0.0 for k in range(levels)]
    else:
        def mean_of(t):
            weights = [math.exp(t * k - max(0.0, t * top)) for k in range(levels)]
            return sum(k * w for k, w in enumerate(weights)) / sum(weights), weights

        low, high = -60.0, 60.0
        for _ in range(80):
            middle = (low + high) / 2
            if mean_of(middle)[0] < mean:
                low = middle
            else:
                high = middle
        weights = mean_of((low + high) / 2)[1]
        shares = [w / sum(weights) for w in weights]
    target = [answers * s for s in shares]
    counts = [math.floor(t) for t in target]
    for k in sorted(range(levels), key=lambda k: (counts[k] - target[k], k))[:answers - sum(counts)]:
        counts[k] += 1
    moved = total - sum(k * n for k, n in enumerate(counts))
    while moved:
        up = moved > 0
        pairs = [(k, k + 1) if up else (k + 1, k) for k in range(top)]  # (from, to)
        source, destination = max((pair for pair in pairs if counts[pair[0]] > 0),
                                  key=lambda p: (counts[p[0]] - target[p[0]]) - (counts[p[1]] - target[p[1]]))
        counts[source] -= 1
        counts[destination] += 1
        moved += -1 if up else 1
    return counts


def _check_zero(published: Published, slug: str) -> None:
    if published.counts[slug] == 0 and published.values[slug] != 0:
        raise Infeasible(f"{published.procedure}: {slug} is {published.values[slug]} without an answer")


def solve(published: Published, nearest: bool = False) -> Plan:
    """The answers per option that give ``published``'s six indicators, or ``Infeasible`` saying which figure no
    answers can give. With ``nearest``, a reachability counted on more answers than the form could ask (JDMA asks
    it once per channel ticked) is given as many answers as the form allows, its value as near as it can be, the
    five other indicators exactly; the plan's ``deviations`` say what differs."""
    name = published.procedure
    count = published.counts
    n = published.responses
    for slug in count:
        _check_zero(published, slug)
        if count[slug] > n and slug in ("comprehension", "autonomy"):
            raise Infeasible(f"{name}: {count[slug]} answers to {slug} but {n} responses")

    options: dict[tuple[str, int], int] = {}
    for slug in ("satisfaction", "comprehension"):
        step, cells = _levels(indicator(slug))
        answers = count[slug]
        totals = _whole_steps(slug, published, answers, step, len(cells) - 1) if answers else [0]
        if not totals:
            raise Infeasible(f"{name}: no {answers} answers have a {slug} of {published.values[slug]}")
        options.update(zip(cells, _profile(answers, totals[0], len(cells)), strict=True))

    # Help: autonomy's successes tick « no help » alone; the others may be asked the contact questions.
    asked = count["autonomy"]
    no_help = _successes("autonomy", published, asked) if asked else [0]
    if not no_help:
        raise Infeasible(f"{name}: no share of {asked} answers gives an autonomy of {published.values['autonomy']}")
    no_help = no_help[0]
    others = asked - no_help

    # Contact: the quality's answers, with each « Non » counted 0; reachability: « Oui » among the reach answers.
    quality = count["contact_satisfaction"]
    not_reached = count["contact"] - quality
    if not_reached < 0:
        raise Infeasible(f"{name}: contact rests on {count['contact']} answers, fewer than the "
                         f"{quality} of contact_satisfaction it includes")
    step, cells = _levels(indicator("contact_satisfaction"))
    top = len(cells) - 1
    if quality:
        totals = set(_whole_steps("contact_satisfaction", published, quality, step, top))
        with_non = _whole_steps("contact", published, count["contact"], step, top) if count["contact"] else [0]
        totals = [w for w in with_non if w in totals]
        if not totals:
            raise Infeasible(f"{name}: no quality of {quality} answers gives both contact_satisfaction "
                             f"{published.values['contact_satisfaction']} and, with {not_reached} « Non », contact "
                             f"{published.values['contact']}")
        options.update(zip(cells, _profile(quality, totals[0], len(cells)), strict=True))
    elif not_reached and published.values["contact"] != 0:
        raise Infeasible(f"{name}: contact is {published.values['contact']} with only « Non » answers")

    reach = count["contact_reachability"]
    reached = reach - not_reached
    if reached < 0 or (reach and not _rounds_to(reached / reach, published.values["contact_reachability"])):
        raise Infeasible(f"{name}: {not_reached} « Non » (contact_count − contact_satisfaction_count) among {reach} "
                         f"reachability answers do not give {published.values['contact_reachability']}")
    deviations = ()
    if max(reach, quality) > others:
        reason = (f"{reach} reachability answers but {others} responses ticked a channel other than « Je n'ai pas "
                  "eu besoin d'aide »: JDMA asks the question once per channel ticked, the form once per response")
        if not nearest or quality > others or not_reached > others:
            raise Infeasible(f"{name}: {reason}")
        target = float(published.values["contact_reachability"])
        reached = min(range(others - not_reached + 1),
                      key=lambda s: (abs(s / (s + not_reached) - target) if s + not_reached else 1.0, -s))
        shown = reached / (reached + not_reached) if reached + not_reached else None
        deviations = (Deviation("contact_reachability", published.values["contact_reachability"], reach, shown,
                                reached + not_reached, reason),)
    return Plan(name, n, options, asked, no_help, max(reached + not_reached, quality), reached, not_reached,
                deviations)


# --- the answers ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PlannedResponse:
    """One response of a plan: its answers (field code -> codes), where it falls in the year (0 ≤ position < 1),
    its source and the steps it went through."""

    position: float
    source: Source
    steps_done: int
    answers: dict[str, tuple[int, ...]] = field(default_factory=dict)


def _expanded(counts: Mapping[tuple[str, int], int], field_code: str, rng: random.Random) -> list[int]:
    codes = [item for (code, item), n in sorted(counts.items()) if code == field_code for _ in range(n)]
    rng.shuffle(codes)
    return codes


def answers(plan: Plan) -> Iterator[PlannedResponse]:
    """One answer set per response of ``plan``, in the order of their dates. Deterministic: the shuffles draw from
    a generator seeded by the procedure. The deeper questions go to the same responses (the help question to
    those who answered the clarity one, when there are as many); of the responses that ticked an administration
    channel, those that reached it answer the quality first."""
    form = _form()
    rng = random.Random(f"atelier-observatoire:{plan.procedure}")
    questionnaire = get_questionnaire()
    first, clarity = (indicator(slug).scores[0][0][0] for slug in ("satisfaction", "comprehension"))
    satisfaction = _expanded(plan.options, first, rng)
    comprehension = _expanded(plan.options, clarity, rng)
    quality = _expanded(plan.options, form.quality_field, rng)
    kinds = ["no_help"] * plan.no_help + ["administration"] * plan.administration
    kinds += ["other"] * (plan.help_answered - len(kinds))
    rng.shuffle(kinds)
    n = plan.responses
    positions = [(k + rng.random()) / n for k in range(n)]
    rng.shuffle(positions)
    sources, weights = zip(*SOURCES, strict=True)
    drawn_sources = rng.choices(sources, weights, k=n)
    help_field, reach_field = form.no_help[0], form.reached[0]
    step_of = {f.code: f.step for f in questionnaire.fields}
    made = []
    contact = 0
    for i in range(n):
        chosen: dict[str, tuple[int, ...]] = {first: (satisfaction[i],)}
        if i < len(comprehension):
            chosen[clarity] = (comprehension[i],)
        if i < plan.help_answered:
            kind = kinds[i]
            if kind == "no_help":
                chosen[help_field] = (form.no_help[1],)
            elif kind == "other":
                chosen[help_field] = tuple(sorted(rng.sample(form.other_help, rng.choice((1, 1, 1, 2)))))
            else:  # one administration channel, sometimes two, and now and then another kind of help
                ticks = {rng.choice(form.administration)}
                if rng.random() < 0.2:
                    ticks.add(rng.choice(form.administration))
                if rng.random() < 0.15:
                    ticks.add(rng.choice(form.other_help))
                chosen[help_field] = tuple(sorted(ticks))
                if contact < plan.reached:
                    chosen[reach_field] = (form.reached[1],)
                elif contact < plan.reached + plan.not_reached:
                    chosen[reach_field] = (form.not_reached[1],)
                if contact < len(quality):
                    chosen[form.quality_field] = (quality[contact],)
                contact += 1
        steps = max(step_of[code] for code in chosen)
        made.append(PlannedResponse(positions[i], drawn_sources[i], steps, chosen))
    made.sort(key=lambda r: r.position)
    return iter(made)


# --- the loader -----------------------------------------------------------------------------------------------------

def window_start(now: datetime) -> datetime:
    """The first moment of the month eleven months before ``now``'s: the barometer's year starts there."""
    return datetime.combine(add_months(tally.month_of(now), -(WINDOW_MONTHS - 1)), time())


def moment(position: float, now: datetime, start: datetime | None = None) -> datetime:
    """The time at ``position`` (0 to 1) of the span from ``window_start(now)`` to ``now``."""
    start = start or window_start(now)
    return min(now, start + (now - start) * position)


@dataclass(frozen=True)
class Loaded:
    responses: int
    answers: int
    service_ids: tuple[int, ...]
    cells: int


_RESPONSE_COLUMNS = ("id", "service_id", "form_version", "source", "submission_key", "token_hash", "steps_done",
                     "created_at", "updated_at", "editable_until", "publish_consent", "is_spam")
_ANSWER_COLUMNS = ("response_id", "field_code", "answer_item_id", "answer_text")


def _response_row(response_id: int, service_id: int, response: PlannedResponse, now: datetime,
                  start: datetime) -> tuple:
    """The columns the form's first step writes (``service.start_response``), in ``_RESPONSE_COLUMNS``' order; the
    submission key and the token's hash are random, as the form's are (nobody holds this response's link)."""
    created = moment(response.position, now, start)
    random_hex = secrets.token_hex(48)
    return (response_id, service_id, FORM_VERSION, response.source, random_hex[:32], random_hex[32:],
            response.steps_done, created, created, created + EDITABLE_FOR, False, False)


@cache
def _stored_texts() -> dict[tuple[str, int], str]:
    """(field, code) -> the answer_text the form stores with the code."""
    return {(f.code, o.code): o.stored_text for f in get_questionnaire().fields for o in f.options}


def _answer_rows(response_id: int, response: PlannedResponse) -> list[tuple]:
    texts = _stored_texts()
    return [(response_id, code, item, texts[(code, item)]) for code, items in response.answers.items()
            for item in items]


def _batches(rows: Iterable, size: int) -> Iterator[list]:
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _new_ids(count: int) -> list[int]:
    """Ids for ``count`` new responses: from the table's sequence on PostgreSQL; after the largest on SQLite, whose
    one writer at a time holds the database from its first write (a concurrent writer in between makes this
    transaction fail, never share an id)."""
    if is_sqlite():
        first = db.session.scalar(select(func.coalesce(func.max(FeedbackResponse.id), 0))) + 1
        return list(range(first, first + count))
    return sorted(db.session.execute(
        text("SELECT nextval(pg_get_serial_sequence('feedback_responses', 'id')) FROM generate_series(1, :n)"),
        {"n": count}).scalars())


def _driver_values(connection, table, columns: tuple[str, ...], rows: list[tuple]) -> list[tuple]:
    """``rows`` as the driver takes them: each column through its type's bind processor for this database (an
    Enum stored as its name, SQLite's datetimes as text, …)."""
    dialect = connection.dialect
    processors = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns]
    if not any(processors):
        return rows
    return [tuple(value if process is None else process(value)
                  for value, process in zip(row, processors, strict=True)) for row in rows]


def _write_executemany(connection, table, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """``rows`` in one ``executemany`` (SQLAlchemy's ``exec_driver_sql`` with a list: the driver's own, with the
    engine's events, so SQLite's write lock is taken as for any write)."""
    marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    # The table's and columns' names come from the model; every value is bound.
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join([marker] * len(columns))})"  # noqa: S608
    connection.exec_driver_sql(sql, _driver_values(connection, table, columns, rows))


def _write_copy(connection, table, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """``rows`` through PostgreSQL's COPY: psycopg's ``Cursor.copy`` on the DBAPI connection of the session's
    transaction (SQLAlchemy's public ``driver_connection``)."""
    cursor = connection.connection.driver_connection.cursor()
    with cursor, cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in _driver_values(connection, table, columns, rows):
            copy.write_row(row)


def load(rows: Iterable[tuple[int, PlannedResponse]], now: datetime, *, copy: bool = True,
         batch: int = BATCH) -> Loaded:
    """Writes ``rows`` (service id, planned response) as responses and answers with the columns the form writes,
    in batches, then rebuilds the monthly counts of their services; in the caller's transaction (the caller
    commits). Through the driver: ``executemany``, or on PostgreSQL ``COPY`` unless ``copy`` is false."""
    write = _write_copy if copy and not is_sqlite() else _write_executemany
    responses_table, answers_table = FeedbackResponse.__table__, FeedbackAnswer.__table__
    responses = written = 0
    services: set[int] = set()
    start = window_start(now)
    for part in _batches(rows, batch):
        ids = _new_ids(len(part))
        response_rows = [_response_row(response_id, service_id, r, now, start)
                         for response_id, (service_id, r) in zip(ids, part, strict=True)]
        answer_rows = [row for response_id, (_sid, r) in zip(ids, part, strict=True)
                       for row in _answer_rows(response_id, r)]
        connection = db.session.connection()
        write(connection, responses_table, _RESPONSE_COLUMNS, response_rows)
        write(connection, answers_table, _ANSWER_COLUMNS, answer_rows)
        responses += len(part)
        written += len(answer_rows)
        services.update(service_id for service_id, _r in part)
    service_ids = tuple(sorted(services))
    cells = tally.rebuild(service_ids) if service_ids else 0
    return Loaded(responses, written, service_ids, cells)
