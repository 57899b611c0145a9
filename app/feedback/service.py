"""The « Je donne mon avis » form's writes: a response started at its first step, each later step stored as it is
sent (and corrected within the hour), the e-mail left to be contacted back, the consent to publish the free text,
and the contacts erased after 90 days.

A response is found again through its link's token, which is never stored: it is derived from the first step's
one-time ``submission_key`` (``link_token``), and only its sha256 is kept. So the first step sent twice (a double
click, a resent page) finds the response it made, and can give its link again; the unique constraint on
``submission_key`` decides between submissions at the same moment.

Answers are a mapping of the questionnaire's field codes to what was sent: a code (or its digits) for a single
choice, a list of codes for the checkboxes, text for a free text. Nothing of the person is stored: no address, no
browser, no account.
"""

import base64
import hashlib
import hmac
import re
import secrets
from collections import Counter
from datetime import datetime, timedelta

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from ..catalog.models import Service
from ..clock import utcnow
from ..database import begin_write
from ..errors import DomainError
from ..extensions import db
from ..inputs import parse_int
from . import tally
from .errors import InvalidAnswer, InvalidAnswers, InvalidSubmissionKey, ResponseClosed, ResponseNotFound
from .models import (
    Experience,
    ExperienceStatus,
    FeedbackAnswer,
    FeedbackContact,
    FeedbackResponse,
    Source,
)
from .questionnaire import Field, Questionnaire, Step, get_questionnaire, translated

EDITABLE_FOR = timedelta(hours=1)  # a response's link finishes or corrects it this long after its first step
CONTACT_RETENTION = timedelta(days=90)  # an e-mail left to be contacted back, at most
CONTACT_FIELD = "contact_email"  # kept in FeedbackContact, apart from the answers
COMMENT_FIELD = "verbatim"  # the free text that may become a public experience
PAGES = ("all", "main", "follow_up")

_KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


# --- the response's identity ----------------------------------------------------------------------------------------

def new_submission_key() -> str:
    """The one-time key a first step's form carries (32 characters)."""
    return secrets.token_urlsafe(24)


def link_token(submission_key: str) -> str:
    """The token of a response's own link: HMAC-SHA256 of its submission key under ``SECRET_KEY``, URL-safe."""
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, b"feedback-link:" + submission_key.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def find_response(token: str) -> FeedbackResponse:
    """The response whose link carries ``token`` (open or not); refused when there is none."""
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise ResponseNotFound()
    response = db.session.scalar(select(FeedbackResponse).where(FeedbackResponse.token_hash == token_hash(token)))
    if response is None:
        raise ResponseNotFound()
    return response


def open_response(token: str, now: datetime | None = None) -> FeedbackResponse:
    """The response of ``token``, refused once its hour has passed: only then may its link change it."""
    response = find_response(token)
    if not is_editable(response, now):
        raise ResponseClosed()
    return response


def is_editable(response: FeedbackResponse, now: datetime | None = None) -> bool:
    return (now or utcnow()) < response.editable_until


# --- reading and checking answers -----------------------------------------------------------------------------------

def _codes(field: Field, raw) -> list[int] | InvalidAnswer:
    """The codes sent for a choice field, in the questionnaire's order, or the refusal."""
    values = raw if isinstance(raw, list | tuple | set | frozenset) else [raw]
    values = [v for v in values if v not in (None, "")]
    if not field.is_multiple and len(values) > 1:
        return InvalidAnswer(field.code, "one_answer_only", _l("Choisissez une seule réponse."))
    codes = set()
    for value in values:
        code = parse_int(value, 0)
        if code is None or field.option(code) is None:
            return InvalidAnswer(field.code, "unknown_option", _l("Cette réponse ne fait pas partie des choix "
                                                                  "proposés."))
        codes.add(code)
    exclusive = field.exclusive_option
    if exclusive is not None and exclusive.code in codes and len(codes) > 1:
        return InvalidAnswer(field.code, "exclusive_option",
                             _l("« %(option)s » se coche seul : décochez les autres réponses, ou celle-ci.",
                                option=translated(exclusive.label)))
    return [o.code for o in field.options if o.code in codes]


def _text(field: Field, raw) -> str | InvalidAnswer:
    if raw is None:
        return ""
    if not isinstance(raw, str):
        return InvalidAnswer(field.code, "not_text", _l("Cette réponse doit être un texte."))
    text = raw.strip()
    if field.max_length is not None and len(text) > field.max_length:
        return InvalidAnswer(field.code, "text_too_long", _l("Ce texte est trop long (%(limit)s caractères au plus).",
                                                             limit=field.max_length))
    if text and field.kind == "input-email":
        try:
            text = validate_email(text, check_deliverability=False).normalized
        except EmailNotValidError:
            return InvalidAnswer(field.code, "invalid_email", _l("Saisissez une adresse électronique valide, par "
                                                                 "exemple nom@exemple.fr."))
    return text


