"""Workshop topics: subjects proposed to an organisation's facilitators from what users said about its services.

The feedback area (above this one) adds a topic with the « Je donne mon avis » responses it came from (``add_topic``,
in its own transaction: responses are only ids here). A facilitator of the organisation takes it up by naming the
workshop that works on it (``take_up_topic``); the trail then runs on from that workshop, so a measure born of the
workshop also counts the users' feedback the topic came from.
"""

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, insert, select

from ..catalog.permissions import facilitated_organisations
from ..clock import utcnow
from ..database import begin_write
from ..errors import InvalidInput, NotAllowed, NotFound
from ..extensions import db
from ..permissions import is_admin
from .models import Workshop, WorkshopStatus, WorkshopTopic, WorkshopTopicResponse

TITLE_MAX = 200
DESCRIPTION_MAX = 10_000


class TopicWorkshopMismatch(InvalidInput):
    code = "topic_workshop_mismatch"
    message = _l("Choisissez un atelier de l'organisation à qui le sujet est proposé.")


def add_topic(*, organisation_id: int, service_id: int | None, title: str, description: str, response_ids,
              proposed_by_id: int | None) -> WorkshopTopic:
    """A topic for ``organisation_id``'s facilitators, with one row per response it came from; added to the
    caller's transaction (the caller checked the responses and who proposes it)."""
    title = (title or "").strip()[:TITLE_MAX]
    if not title:
        raise InvalidInput(_l("Ce champ est obligatoire."), code="title_required")
    topic = WorkshopTopic(organisation_id=organisation_id, service_id=service_id, title=title,
                          description=(description or "").strip()[:DESCRIPTION_MAX], proposed_by_id=proposed_by_id,
                          created_at=utcnow())
    db.session.add(topic)
    db.session.flush()
    ids = sorted({int(rid) for rid in response_ids})
    if ids:
        db.session.execute(insert(WorkshopTopicResponse), [{"topic_id": topic.id, "response_id": rid} for rid in ids])
    return topic


def list_topics(user) -> list[WorkshopTopic]:
    """The topics of the organisations ``user`` facilitates (every organisation's for admins): those still waiting
    for a workshop first, newest first."""
    query = select(WorkshopTopic)
    if not is_admin(user):
        query = query.where(WorkshopTopic.organisation_id.in_([o.id for o in facilitated_organisations(user)]))
    return list(db.session.scalars(query.order_by(WorkshopTopic.workshop_id.is_not(None),
                                                  WorkshopTopic.created_at.desc(), WorkshopTopic.id.desc())))


def response_counts(topic_ids) -> dict[int, int]:
    """topic id -> how many responses it came from; one query."""
    ids = sorted(set(topic_ids))
    if not ids:
        return {}
    return dict(db.session.execute(select(WorkshopTopicResponse.topic_id, func.count())
                                   .where(WorkshopTopicResponse.topic_id.in_(ids))
                                   .group_by(WorkshopTopicResponse.topic_id)).all())


def candidate_workshops(organisation_ids) -> dict[int, list[Workshop]]:
    """organisation id -> its workshops a topic may be taken up by (not cancelled), latest first; one query."""
    ids = sorted(set(organisation_ids))
    if not ids:
        return {}
    out: dict[int, list[Workshop]] = {}
    for workshop in db.session.scalars(select(Workshop).where(Workshop.organisation_id.in_(ids),
                                                              Workshop.status != WorkshopStatus.cancelled)
                                       .order_by(Workshop.starts_at.desc(), Workshop.id.desc())):
        out.setdefault(workshop.organisation_id, []).append(workshop)
    return out


def take_up_topic(topic_id: int, workshop_id: int, user) -> WorkshopTopic:
    """A facilitator of the topic's organisation names the workshop (of that organisation, not cancelled) that works
    on it; naming another one later corrects it."""
    begin_write()
    topic = db.session.scalar(select(WorkshopTopic).where(WorkshopTopic.id == topic_id)
                              .with_for_update(of=WorkshopTopic).execution_options(populate_existing=True))
    if topic is None:
        db.session.rollback()
        raise NotFound()
    if not topic.can_take_up(user):
        db.session.rollback()
        raise NotAllowed()
    workshop = db.session.get(Workshop, workshop_id)
    if workshop is None or workshop.organisation_id != topic.organisation_id or workshop.is_cancelled:
        db.session.rollback()
        raise TopicWorkshopMismatch()
    if topic.workshop_id != workshop.id:
        topic.workshop_id, topic.taken_up_at, topic.taken_up_by_id = workshop.id, utcnow(), user.id
    db.session.commit()
    return topic
