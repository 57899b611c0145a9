"""Reading workshops: public lists and their seat figures, a workshop's roster, attendance and evaluation
summary, a person's registrations, calendar feeds and the personal-data export, plus who may see a workshop
(``can_view``) or act on it as a facilitator (``require_facilitator``). Nothing here writes, except that
``require_facilitator`` refuses."""

import secrets
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import selectinload

from ..accounts.models import User
from ..catalog.models import LifeEvent, Service
from ..catalog.permissions import can_facilitate, facilitated_organisations
from ..clock import iso, utcnow
from ..errors import NotAllowed, NotFound
from ..extensions import db
from ..permissions import is_admin
from .models import (
    CalendarFeed,
    Registration,
    RegistrationStatus,
    Visibility,
    Workshop,
    WorkshopCategory,
    WorkshopEvaluation,
    WorkshopStatus,
    WorkshopTopic,
)


def require_facilitator(actor, organisation) -> None:
    if not can_facilitate(actor, organisation):
        raise NotAllowed()


def seat_figures(workshop_ids: list[int], now: datetime | None = None) -> dict[int, dict]:
    """Seats left and waiting-list length per workshop, in one query whatever the number of workshops.

    An expired offer counts as a free seat at once, before the job or the next write passes it on.
    """
    now = now or utcnow()
    if not workshop_ids:
        return {}
    expired = (select(Registration.category_id, func.count().label("n"))
               .where(Registration.status == RegistrationStatus.offered, Registration.offer_expires_at <= now)
               .group_by(Registration.category_id).subquery())
    waiting = (select(Registration.category_id, func.count().label("n"))
               .where(Registration.status == RegistrationStatus.waitlisted)
               .group_by(Registration.category_id).subquery())
    rows = db.session.execute(
        select(WorkshopCategory.workshop_id, WorkshopCategory.id, WorkshopCategory.seats, WorkshopCategory.seats_taken,
               func.coalesce(expired.c.n, 0), func.coalesce(waiting.c.n, 0))
        .outerjoin(expired, expired.c.category_id == WorkshopCategory.id)
        .outerjoin(waiting, waiting.c.category_id == WorkshopCategory.id)
        .where(WorkshopCategory.workshop_id.in_(workshop_ids))
    ).all()
    figures = {wid: {"seats_left": 0, "waiting": 0, "by_category": {}} for wid in workshop_ids}
    for workshop_id, category_id, seats, taken, expired_n, waiting_n in rows:
        # Expired offers free seats only when nobody waits for them: otherwise they go to the next person.
        free = seats - taken + max(0, expired_n - waiting_n)
        left = max(0, free)
        figures[workshop_id]["seats_left"] += left
        figures[workshop_id]["waiting"] += max(0, waiting_n - expired_n)
        figures[workshop_id]["by_category"][category_id] = {"seats_left": left,
                                                            "waiting": max(0, waiting_n - expired_n)}
    return figures


def waitlist_position(registration: Registration) -> int | None:
    """Rank among the people still waiting in the same category (1 = next)."""
    if registration.status is not RegistrationStatus.waitlisted:
        return None
    ahead = db.session.scalar(select(func.count(Registration.id)).where(
        Registration.category_id == registration.category_id,
        Registration.status == RegistrationStatus.waitlisted,
        Registration.waitlist_number < registration.waitlist_number))
    return ahead + 1


def get_workshop(workshop_id: int) -> Workshop:
    workshop = db.session.get(Workshop, workshop_id)
    if workshop is None:
        raise NotFound()
    return workshop


def can_view(workshop: Workshop, user, token: str | None = None) -> bool:
    """Public published workshops for everyone; drafts to their facilitators; invitation-only with the
    private link, or to people already registered."""
    if workshop.status is not WorkshopStatus.draft and workshop.visibility is Visibility.public:
        return True  # before the facilitator check: no membership query for the common case
    if can_facilitate(user, workshop.organisation):
        return True
    if workshop.status is WorkshopStatus.draft:
        return False
    if token and secrets.compare_digest(token, workshop.invite_token):
        return True
    return bool(user and user.is_authenticated and registration_for(workshop, user))


