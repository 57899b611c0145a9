"""The Atom 1.0 feeds: answers to proposals and measure updates; and the organisations' replies to published
experiences (« Je donne mon avis »), for every service or one organisation's or service's. Newest first,
``FEED_SIZE`` entries."""

import re
from datetime import UTC, datetime
from urllib.parse import urlsplit

from flask import request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import func, select, true

from ..catalog.models import Organisation, Service
from ..decisions.models import ANSWER_KIND_NAMES, MEASURE_STATUS_NAMES, Measure, MeasureUpdate
from ..decisions.models import Answer as AnswerModel
from ..extensions import db
from ..feedback.models import Experience, FeedbackResponse
from ..proposals.models import Proposal
from .dataset import last_modified, read_filters
from .feedback_rows import BY_ORGANISATION, BY_SERVICE, EXPERIENCES, public_experience
from .files import strong_etag
from .proposal_rows import last_hidden, public_proposal

FEED_SIZE = 50
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
# Characters XML 1.0 forbids (C0 controls but tab and line ends, lone surrogates, U+FFFE/U+FFFF): one of them,
# pasted into an answer or imported from a CSV cell, would make the whole feed unreadable to every reader.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _fingerprint() -> tuple:
    """One query over everything the entries show: the answers and updates, the proposal and measure titles in
    the entry titles, and the hidings that take answers out."""
    answered = (select(func.count(AnswerModel.id), func.max(AnswerModel.id), func.max(AnswerModel.updated_at),
                       func.max(Proposal.updated_at))
                .join(Proposal, Proposal.id == AnswerModel.proposal_id).where(public_proposal()).subquery())
    updates = select(func.count(MeasureUpdate.id), func.max(MeasureUpdate.id),
                     func.max(MeasureUpdate.created_at)).subquery()
    both = answered.join(updates, true())  # two one-row aggregates side by side
    return tuple(db.session.execute(
        select(answered, updates, select(func.max(Measure.updated_at)).scalar_subquery(), last_hidden())
        .select_from(both)).one())


def validators():
    fingerprint = _fingerprint()
    return strong_etag("feed", str(get_locale()), fingerprint), last_modified(fingerprint)


def xml_text(value: str) -> str:
    return _NOT_XML.sub("", value)


