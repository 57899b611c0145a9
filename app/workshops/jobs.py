"""The workshops area's periodic jobs (registered in ``app/jobs.py``): lapse expired offers and pass their
seats on, freeze attendance once a workshop is over, remind participants the day before, and erase
registration answers and phone numbers after the retention period. Each is idempotent and safe in two
processes at once."""

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from ..clock import utcnow
from ..database import begin_write
from ..extensions import db
from .models import (
    Registration,
    RegistrationAnswer,
    RegistrationStatus,
    Workshop,
    WorkshopStatus,
)
from .queries import attendance
from .signup import lapse_expired, lock_category, mail_registration


def process_expired_offers(now: datetime | None = None) -> int:
    """Periodic job: lapse expired offers everywhere and pass their seats on. Idempotent; each category is
    handled under its own lock, so two runners never pass the same seat twice."""
    now = now or utcnow()
    category_ids = db.session.scalars(
        select(Registration.category_id).where(Registration.status == RegistrationStatus.offered,
                                               Registration.offer_expires_at <= now).distinct()).all()
    db.session.rollback()
    lapsed = 0
    for category_id in category_ids:
        begin_write()
        category = lock_category(category_id)
        lapsed += lapse_expired(category, category.workshop, now)
        db.session.commit()
    return lapsed


def record_attendance(now: datetime | None = None) -> int:
    """Periodic job: freeze attendance and no-shows of workshops that ended. Idempotent."""
    now = now or utcnow()
    done = 0
    for workshop in db.session.scalars(select(Workshop).where(Workshop.status == WorkshopStatus.published,
                                                              Workshop.ends_at <= now,
                                                              Workshop.attended_count.is_(None))).all():
        figures = attendance(workshop)
        result = db.session.execute(
            update(Workshop).where(Workshop.id == workshop.id, Workshop.attended_count.is_(None))
            .values(attended_count=figures["present"], no_show_count=figures["no_shows"])
            .execution_options(synchronize_session=False))
        done += result.rowcount
    db.session.commit()
    return done


def send_reminders(now: datetime | None = None) -> int:
    """Periodic job: remind confirmed participants 24 h before; each person once (conditional update)."""
    now = now or utcnow()
    hours = current_app.config["WORKSHOP_REMINDER_HOURS"]
    regs = db.session.scalars(
        select(Registration).join(Workshop, Workshop.id == Registration.workshop_id)
        .where(Workshop.status == WorkshopStatus.published, Workshop.starts_at > now,
               Workshop.starts_at <= now + timedelta(hours=hours),
               Registration.status == RegistrationStatus.confirmed, Registration.reminder_sent_at.is_(None),
               Registration.user_id.is_not(None))).all()
    sent = 0
    for reg in regs:
        claimed = db.session.execute(
            update(Registration).where(Registration.id == reg.id, Registration.reminder_sent_at.is_(None))
            .values(reminder_sent_at=now).execution_options(synchronize_session=False)).rowcount
        if claimed:
            mail_registration(reg, "workshop_reminder")
            sent += 1
        db.session.commit()
    return sent


def purge_answers(now: datetime | None = None) -> int:
    """Periodic job: erase registration answers (e.g. accessibility needs) N days after the workshop."""
    now = now or utcnow()
    cutoff = now - timedelta(days=current_app.config["WORKSHOP_ANSWER_RETENTION_DAYS"])
    workshops = db.session.scalars(select(Workshop.id).where(Workshop.ends_at <= cutoff,
                                                             Workshop.answers_purged_at.is_(None))).all()
    erased = 0
    for workshop_id in workshops:
        reg_ids = select(Registration.id).where(Registration.workshop_id == workshop_id)
        erased += db.session.execute(
            RegistrationAnswer.__table__.delete().where(RegistrationAnswer.registration_id.in_(reg_ids))).rowcount
        db.session.execute(update(Registration).where(Registration.workshop_id == workshop_id,
                                                      Registration.user_id.is_(None))
                           .values(guest_phone="").execution_options(synchronize_session=False))
        db.session.execute(update(Workshop).where(Workshop.id == workshop_id).values(answers_purged_at=now)
                           .execution_options(synchronize_session=False))
    db.session.commit()
    return erased