def registration_for(workshop: Workshop, user) -> Registration | None:
    if not (user and user.is_authenticated):
        return None
    return db.session.scalar(select(Registration).where(Registration.workshop_id == workshop.id,
                                                        Registration.user_id == user.id))


def list_workshops(*, upcoming: bool = True, organisation_id=None, life_event_id=None, service_id=None,
                   workshop_format=None, date_from=None, date_to=None, with_seats: bool = False,
                   page: int = 1, per_page: int = 20):
    """Published public workshops, filtered and paginated; a constant number of queries per page."""
    now = utcnow()
    stmt = (select(Workshop)
            .where(Workshop.status.in_([WorkshopStatus.published, WorkshopStatus.cancelled]),
                   Workshop.visibility == Visibility.public)
            .options(selectinload(Workshop.life_events), selectinload(Workshop.services)))
    if upcoming:
        stmt = stmt.where(Workshop.ends_at > now).order_by(Workshop.starts_at, Workshop.id)
    else:
        stmt = stmt.where(Workshop.ends_at <= now, Workshop.status == WorkshopStatus.published) \
            .order_by(Workshop.starts_at.desc(), Workshop.id.desc())
    if organisation_id:
        stmt = stmt.where(Workshop.organisation_id == organisation_id)
    if life_event_id:
        stmt = stmt.where(Workshop.life_events.any(LifeEvent.id == life_event_id))
    if service_id:
        stmt = stmt.where(Workshop.services.any(Service.id == service_id))
    if workshop_format:
        stmt = stmt.where(Workshop.format == workshop_format)
    if date_from:
        stmt = stmt.where(Workshop.ends_at >= date_from)
    if date_to:
        stmt = stmt.where(Workshop.starts_at < date_to)
    if with_seats:
        expired = (select(func.count(Registration.id))
                   .where(Registration.category_id == WorkshopCategory.id,
                          Registration.status == RegistrationStatus.offered, Registration.offer_expires_at <= now)
                   .correlate(WorkshopCategory).scalar_subquery())
        waiting = (select(func.count(Registration.id))
                   .where(Registration.category_id == WorkshopCategory.id,
                          Registration.status == RegistrationStatus.waitlisted)
                   .correlate(WorkshopCategory).scalar_subquery())
        # As in seat_figures: an expired offer frees a seat only if nobody waits for it.
        stmt = stmt.where(Workshop.status == WorkshopStatus.published, Workshop.categories.any(
            or_(WorkshopCategory.seats_taken < WorkshopCategory.seats, expired > waiting)))
    pagination = db.paginate(stmt, page=page, per_page=per_page, error_out=False)
    figures = seat_figures([w.id for w in pagination.items], now)
    return pagination, figures


def list_for_related(*, organisation_id=None, life_event_id=None, service_id=None, limit: int = 5):
    """Upcoming public workshops shown on catalogue pages."""
    pagination, figures = list_workshops(organisation_id=organisation_id, life_event_id=life_event_id,
                                         service_id=service_id, per_page=limit)
    return pagination.items, figures


def list_my_registrations(user: User) -> dict[str, list[Registration]]:
    """The person's workshops, sorted into upcoming, offered, in review, waitlisted and past."""
    now = utcnow()
    rows = db.session.scalars(
        select(Registration).where(Registration.user_id == user.id)
        .join(Workshop, Workshop.id == Registration.workshop_id).order_by(Workshop.starts_at)).all()
    groups = {"offered": [], "upcoming": [], "in_review": [], "waitlisted": [], "past": [], "cancelled": []}
    for reg in rows:
        status = reg.effective_status(now)
        if reg.workshop.is_over(now):
            if status is RegistrationStatus.confirmed:
                groups["past"].append(reg)
        elif status is RegistrationStatus.offered:
            groups["offered"].append(reg)
        elif status is RegistrationStatus.confirmed:
            groups["upcoming"].append(reg)
        elif status is RegistrationStatus.in_review:
            groups["in_review"].append(reg)
        elif status is RegistrationStatus.waitlisted:
            groups["waitlisted"].append(reg)
        else:
            groups["cancelled"].append(reg)
    groups["past"].reverse()
    return groups


