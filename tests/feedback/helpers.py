"""Test data for the feedback area: responses added as rows (like tests/factories.py), for the tests of what comes
after the form (triage, experiences, replies, open data). The form's own tests go through its service."""

import hashlib
import itertools
import secrets
from datetime import timedelta

from app.clock import utcnow
from app.extensions import db
from app.feedback.models import Experience, ExperienceStatus, FeedbackAnswer, FeedbackContact, FeedbackResponse, Source

_seq = itertools.count(1)

# JDMA v2_2024_static codes (app/data/reference/jdma_form.csv): satisfaction 1 bad, 2 medium, 3 good.
SATISFACTION_TEXT = {1: "Pas bien", 2: "Moyen", 3: "Très bien"}


def make_response(service, *, satisfaction: int | None = 3, verbatim: str = "", consent: bool = False,
                  email: str | None = None, source: Source = Source.link, created_at=None,
                  steps_done: int | None = None, spam: bool = False,
                  experience: ExperienceStatus | None = None) -> FeedbackResponse:
    """A response as the form would have stored it: satisfaction (step 1), then an optional free text (last step),
    consent, contact e-mail; ``experience`` adds the experience row in that status (pending when consent alone)."""
    created_at = created_at or utcnow()
    response = FeedbackResponse(service_id=service.id, source=source, submission_key=secrets.token_hex(16),
                                token_hash=hashlib.sha256(secrets.token_bytes(16)).hexdigest(),
                                created_at=created_at, updated_at=created_at,
                                editable_until=created_at + timedelta(hours=1), publish_consent=consent,
                                is_spam=spam, spam_marked_at=created_at if spam else None,
                                steps_done=steps_done if steps_done is not None else (4 if verbatim else 1))
    db.session.add(response)
    db.session.flush()
    if satisfaction is not None:
        db.session.add(FeedbackAnswer(response_id=response.id, field_code="satisfaction", answer_item_id=satisfaction,
                                      answer_text=SATISFACTION_TEXT[satisfaction]))
    if verbatim:
        db.session.add(FeedbackAnswer(response_id=response.id, field_code="verbatim", answer_item_id=0,
                                      answer_text=verbatim))
    if email:
        db.session.add(FeedbackContact(response_id=response.id, email=email, created_at=created_at))
    if verbatim and (consent or experience is not None):
        status = experience or ExperienceStatus.pending
        db.session.add(Experience(response_id=response.id, text=verbatim, status=status, created_at=created_at,
                                  refusal_reason="Hors sujet" if status is ExperienceStatus.refused else "",
                                  published_at=created_at if status is ExperienceStatus.published else None,
                                  moderated_at=None if status is ExperienceStatus.pending else created_at))
    db.session.flush()
    return response