def check_answers(step: Step, answers: dict, fields: tuple[Field, ...] | None = None) -> dict:
    """``answers`` to ``fields`` (by default the whole step) read and checked against the questionnaire: field code ->
    list of codes, or text. Every refusal is gathered into one ``InvalidAnswers``: nothing is written."""
    fields = step.fields if fields is None else fields
    known = {f.code for f in fields}
    problems = [InvalidAnswer(code, "unknown_field", _l("Cette question ne fait pas partie de cette page."))
                for code in answers if code not in known]
    clean = {}
    for field in fields:
        value = _text(field, answers.get(field.code)) if field.is_text else _codes(field, answers.get(field.code))
        if isinstance(value, InvalidAnswer):
            problems.append(value)
        elif field.required and not value:
            problems.append(InvalidAnswer(field.code, "answer_required", _l("Choisissez une réponse à cette "
                                                                            "question.")))
        else:
            clean[field.code] = value
    if problems:
        raise InvalidAnswers(problems)
    return clean


def stored_answers(response: FeedbackResponse) -> dict:
    """What a response holds, as ``check_answers`` gives it (field code -> list of codes, or text); the contact
    e-mail from where it is kept apart."""
    questionnaire = get_questionnaire()
    out: dict = {}
    for answer in db.session.scalars(select(FeedbackAnswer).where(FeedbackAnswer.response_id == response.id)
                                     .order_by(FeedbackAnswer.id)):
        field = questionnaire.field(answer.field_code)
        if field is None:
            continue
        if field.is_text:
            out[field.code] = answer.answer_text
        else:
            out.setdefault(field.code, []).append(answer.answer_item_id)
    contact = db.session.scalar(select(FeedbackContact.email).where(FeedbackContact.response_id == response.id))
    if contact:
        out[CONTACT_FIELD] = contact
    return out


def shown_follow_ups(step: Step, answers: dict) -> tuple[Field, ...]:
    """The step's conditional questions whose condition holds for ``answers``."""
    return tuple(f for f in step.follow_up_fields if f.condition.holds(answers))


def _answer_rows(response_id: int, fields: tuple[Field, ...], answers: dict) -> list[dict]:
    rows = []
    for field in fields:
        if field.code == CONTACT_FIELD:
            continue
        value = answers.get(field.code)
        if field.is_text:
            if value:
                rows.append({"response_id": response_id, "field_code": field.code, "answer_item_id": 0,
                             "answer_text": value})
        else:
            rows.extend({"response_id": response_id, "field_code": field.code, "answer_item_id": code,
                         "answer_text": field.option(code).stored_text} for code in value or ())
    return rows


def _is_empty(value) -> bool:
    return value in (None, "", [], ())


# --- writes ---------------------------------------------------------------------------------------------------------

def start_response(service: Service, submission_key: str, source: Source, answers: dict, *,
                   now: datetime | None = None) -> tuple[FeedbackResponse, str]:
    """A first step stores a new response, once per submission key: sent again (a double click, a resent page) it
    finds the response it made and stores its answers there, while the response is open. Returns it with its token."""
    questionnaire = get_questionnaire()
    first = questionnaire.steps[0]
    if not isinstance(submission_key, str) or not _KEY.fullmatch(submission_key):
        raise InvalidSubmissionKey()
    if not isinstance(source, Source):
        raise ValueError(f"not a Source: {source!r}")
    clean = check_answers(first, answers)
    token = link_token(submission_key)
    now = now or utcnow()
    begin_write()
    response = FeedbackResponse(service_id=service.id, source=source, submission_key=submission_key,
                                token_hash=token_hash(token), steps_done=first.number, created_at=now,
                                updated_at=now, editable_until=now + EDITABLE_FOR)
    db.session.add(response)
    try:
        db.session.flush()
    except IntegrityError:  # the same key made its response first: find it, and store this step there
        db.session.rollback()
        existing = find_response(token)
        if existing.service_id != service.id:
            raise InvalidSubmissionKey() from None
        return store_step(token, first.number, answers, now=now), token
    db.session.add_all(FeedbackAnswer(**row) for row in _answer_rows(response.id, first.fields, clean))
    tally.apply(service.id, tally.month_of(now), Counter(), tally.cells(clean))
    db.session.commit()
    return response, token


def store_step(token: str, step: int, answers: dict, *, page: str = "all", consent: bool | None = None,
               locale: str = "fr", now: datetime | None = None) -> FeedbackResponse:
    """A step's answers replace the ones it had, in one transaction, while the response is open; codes are checked
    against the questionnaire, a conditional question is answered only when its condition holds, and an exclusive
    option is ticked alone. At the last step, the contact e-mail (kept apart; empty removes it) and the consent to
    publish the comment (which makes, updates or withdraws the experience) are stored with the answers.

    ``page`` says what ``answers`` covers: the whole step (``all``); its questions always shown (``main``: the
    step's conditional answers already stored are kept while their condition still holds, dropped otherwise); or its
    conditional questions (``follow_up``: the step's other answers are kept)."""
    questionnaire = get_questionnaire()
    current = questionnaire.step(step)
    if current is None:
        raise ResponseNotFound()
    if page not in PAGES:
        raise ValueError(f"unknown page {page!r}")
    last = current.number == questionnaire.last_step
    if consent is not None and not last:
        raise ValueError("consent is asked at the last step only")
    sent_fields = {"all": current.fields, "main": current.main_fields, "follow_up": current.follow_up_fields}[page]
    clean = check_answers(current, answers, sent_fields)
    now = now or utcnow()
    response_id = _lock_open_response(token, now)
    try:
        response = _store(questionnaire, current, response_id, clean, page, now)
        if last:
            _store_contact(response, clean.get(CONTACT_FIELD, ""), locale, now)
            _store_consent(response, clean.get(COMMENT_FIELD, ""), bool(consent))
    except DomainError:
        db.session.rollback()
        raise
    db.session.commit()
    return response