def roster(workshop: Workshop) -> dict[str, list[Registration]]:
    """Registrations by effective status; the waiting list in order, with positions per category."""
    now = utcnow()
    regs = db.session.scalars(
        select(Registration).where(Registration.workshop_id == workshop.id)
        .options(selectinload(Registration.answers))
        .order_by(Registration.waitlist_number, Registration.created_at, Registration.id)).all()
    groups = {s: [] for s in RegistrationStatus}
    for reg in regs:
        groups[reg.effective_status(now)].append(reg)
    return groups


def find_for_check_in(workshop: Workshop, query: str) -> list[Registration]:
    """Confirmed registrations whose code or name matches."""
    query = query.strip()
    if not query:
        return []
    like = f"%{query.lower()}%"
    return list(db.session.scalars(
        select(Registration).outerjoin(User, User.id == Registration.user_id)
        .where(Registration.workshop_id == workshop.id, Registration.status == RegistrationStatus.confirmed,
               or_(Registration.code == query.upper(), func.lower(Registration.guest_name).like(like),
                   func.lower(User.display_name).like(like)))
        .order_by(Registration.id).limit(20)))


def attendance(workshop: Workshop) -> dict:
    """Confirmed, present and absent people; frozen into the workshop once it is over."""
    return attendance_many([workshop])[workshop.id]


def attendance_many(workshops: list[Workshop]) -> dict[int, dict]:
    """``attendance`` for many workshops in one query (list pages stay at a constant query count)."""
    ids = [w.id for w in workshops]
    live = {}
    if ids:
        live = {wid: (confirmed, present) for wid, confirmed, present in db.session.execute(
            select(Registration.workshop_id, func.count(Registration.id), func.count(Registration.checked_in_at))
            .where(Registration.workshop_id.in_(ids), Registration.status == RegistrationStatus.confirmed)
            .group_by(Registration.workshop_id))}
    result = {}
    for w in workshops:
        confirmed, present = live.get(w.id, (0, 0))
        if w.attended_count is not None:
            present, confirmed = w.attended_count, w.attended_count + (w.no_show_count or 0)
        result[w.id] = {"confirmed": confirmed, "present": present, "no_shows": confirmed - present,
                        "rate": round(100 * present / confirmed) if confirmed else None}
    return result


def evaluation_summary(workshop: Workshop, minimum: int | None = None) -> dict | None:
    """Aggregate answers, shown only from ``WORKSHOP_EVALUATION_MIN`` answers (no one can be singled out)."""
    minimum = current_app.config["WORKSHOP_EVALUATION_MIN"] if minimum is None else minimum
    row = db.session.execute(
        select(func.count(WorkshopEvaluation.id), func.avg(WorkshopEvaluation.overall),
               func.sum(case((WorkshopEvaluation.felt_heard == "yes", 1), else_=0)),
               func.sum(case((WorkshopEvaluation.would_return == "yes", 1), else_=0)))
        .where(WorkshopEvaluation.workshop_id == workshop.id)).one()
    count = row[0]
    if count < minimum:
        return None
    return {"count": count, "overall": round(float(row[1]), 1), "felt_heard_pct": round(100 * row[2] / count),
            "would_return_pct": round(100 * row[3] / count)}


def workshops_for_feed(token: str) -> list[Workshop]:
    feed = db.session.scalar(select(CalendarFeed).where(CalendarFeed.token == token))
    if feed is None:
        raise NotFound()
    return list(db.session.scalars(
        select(Workshop).join(Registration, Registration.workshop_id == Workshop.id)
        .where(Registration.user_id == feed.user_id, Registration.status == RegistrationStatus.confirmed,
               Workshop.status != WorkshopStatus.draft).order_by(Workshop.starts_at)))


def published_for_feed(organisation_id: int | None = None) -> list[Workshop]:
    stmt = (select(Workshop).where(Workshop.status.in_([WorkshopStatus.published, WorkshopStatus.cancelled]),
                                   Workshop.visibility == Visibility.public,
                                   Workshop.ends_at > utcnow() - timedelta(days=90))
            .order_by(Workshop.starts_at))
    if organisation_id:
        stmt = stmt.where(Workshop.organisation_id == organisation_id)
    return list(db.session.scalars(stmt))


