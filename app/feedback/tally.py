"""The barometer's monthly counts (``FeedbackMonthlyCount``): service × month × question × option -> answers.

One rule makes them: ``cells`` says which counts a response's answers add (each option chosen in a scored question,
and ``RESPONDENTS`` for the question answered at all). ``apply`` moves the counts from what a response held to what
it holds now, in the caller's transaction: the form's ``store_step`` calls it with every step it stores, the spam
marking with all of a response's answers. ``recount`` computes the same counts from the answers in SQL, from the
same list of questions and the same predicate (spam left out); ``flask feedback verify`` compares the two and
``rebuild`` writes the recount (after a bulk load).
"""

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, delete, func, insert, select, update

from ..database import add_to_count, month_start
from ..extensions import db
from .models import FeedbackAnswer, FeedbackMonthlyCount, FeedbackResponse
from .questionnaire import get_questionnaire

RESPONDENTS = 0  # the answer_item_id of the count of responses that answered a question


def scored_fields() -> tuple[str, ...]:
    """The questions the barometer counts: every choice question of the questionnaire (free text is never counted)."""
    return tuple(f.code for f in get_questionnaire().fields if not f.is_text)


def month_of(moment: datetime | date) -> date:
    return date(moment.year, moment.month, 1)


def cells(answers: dict) -> Counter:
    """The counts a response's answers add (field code -> list of codes, as ``stored_answers`` gives them)."""
    out: Counter = Counter()
    for code in scored_fields():
        chosen = answers.get(code) or ()
        if not isinstance(chosen, list | tuple):
            continue
        for item in chosen:
            out[(code, item)] += 1
        if chosen:
            out[(code, RESPONDENTS)] += 1
    return out


def apply(service_id: int, month: date, before: Counter, after: Counter) -> None:
    """Moves the month's counts of ``service_id`` from ``before`` to ``after`` (in the caller's transaction), cell by
    cell in one order, so that two writers of the same cells wait for each other instead of deadlocking."""
    for key in sorted(set(before) | set(after)):
        change = after.get(key, 0) - before.get(key, 0)
        field_code, item = key
        where = {"service_id": service_id, "month": month, "field_code": field_code, "answer_item_id": item}
        if change > 0:
            db.session.execute(add_to_count(FeedbackMonthlyCount, where, "count", change))
        elif change < 0:
            db.session.execute(update(FeedbackMonthlyCount)
                               .where(*(getattr(FeedbackMonthlyCount, k) == v for k, v in where.items()))
                               .values(count=FeedbackMonthlyCount.count + change)
                               .execution_options(synchronize_session=False))


# --- the recount ----------------------------------------------------------------------------------------------------

def _counted_answers():
    """The answers the counts hold: scored questions of responses that are not spam (the predicate of ``apply``'s
    callers: the form skips spam, the spam marking takes a response out)."""
    month = month_start(FeedbackResponse.created_at)
    joined = and_(FeedbackAnswer.response_id == FeedbackResponse.id, FeedbackResponse.is_spam.is_(False),
                  FeedbackAnswer.field_code.in_(scored_fields()))
    return month, joined


def recount_query(service_ids=None):
    """SELECT service_id, month, field_code, answer_item_id, count: the counts, from the answers."""
    month, joined = _counted_answers()
    scope = [FeedbackResponse.service_id.in_(service_ids)] if service_ids is not None else []
    options = (select(FeedbackResponse.service_id, month.label("month"), FeedbackAnswer.field_code,
                      FeedbackAnswer.answer_item_id, func.count().label("count"))
               .select_from(FeedbackAnswer).join(FeedbackResponse, joined).where(*scope)
               .group_by(FeedbackResponse.service_id, month, FeedbackAnswer.field_code,
                         FeedbackAnswer.answer_item_id))
    respondents = (select(FeedbackResponse.service_id, month.label("month"), FeedbackAnswer.field_code,
                          func.cast(RESPONDENTS, db.Integer).label("answer_item_id"),
                          func.count(func.distinct(FeedbackAnswer.response_id)).label("count"))
                   .select_from(FeedbackAnswer).join(FeedbackResponse, joined).where(*scope)
                   .group_by(FeedbackResponse.service_id, month, FeedbackAnswer.field_code))
    return options.union_all(respondents)


@dataclass(frozen=True)
class Difference:
    service_id: int
    month: date
    field_code: str
    answer_item_id: int
    stored: int
    recounted: int


def verify(service_ids=None) -> list[Difference]:
    """Every cell where the stored counts and the recount from the answers differ (a cell at 0 equals no cell)."""
    recounted = {(r.service_id, r.month, r.field_code, r.answer_item_id): r.count
                 for r in db.session.execute(recount_query(service_ids))}
    scope = [FeedbackMonthlyCount.service_id.in_(service_ids)] if service_ids is not None else []
    stored = {(r.service_id, r.month, r.field_code, r.answer_item_id): r.count
              for r in db.session.execute(select(FeedbackMonthlyCount).where(*scope).with_only_columns(
                  FeedbackMonthlyCount.service_id, FeedbackMonthlyCount.month, FeedbackMonthlyCount.field_code,
                  FeedbackMonthlyCount.answer_item_id, FeedbackMonthlyCount.count))}
    return [Difference(*key, stored.get(key, 0), recounted.get(key, 0))
            for key in sorted(set(stored) | set(recounted)) if stored.get(key, 0) != recounted.get(key, 0)]


def rebuild(service_ids=None) -> int:
    """Replaces the stored counts (of ``service_ids``, or all) by the recount, in the caller's transaction; the
    number of cells written. For bulk loads, which write answers without the form."""
    scope = [FeedbackMonthlyCount.service_id.in_(service_ids)] if service_ids is not None else []
    db.session.execute(delete(FeedbackMonthlyCount).where(*scope))
    query = recount_query(service_ids).subquery()
    result = db.session.execute(insert(FeedbackMonthlyCount).from_select(
        ["service_id", "month", "field_code", "answer_item_id", "count"],
        select(query.c.service_id, query.c.month, query.c.field_code, query.c.answer_item_id, query.c.count)))
    return result.rowcount or 0