def atom_date(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _tag(kind: str, key: int) -> str:
    """A tag URI (RFC 4151): stable whatever the page addresses become."""
    host = urlsplit(request.host_url).hostname or "localhost"
    return f"tag:{host},2025:{kind}:{key}"


def _answers():
    rows = db.session.execute(
        select(AnswerModel.id, AnswerModel.proposal_id, AnswerModel.kind, AnswerModel.body_md, AnswerModel.reason,
               AnswerModel.answered_at, AnswerModel.updated_at, Proposal.title, AnswerModel.organisation_id)
        .join(Proposal, Proposal.id == AnswerModel.proposal_id)
        .where(public_proposal())
        .order_by(AnswerModel.updated_at.desc(), AnswerModel.id.desc()).limit(FEED_SIZE))
    for a_id, proposal_id, kind, body, reason, answered_at, updated_at, title, _org in rows:
        text = "\n\n".join(part for part in (body, reason) if part)
        yield {"id": _tag("answer", a_id), "kind": "answer",
               "title": xml_text(f"{title} — {ANSWER_KIND_NAMES[kind]}"), "summary": xml_text(text),
               "link": url_for("proposals.show_proposal", proposal_id=proposal_id, _external=True),
               "published": answered_at, "updated": updated_at}


def _updates():
    rows = db.session.execute(
        select(MeasureUpdate.id, MeasureUpdate.measure_id, MeasureUpdate.status, MeasureUpdate.progress,
               MeasureUpdate.body_md, MeasureUpdate.created_at, Measure.title)
        .join(Measure, Measure.id == MeasureUpdate.measure_id)
        .order_by(MeasureUpdate.created_at.desc(), MeasureUpdate.id.desc()).limit(FEED_SIZE))
    for u_id, measure_id, status, progress, body, created_at, title in rows:
        percent = _("%(num)d %%", num=progress)  # « 40 % » in French, "40%" in English
        yield {"id": _tag("measure-update", u_id), "kind": "measure_update",
               "title": xml_text(f"{title} — {MEASURE_STATUS_NAMES[status]} ({percent})"),
               "summary": xml_text(body),
               "link": url_for("decisions.show_measure", measure_id=measure_id, _external=True),
               "published": created_at, "updated": created_at}


def context(modified: datetime | None) -> dict:
    entries = sorted([*_answers(), *_updates()], key=lambda e: (e["updated"], e["id"]), reverse=True)[:FEED_SIZE]
    return {"entries": entries, "feed_id": _tag("feed", 1), "updated": modified or EPOCH, "atom_date": atom_date,
            "self_url": url_for("opendata.atom_feed", _external=True),
            "page_url": url_for("opendata.index", _external=True)}


# --- replies to published experiences ------------------------------------------------------------------------

REPLY_FILTERS = (BY_ORGANISATION, BY_SERVICE)


def reply_filters(args) -> tuple[dict, tuple] | None:
    """The feed's ``?organisation=`` and ``?service=`` (slugs) as (their texts, their conditions); None when one is
    malformed or repeated."""
    sent, where, bad = read_filters(REPLY_FILTERS, args)
    return None if bad is not None else (sent, where)


def reply_validators(sent: dict):
    """From the experiences dataset's fingerprint: every change of a published experience or of its reply."""
    fingerprint = EXPERIENCES.fingerprint()
    return (strong_etag("replies-feed", str(get_locale()), fingerprint, *sorted(sent.items())),
            last_modified(fingerprint))


def experience_link_maker():
    """(experience id, service slug) -> the absolute address of the public page that shows the experience and its
    reply (url_for once, not once per entry)."""
    sample = url_for("feedback.service_experiences", service_slug="service-987654321", _external=True)
    head, tail = sample.split("service-987654321", 1)
    return lambda key, slug: f"{head}{slug}{tail}#experience-{key}"


def _replies(where: tuple, link):
    rows = db.session.execute(
        select(Experience.id, Experience.text, Experience.reply_text, Experience.reply_signature,
               Experience.replied_at, Experience.reply_edited_at, Organisation.name, Service.name, Service.slug)
        .join(FeedbackResponse, FeedbackResponse.id == Experience.response_id)
        .join(Service, Service.id == FeedbackResponse.service_id)
        .join(Organisation, Organisation.id == Service.organisation_id)
        .where(public_experience(), Experience.replied_at.is_not(None), Experience.reply_text != "", *where)
        .order_by(Experience.replied_at.desc(), Experience.id.desc()).limit(FEED_SIZE))
    for e_id, text, reply, signature, replied_at, edited_at, organisation, service, service_slug in rows:
        content = _("Avis : %(text)s", text=text) + "\n\n" + _("Réponse : %(reply)s", reply=reply)
        if signature:
            content += "\n— " + signature
        yield {"id": _tag("feedback-reply", e_id), "author": xml_text(organisation),
               "title": xml_text(_("Réponse de %(organisation)s à un avis sur « %(service)s »",
                                   organisation=organisation, service=service)),
               "content": xml_text(content), "link": link(e_id, service_slug),
               "category": service_slug, "category_label": xml_text(service),
               "published": replied_at, "updated": edited_at or replied_at}


def replies_context(modified: datetime | None, sent: dict, where: tuple) -> dict:
    link = experience_link_maker()
    scope = "".join(f":{name}={value}" for name, value in sorted(sent.items()))
    return {"entries": list(_replies(where, link)), "feed_id": _tag("feedback-replies", 1) + scope,
            "updated": modified or EPOCH, "atom_date": atom_date,
            "self_url": url_for("opendata.replies_feed", **sent, _external=True),
            "page_url": (url_for("feedback.service_experiences", service_slug=sent["service"], _external=True)
                         if "service" in sent else url_for("feedback.list_experiences", _external=True))}
