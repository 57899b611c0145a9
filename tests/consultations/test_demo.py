"""The demo consultations load on both backends through the service rules: one per method and state."""

import pytest
from sqlalchemy import select

from app.consultations.models import Consultation, ConsultationMethod, ConsultationState
from app.extensions import db


@pytest.mark.both_databases("app.demo")
def test_demo_consultations_cover_each_method_and_state(app):
    from app.demo import seed

    assert seed(app.config["DEMO_DATA_DIR"]) is True
    rows = {(c.method, c.state) for c in db.session.scalars(select(Consultation))}
    majority, support, dots = ConsultationMethod.majority, ConsultationMethod.support, ConsultationMethod.dots
    open_, closed_, draft = ConsultationState.open, ConsultationState.closed, ConsultationState.draft
    assert {(majority, open_), (support, closed_), (majority, closed_), (dots, open_), (support, draft)} <= rows
    # The closed majority-judgment vote has results with merit profiles, one ungraded proposal counted « À rejeter ».
    closed = db.session.scalar(select(Consultation).where(Consultation.title.like("Droits et justificatifs%")))
    items = sorted(closed.items, key=lambda i: i.rank)
    assert closed.ballots_cast == 8 and [i.rank for i in items] == [1, 2, 3]
    assert all(sum(i.profile) == 8 for i in items) and items[0].selected and not items[1].selected
    assert sum(i.profile[0] for i in items) == 1
