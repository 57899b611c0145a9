"""The demo's feedback loads once, through the form's and the editors' services, and shows on the public pages."""

from sqlalchemy import func, select

from app.catalog.models import Service
from app.decisions.models import MeasureFeedback
from app.demo.feedback import REPLY, SERVICE_SLUG
from app.extensions import db
from app.feedback.models import Experience, ExperienceStatus, FeedbackResponse


def test_demo_feedback_loads_once_and_shows_the_reply(app):
    from app.demo import seed

    assert seed(app.config["DEMO_DATA_DIR"]) is True
    # The demo's own responses on its DINUM service (the observatory's services have theirs: tests/barometer).
    responses = db.session.scalars(select(FeedbackResponse).join(Service)
                                   .where(Service.slug == SERVICE_SLUG)).all()
    assert len(responses) == 8
    assert sorted(r.steps_done for r in responses).count(1) == 2  # two people stopped after the first step
    statuses = sorted(e.status.value for e in db.session.scalars(select(Experience)))
    assert statuses == ["pending", "published", "published"]
    assert db.session.scalar(select(func.count()).select_from(MeasureFeedback)) == 2
    page = app.test_client().get(f"/avis/experiences/{SERVICE_SLUG}").get_data(as_text=True)
    assert REPLY.replace("'", "&#39;") in page
    assert seed(app.config["DEMO_DATA_DIR"]) is False
    assert db.session.scalar(select(func.count()).select_from(FeedbackResponse).join(Service)
                             .where(Service.slug == SERVICE_SLUG)) == 8
    assert db.session.scalar(select(func.count()).select_from(Experience)
                             .where(Experience.status == ExperienceStatus.published)) == 2