def list_registrations_of(user: User) -> list[Registration]:
    return list(db.session.scalars(select(Registration).where(Registration.user_id == user.id)))


def personal_data(user: User) -> dict:
    """What the workshops area holds about a person (for « Mes données »): their registrations with their answers,
    the people they registered by phone and those whose category they confirmed (the workshop only: those people's
    names are theirs), whether they have a private calendar feed (never its token) and the workshops they created.
    Evaluations are anonymous: no row links one to its author (only ``Registration.has_evaluated``)."""

    regs = db.session.scalars(select(Registration).where(Registration.user_id == user.id)
                              .options(selectinload(Registration.answers))
                              .order_by(Registration.created_at, Registration.id)).all()
    for_others = db.session.scalars(select(Registration).where(Registration.registered_by_id == user.id)
                                    .order_by(Registration.created_at, Registration.id)).all()
    confirmed = db.session.scalars(select(Registration).where(Registration.category_confirmed_by_id == user.id)
                                   .order_by(Registration.category_confirmed_at, Registration.id)).all()
    has_feed = db.session.scalar(select(CalendarFeed.id).where(CalendarFeed.user_id == user.id)) is not None
    created = db.session.scalars(select(Workshop).where(Workshop.created_by_id == user.id)
                                 .order_by(Workshop.created_at, Workshop.id)).all()
    proposed = db.session.scalars(select(WorkshopTopic).where(WorkshopTopic.proposed_by_id == user.id)
                                  .order_by(WorkshopTopic.created_at, WorkshopTopic.id)).all()
    taken_up = db.session.scalars(select(WorkshopTopic).where(WorkshopTopic.taken_up_by_id == user.id)
                                  .order_by(WorkshopTopic.taken_up_at, WorkshopTopic.id)).all()
    return {
        "registrations": [{
            "workshop": r.workshop.title, "starts_at": iso(r.workshop.starts_at), "status": r.status.value,
            "category": r.category.name or None, "category_confirmed_at": iso(r.category_confirmed_at),
            "code": r.code, "checked_in": r.checked_in_at is not None, "registered_at": iso(r.created_at),
            "cancelled_at": iso(r.cancelled_at), "evaluated": r.has_evaluated,
            "answers": [{"question": a.question.label, "answer": a.value} for a in r.answers]} for r in regs],
        "registered_for_others": [{"workshop": r.workshop.title, "starts_at": iso(r.workshop.starts_at),
                                   "registered_at": iso(r.created_at), "status": r.status.value}
                                  for r in for_others],
        "categories_confirmed": [{"workshop": r.workshop.title, "starts_at": iso(r.workshop.starts_at),
                                  "category": r.category.name, "confirmed_at": iso(r.category_confirmed_at)}
                                 for r in confirmed],
        "calendar_feed": {"private_feed": True} if has_feed else None,
        "created": [{"title": w.title, "organisation": w.organisation.name, "starts_at": iso(w.starts_at),
                     "status": w.status.value, "created_at": iso(w.created_at)} for w in created],
        "topics_proposed": [{"title": t.title, "organisation": t.organisation.name, "proposed_at": iso(t.created_at)}
                            for t in proposed],
        "topics_taken_up": [{"title": t.title, "workshop": t.workshop.title if t.workshop else None,
                             "taken_up_at": iso(t.taken_up_at)} for t in taken_up],
    }


def list_managed_workshops(user: User, past_limit: int = 50) -> dict[str, list[Workshop]]:
    """Workshops of the organisations the person facilitates (all for admins), drafts included:
    upcoming soonest first, then the most recent past ones."""

    now = utcnow()
    stmt = select(Workshop)
    if not is_admin(user):
        stmt = stmt.where(Workshop.organisation_id.in_([o.id for o in facilitated_organisations(user)]))
    upcoming = db.session.scalars(stmt.where(Workshop.ends_at > now)
                                  .order_by(Workshop.starts_at, Workshop.id)).all()
    past = db.session.scalars(stmt.where(Workshop.ends_at <= now)
                              .order_by(Workshop.starts_at.desc(), Workshop.id.desc()).limit(past_limit)).all()
    return {"upcoming": list(upcoming), "past": list(past)}