def _lock_open_response(token: str, now: datetime) -> int:
    """A fresh write transaction holding the response's row lock; its id. Refused when unknown or closed."""
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise ResponseNotFound()
    begin_write()
    row = db.session.execute(select(FeedbackResponse.id, FeedbackResponse.editable_until)
                             .where(FeedbackResponse.token_hash == token_hash(token)).with_for_update()).first()
    if row is None:
        db.session.rollback()
        raise ResponseNotFound()
    if now >= row.editable_until:
        db.session.rollback()
        raise ResponseClosed()
    return row.id


def _store(questionnaire: Questionnaire, step: Step, response_id: int, clean: dict, page: str,
           now: datetime) -> FeedbackResponse:
    response = db.session.get(FeedbackResponse, response_id, populate_existing=True)
    before = stored_answers(response)
    merged = dict(clean)
    if page != "all":
        kept = step.follow_up_fields if page == "main" else step.main_fields
        merged.update({f.code: before[f.code] for f in kept if f.code in before})
    # Conditions read this step's answers, and the others' as they are stored.
    context = {**before, **merged}
    problems = []
    for field in step.follow_up_fields:
        if _is_empty(merged.get(field.code)) or field.condition.holds(context):
            continue
        if page == "main" and field.code not in clean:  # an earlier answer the new one no longer asks: dropped
            merged.pop(field.code)
        else:
            problems.append(InvalidAnswer(field.code, "not_asked", _l("Cette question ne se pose pas avec vos "
                                                                      "réponses précédentes.")))
    if problems:
        raise InvalidAnswers(problems)
    codes = [f.code for f in step.fields if f.code != CONTACT_FIELD]
    db.session.execute(delete(FeedbackAnswer).where(FeedbackAnswer.response_id == response_id,
                                                    FeedbackAnswer.field_code.in_(codes)))
    db.session.add_all(FeedbackAnswer(**row) for row in _answer_rows(response_id, step.fields, merged))
    if not response.is_spam:  # the barometer's counts follow, in this transaction
        after = {**{k: v for k, v in before.items() if k not in codes}, **merged}
        tally.apply(response.service_id, tally.month_of(response.created_at), tally.cells(before),
                    tally.cells(after))
    response.steps_done = max(response.steps_done, step.number)
    response.updated_at = now
    return response


def _store_contact(response: FeedbackResponse, email: str, locale: str, now: datetime) -> None:
    contact = db.session.scalar(select(FeedbackContact).where(FeedbackContact.response_id == response.id))
    if not email:
        if contact is not None:
            db.session.delete(contact)
        return
    locale = locale if locale in current_app.config["LANGUAGES"] else current_app.config["BABEL_DEFAULT_LOCALE"]
    if contact is None:
        db.session.add(FeedbackContact(response_id=response.id, email=email, locale=locale, created_at=now))
    elif (contact.email, contact.locale) != (email, locale):
        # The 90 days count from the address as it was last given.
        contact.email, contact.locale, contact.created_at = email, locale, now


def _store_consent(response: FeedbackResponse, text: str, consent: bool) -> None:
    """Consent and a comment make a pending experience; a corrected comment replaces its text (moderated again if it
    already was); consent withdrawn, or the comment emptied, withdraws it."""
    experience = db.session.scalar(select(Experience).where(Experience.response_id == response.id))
    publish = consent and bool(text)
    response.publish_consent = publish
    if not publish:
        if experience is not None:
            db.session.delete(experience)
        return
    if experience is None:
        db.session.add(Experience(response_id=response.id, text=text, status=ExperienceStatus.pending))
    elif experience.text != text:
        experience.text = text
        if experience.status is not ExperienceStatus.pending:  # what was moderated is not what will be shown
            experience.status = ExperienceStatus.pending
            experience.refusal_reason = ""
            experience.published_at = experience.moderated_at = experience.moderated_by_id = None


def erase_old_contacts(now: datetime | None = None) -> int:
    """E-mails left to be contacted back are erased after 90 days (sooner once used); the count erased."""
    cutoff = (now or utcnow()) - CONTACT_RETENTION
    begin_write()
    result = db.session.execute(delete(FeedbackContact).where(FeedbackContact.created_at < cutoff))
    db.session.commit()
    return result.rowcount or 0
