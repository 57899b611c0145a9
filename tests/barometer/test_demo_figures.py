"""The demo reproduces the state's observatory: each of the 123 procedures whose published edition-window figures
rest on at most 2,000 answers shows, through the public API, its six published indicators (the figure from the
minimum number of answers, the « insufficient » state and the count below it), from answers dated over the last
twelve months. The demo's observatory part is seeded once, for one test (so that no two workers seed it)."""

import pytest
from sqlalchemy import func, select

from app.barometer.models import PublishedFigure
from app.barometer.stats import indicators
from app.catalog.models import Organisation, Service
from app.demo.barometer import ORGANISATION_NAME, observatory_services, read_observatory, seed_barometer
from app.extensions import db
from app.feedback import tally
from app.feedback.models import FeedbackResponse
from tests.conftest import make_app
from tests.factories import make_organisation, make_user

# The form asks « did you reach the administration? » once per response, JDMA once per channel ticked: these two
# count more reachability answers than responses that could be asked it. Every response that ticked a channel other
# than « Je n'ai pas eu besoin d'aide » answers it; the five other indicators are the published ones.
PER_CHANNEL = {
    "jdma:1639": {"published": (0.9075, 984), "count": 945, "value": 854 / 945},
    "jdma:2155": {"published": (0.5634, 142), "count": 131, "value": 69 / 131},
}


@pytest.fixture(scope="module")
def seeded(request, tmp_path_factory):
    app = make_app("sqlite", request, sqlite_path=tmp_path_factory.mktemp("demo-figures") / "atelier.db")
    with app.app_context():
        admin = make_user(admin=True)
        db.session.commit()
        observatory = read_observatory(app.config["DEMO_DATA_DIR"])
        assert seed_barometer(observatory, admin) is True
        slugs = dict(db.session.execute(select(Service.external_ref, Service.slug)).all())
        try:
            yield app, observatory, slugs, admin
        finally:
            db.session.remove()
            db.engine.dispose()


def test_the_demo_reproduces_the_observatory(seeded):
    _every_small_procedure_shows_its_published_figures_through_the_api(*seeded)
    _the_large_procedures_show_their_published_figures_beside(*seeded)
    _services_are_named_by_their_host_and_a_second_seed_adds_nothing(*seeded)


def _every_small_procedure_shows_its_published_figures_through_the_api(app, observatory, slugs, _admin):
    client = app.test_client()
    minimum = app.config["BAROMETER_MIN_ANSWERS"]
    small = observatory.small()
    assert len(small) == 123
    states = {"shown": 0, "insufficient": 0, "no_answers": 0}
    for procedure in small:
        published = observatory.published[procedure.ref]
        response = client.get(f"/api/v1/barometer/services/{slugs[procedure.ref]}")
        assert response.status_code == 200, procedure.ref
        body = response.get_json()
        assert body["minimum_answers"] == minimum and body["responses"] == published.responses
        figures = {f["indicator"]: f for f in body["figures"]}
        assert set(figures) == {i.slug for i in indicators()}
        for slug, figure in figures.items():
            count, value = published.counts[slug], float(published.values[slug])
            exception = PER_CHANNEL.get(procedure.ref) if slug == "contact_reachability" else None
            if exception:
                assert (value, count) == exception["published"]
                assert figure["status"] == "shown" and figure["count"] == exception["count"]
                assert figure["value"] == pytest.approx(exception["value"])
                continue
            assert figure["count"] == count, (procedure.ref, slug)
            if count >= minimum:
                assert figure["status"] == "shown", (procedure.ref, slug)
                assert round(figure["value"], 4) == value, (procedure.ref, slug, figure["value"])
                assert figure["interval"]["low"] <= figure["value"] <= figure["interval"]["high"]
            else:
                assert figure["status"] == ("no_answers" if count == 0 else "insufficient"), (procedure.ref, slug)
                assert figure["value"] is None and figure["interval"] is None
            states[figure["status"]] += 1
    assert all(states.values()), states  # all three states are met
    assert tally.verify() == []


def _the_large_procedures_show_their_published_figures_beside(app, observatory, slugs, admin):
    large = observatory.large()
    assert len(large) == 104
    ids = [db.session.scalar(select(Service.id).where(Service.external_ref == p.ref)) for p in large]
    assert db.session.scalar(select(func.count()).select_from(FeedbackResponse)
                             .where(FeedbackResponse.service_id.in_(ids))) == 0
    assert db.session.scalar(select(func.count(func.distinct(PublishedFigure.service_id)))) == 104
    procedure = large[0]
    published = observatory.published[procedure.ref]
    body = app.test_client().get(f"/api/v1/barometer/services/{slugs[procedure.ref]}").get_json()
    assert body["responses"] == 0
    window = {f["indicator"]: f for f in body["published"] if f["period"] == published.period}
    for ind in indicators():
        assert window[ind.slug]["value"] == float(published.values[ind.slug])
        assert window[ind.slug]["count"] == published.counts[ind.slug]
    assert {f["source"] for f in window.values()} == {published.source}
    assert db.session.scalar(select(PublishedFigure.imported_by_id).limit(1)) == admin.id


def _services_are_named_by_their_host_and_a_second_seed_adds_nothing(_app, observatory, slugs, admin):
    services = {s.external_ref: s for s in db.session.scalars(select(Service))}
    assert len(services) == 227
    for procedure in observatory.followed():
        service = services[procedure.ref]
        assert service.organisation.name == ORGANISATION_NAME
        assert service.name == (procedure.host or procedure.ref)  # no published names in procedures.csv
        assert service.url == (procedure.url or None)
    assert services["jdma:4024"].name == "jdma:4024" and services["jdma:4024"].slug == "jdma-4024"  # no URL
    assert len(set(slugs.values())) == len(slugs)

    counted = [db.session.scalar(select(func.count()).select_from(model))
               for model in (Service, FeedbackResponse, PublishedFigure, Organisation)]
    assert seed_barometer(observatory, admin) is False
    assert [db.session.scalar(select(func.count()).select_from(model))
            for model in (Service, FeedbackResponse, PublishedFigure, Organisation)] == counted


def test_a_service_that_already_carries_the_procedures_reference_is_kept(app):
    observatory = read_observatory(app.config["DEMO_DATA_DIR"])
    organisation = make_organisation(slug="anah")
    own = Service(slug="maprimerenov", name="Demander MaPrimeRénov'", organisation=organisation,
                  external_ref="jdma:2250")
    db.session.add(own)
    db.session.commit()
    services = observatory_services(observatory)
    db.session.commit()
    assert services["jdma:2250"] is own and own.organisation.slug == "anah"
    assert db.session.scalar(select(func.count()).select_from(Service)) == 227
