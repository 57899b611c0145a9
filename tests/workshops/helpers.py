"""Set-ups the workshop tests share: people, a facilitator, a workshop moved in time, an object read again."""

from datetime import timedelta

from sqlalchemy import update

from app.catalog.models import Role
from app.clock import utcnow
from app.extensions import db
from app.workshops.models import Workshop
from tests.factories import make_member, make_user


def users(n, **kwargs):
    """``n`` new users (``make_user``'s arguments), committed."""
    people = [make_user(**kwargs) for _ in range(n)]
    db.session.commit()
    return people


def facilitator_of(workshop):
    """A new facilitator of the workshop's organisation, committed."""
    user = make_member(workshop.organisation, Role.facilitator)
    db.session.commit()
    return user


def move(workshop, starts_in: timedelta, duration: timedelta = timedelta(hours=2)):
    """Put the workshop at another time by a direct UPDATE (how tests travel in time)."""
    starts = utcnow() + starts_in
    db.session.execute(update(Workshop).where(Workshop.id == workshop.id)
                       .values(starts_at=starts, ends_at=starts + duration))
    db.session.commit()
    db.session.expire_all()


def reload(obj):
    """``obj`` read again from the database."""
    db.session.expire_all()
    return db.session.get(type(obj), obj.id)
