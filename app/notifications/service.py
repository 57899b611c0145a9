"""Notifications: rows in the app, and at most one digest e-mail per person per day through the outbox."""

from datetime import datetime

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from ..accounts.models import User
from ..clock import iso, utcnow
from ..errors import InvalidInput
from ..extensions import db
from ..mail.service import queue_mail
from .models import DigestFrequency, Notification, NotificationPreference

KINDS = {
    "proposal_published": _l("« %(title)s » a été publiée."),
    "proposal_edited": _l("« %(title)s » a été modifiée par son auteur·e."),
    "proposal_commented": _l("Nouveau commentaire sur « %(title)s »."),
    "proposal_official_reply": _l("Réponse officielle sur « %(title)s »."),
    "proposal_merged": _l("« %(title)s » a été fusionnée avec une proposition semblable."),
    "proposal_withdrawn": _l("« %(title)s » a été retirée par son auteur·e."),
    "proposal_hidden": _l("« %(title)s » a été masquée par la modération."),
    # For the moderators of the proposal's organisation (app/proposals/service.py, ``report``).
    "proposal_reported": _l("« %(title)s » a été signalée : à examiner."),
    "comment_reported": _l("Un commentaire sur « %(title)s » a été signalé : à examiner."),
    "proposal_state": _l("« %(title)s » a changé d'état."),
    "proposal_selected": _l("« %(title)s » a été retenue à l'issue du vote."),
    "proposal_not_selected": _l("« %(title)s » n'a pas été retenue à l'issue du vote."),
    "proposal_answered": _l("L'organisation a répondu à « %(title)s »."),
    "proposal_answer_updated": _l("La réponse de l'organisation à « %(title)s » a été modifiée."),
    # The trail (app/decisions/trail.py): measures downstream of one's proposals and ideas.
    "measure_created": _l("Votre participation a conduit à une mesure : « %(title)s »."),
    "measure_planned": _l("La mesure « %(title)s », issue de votre participation, est de nouveau prévue."),
    "measure_in_progress": _l("La mesure « %(title)s », issue de votre participation, est en cours."),
    "measure_implemented": _l("La mesure « %(title)s », issue de votre participation, est réalisée."),
    "measure_abandoned": _l("La mesure « %(title)s », issue de votre participation, est abandonnée."),
    "measure_milestone_done": _l("Un jalon de la mesure « %(title)s », issue de votre participation, est franchi."),
    # For the facilitators of an organisation (app/feedback/linking.py): a subject drawn from users' feedback.
    "workshop_topic_proposed": _l("Sujet d'atelier proposé à partir d'avis d'usagers : « %(title)s »."),
}
TRAIL_KINDS = frozenset({"proposal_answered", "proposal_answer_updated", "measure_created", "measure_planned",
                         "measure_in_progress", "measure_implemented", "measure_abandoned",
                         "measure_milestone_done"})
"""What happened downstream of one's contributions: not sent to people who switched these off."""
DIGEST_MAX_ITEMS = 50


def notification_text(notification: Notification) -> str:
    """The sentence shown for a notification, in the reader's language."""
    template = KINDS.get(notification.kind)
    return str(template) % {"title": notification.subject_title} if template else notification.subject_title


def notify(user_ids, kind: str, *, subject_title: str, url: str, detail: str = "", actor_id=None) -> int:
    """Add one notification per recipient (the actor excluded; for ``TRAIL_KINDS``, also those who switched trail
    notifications off) to the caller's transaction."""
    if kind not in KINDS:
        raise ValueError(kind)
    recipients = sorted({uid for uid in user_ids if uid is not None and uid != actor_id})
    if kind in TRAIL_KINDS and recipients:
        opted_out = set(db.session.scalars(select(NotificationPreference.user_id).where(
            NotificationPreference.user_id.in_(recipients), NotificationPreference.trail.is_(False))))
        recipients = [uid for uid in recipients if uid not in opted_out]
    now = utcnow()
    for uid in recipients:
        db.session.add(Notification(user_id=uid, kind=kind, subject_title=subject_title[:200], url=url[:300],
                                    detail=detail, created_at=now))
    return len(recipients)


def list_notifications(user: User, limit: int = 50) -> list[Notification]:
    return list(db.session.scalars(select(Notification).where(Notification.user_id == user.id)
                                   .order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)))


def unread_count(user: User) -> int:
    return db.session.scalar(select(func.count()).select_from(Notification)
                             .where(Notification.user_id == user.id, Notification.read_at.is_(None))) or 0


