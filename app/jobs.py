"""Periodic jobs. Each is idempotent and safe when two processes run it at once."""

import logging
import time

from flask import Flask

from .boards.service import purge_guest_names
from .consultations.service import close_due
from .database import mark_write_intent
from .errors import is_database_unavailable
from .extensions import db
from .feedback import jobs as feedback_jobs
from .mail.service import deliver_pending, purge_delivered
from .notifications.service import send_digests
from .workshops import jobs

log = logging.getLogger(__name__)


def _deliver_mail():
    return deliver_pending()


def _purge_mail():
    return purge_delivered()


def _workshop_job(name):
    def run():
        return getattr(jobs, name)()

    return run


def _close_consultations():
    return close_due()


def _notification_digests():
    return send_digests()


def _board_guest_purge():
    return purge_guest_names()


def _feedback_contacts_erase():
    return feedback_jobs.erase_contacts()


# Name -> callable run inside an app context. Later areas append theirs (seat offers, reminders...).
JOBS = {
    # Jobs that queue mail come before the delivery, so their mail leaves in the same round.
    "workshop_offers": _workshop_job("process_expired_offers"),
    "workshop_reminders": _workshop_job("send_reminders"),
    "workshop_attendance": _workshop_job("record_attendance"),
    "workshop_answers_purge": _workshop_job("purge_answers"),
    "board_guest_purge": _board_guest_purge,
    "feedback_contacts_erase": _feedback_contacts_erase,
    "notification_digests": _notification_digests,
    "consultations_close": _close_consultations,
    "deliver_mail": _deliver_mail,
    "purge_mail": _purge_mail,
}


def run_once(app: Flask) -> dict:
    """Run every job once; one job's failure does not stop the others (a database out of reach stops the round)."""

    results = {}
    for name, job in JOBS.items():
        with app.app_context():
            mark_write_intent()
            try:
                results[name] = job()
            except Exception as err:  # a failing job is logged and retried on the next round
                if is_database_unavailable(err):  # every other job would fail the same way: one line per round
                    log.warning("jobs: database unavailable (%s), next round in a moment", err.__class__.__name__)
                    db.session.rollback()
                    results[name] = "unavailable"
                    break
                log.exception("job %s failed", name)
                db.session.rollback()
                results[name] = "error"
    return results


def _did_something(result) -> bool:
    """A job result worth logging: a non-zero count, or a dict with one."""
    if isinstance(result, dict):
        return any(result.values())
    return bool(result)


def run_forever(app: Flask, interval: float | None = None, sleep=time.sleep) -> None:
    """Run the jobs every ``JOBS_INTERVAL_SECONDS`` until the process stops."""
    interval = interval or app.config["JOBS_INTERVAL_SECONDS"]
    while True:
        results = run_once(app)
        if any(_did_something(v) for v in results.values()):
            log.info("jobs: %s", results)
        sleep(interval)