def mark_all_read(user: User) -> int:
    """Mark every notification of this person read."""
    result = db.session.execute(update(Notification).where(Notification.user_id == user.id,
                                                           Notification.read_at.is_(None))
                                .values(read_at=utcnow()).execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount


def get_digest_frequency(user: User) -> DigestFrequency:
    pref = db.session.get(NotificationPreference, user.id)
    return pref.digest if pref else DigestFrequency.daily


def set_digest_frequency(user: User, value) -> DigestFrequency:
    """Daily (the default) or none."""
    try:
        frequency = value if isinstance(value, DigestFrequency) else DigestFrequency(value)
    except ValueError:
        raise InvalidInput(_l("Choisissez une fréquence proposée.")) from None
    _save_preference(user, digest=frequency)
    return frequency


def _save_preference(user: User, **values) -> None:
    """Store these columns of the person's preferences, creating the row (daily digest, trail on) if needed."""
    pref = db.session.get(NotificationPreference, user.id)
    if pref is None:
        db.session.add(NotificationPreference(user_id=user.id, **{"digest": DigestFrequency.daily, **values}))
    else:
        for key, value in values.items():
            setattr(pref, key, value)
    try:
        db.session.commit()
    except IntegrityError:  # created meanwhile by the digest job
        db.session.rollback()
        db.session.execute(update(NotificationPreference).where(NotificationPreference.user_id == user.id)
                           .values(**values))
        db.session.commit()


def wants_trail(user: User) -> bool:
    pref = db.session.get(NotificationPreference, user.id)
    return pref.trail if pref else True


def set_trail(user: User, value: bool) -> bool:
    """Switch trail notifications (answers and measures downstream of one's contributions) on or off."""
    value = bool(value)
    _save_preference(user, trail=value)
    return value


def _day_start(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _claim_digest(user_id: int, now: datetime) -> bool:
    """Take today's digest for this person: a conditional update, so two job runs never both send."""
    if db.session.get(NotificationPreference, user_id) is None:
        try:
            with db.session.begin_nested():
                db.session.add(NotificationPreference(user_id=user_id, digest=DigestFrequency.daily))
        except IntegrityError:
            pass
    result = db.session.execute(
        update(NotificationPreference)
        .where(NotificationPreference.user_id == user_id,
               NotificationPreference.digest == DigestFrequency.daily,
               (NotificationPreference.last_digest_at.is_(None))
               | (NotificationPreference.last_digest_at < _day_start(now)))
        .values(last_digest_at=now).execution_options(synchronize_session=False))
    return result.rowcount == 1


def send_digests(now: datetime | None = None) -> int:
    """Queue one digest mail per person with notifications not yet e-mailed, at most once a day; returns mails."""
    now = now or utcnow()
    user_ids = list(db.session.scalars(select(Notification.user_id).where(Notification.emailed_at.is_(None))
                                       .group_by(Notification.user_id)))
    db.session.rollback()
    sent = 0
    for user_id in user_ids:
        user = db.session.get(User, user_id)
        if user is None or user.is_deleted:
            db.session.rollback()
            continue
        if get_digest_frequency(user) is DigestFrequency.none:
            # Nothing will ever be mailed for these: mark them so the job does not look at them again.
            db.session.execute(update(Notification).where(Notification.user_id == user_id,
                                                         Notification.emailed_at.is_(None))
                               .values(emailed_at=now).execution_options(synchronize_session=False))
            db.session.commit()
            continue
        if not _claim_digest(user_id, now):
            db.session.rollback()
            continue
        items = list(db.session.scalars(select(Notification).where(Notification.user_id == user_id,
                                                                   Notification.emailed_at.is_(None))
                                        .order_by(Notification.created_at, Notification.id)))
        if not items:
            db.session.rollback()
            continue
        for item in items:
            item.emailed_at = now
        with force_locale(user.locale or "fr"):  # the reader's language, not the job's
            lines = [(notification_text(n), _absolute(n.url)) for n in items[:DIGEST_MAX_ITEMS]]
        queue_mail(user.email, "notifications_digest", user.locale, user=user, lines=lines,
                   more=max(0, len(items) - DIGEST_MAX_ITEMS), settings_url=_absolute("/notifications/"))
        db.session.commit()
        sent += 1
    return sent


def _absolute(path: str) -> str:
    from flask import current_app

    return current_app.config["BASE_URL"].rstrip("/") + path if path.startswith("/") else path


def personal_data(user: User) -> dict:
    """What the notifications area holds about a person (for « Mes données »): their notifications, as shown to them,
    and their preferences (none stored until they change one: the defaults apply)."""

    notifications = db.session.scalars(select(Notification).where(Notification.user_id == user.id)
                                       .order_by(Notification.created_at, Notification.id)).all()
    pref = db.session.get(NotificationPreference, user.id)
    return {
        "notifications": [{"text": notification_text(n), "kind": n.kind, "subject": n.subject_title, "url": n.url,
                           "detail": n.detail, "created_at": iso(n.created_at), "read_at": iso(n.read_at),
                           "emailed_at": iso(n.emailed_at)} for n in notifications],
        "preferences": {"digest": pref.digest.value, "trail": pref.trail, "last_digest_at": iso(pref.last_digest_at)}
        if pref else None,
    }
