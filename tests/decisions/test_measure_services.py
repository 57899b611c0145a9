"""What a measure changes and when: the services of its organisation it names (the barometer reads their feedback
around its implementation date), and the implementation date set by the update that makes it implemented, corrected
later, cleared when it is no longer implemented. Each rule with its refusal, through the service and the forms."""

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, update

from app.catalog.models import Service
from app.decisions import measures
from app.decisions.models import Measure, MeasureService, MeasureStatus, MeasureUpdate
from app.errors import NotAllowed
from app.extensions import db
from tests.conftest import login, post_form
from tests.decisions.helpers import World
from tests.factories import make_service


@pytest.fixture
def world(app):
    world = World()
    world.own = [make_service(world.organisation, name=name) for name in ("Carte grise", "Permis de conduire")]
    world.foreign = make_service(world.other_organisation, name="Service d'ailleurs")
    db.session.commit()
    return world


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def fresh(measure) -> Measure:
    return db.session.get(Measure, measure.id, populate_existing=True)


def create(world, services=(), **kw):
    return measures.create_measure(world.organisation, world.editor, title=kw.pop("title", "Adresse unique"),
                                   service_ids=[s.id for s in services], **kw)


def implement(world, measure, on=None, user=None):
    return measures.post_update(measure, user or world.editor, body="En ligne.", status="implemented", progress=100,
                                implemented_on=on)


# --- services ------------------------------------------------------------------------------------------------------

@pytest.mark.both_databases("app.decisions.measures")
def test_a_measure_names_the_services_of_its_organisation_it_changes(world):
    measure = create(world, world.own)
    assert [s.name for s in fresh(measure).services] == ["Carte grise", "Permis de conduire"]
    measures.edit_measure(measure, world.editor, title="Adresse unique", service_ids=[world.own[1].id])
    assert [s.id for s in fresh(measure).services] == [world.own[1].id]
    # Edited without naming its services (None), a measure keeps them.
    measures.edit_measure(measure, world.editor, title="Titre revu")
    assert [s.id for s in fresh(measure).services] == [world.own[1].id]
    measures.edit_measure(measure, world.editor, title="Titre revu", service_ids=[])
    assert fresh(measure).services == [] and count(MeasureService) == 0


@pytest.mark.parametrize("case", ["other_organisation", "missing"])
def test_a_service_of_another_organisation_is_refused_and_nothing_is_written(world, case):
    wrong = world.foreign.id if case == "other_organisation" else 999999
    with pytest.raises(measures.ServiceNotLinkable):
        measures.create_measure(world.organisation, world.editor, title="Mesure",
                                service_ids=[world.own[0].id, wrong])
    assert count(Measure) == 0 and count(MeasureService) == 0
    measure = create(world, [world.own[0]])
    with pytest.raises(measures.ServiceNotLinkable):
        measures.edit_measure(measure, world.editor, title="Autre titre", service_ids=[world.own[1].id, wrong])
    measure = fresh(measure)
    assert measure.title == "Adresse unique" and [s.id for s in measure.services] == [world.own[0].id]


def test_a_service_linked_before_it_moved_to_another_organisation_stays_linked(world):
    measure = create(world, [world.own[0]])
    db.session.execute(update(Service).where(Service.id == world.own[0].id)
                       .values(organisation_id=world.other_organisation.id))
    db.session.commit()
    measures.edit_measure(measure, world.editor, title="Titre revu", service_ids=[world.own[0].id, world.own[1].id])
    assert sorted(s.id for s in fresh(measure).services) == sorted(s.id for s in world.own)


def test_only_the_organisations_editors_name_the_services(world):
    measure = create(world, [world.own[0]])
    with pytest.raises(NotAllowed):
        measures.edit_measure(measure, world.other_editor, title="Pirate", service_ids=[world.foreign.id])
    assert [s.id for s in fresh(measure).services] == [world.own[0].id]


def test_the_measure_form_offers_the_organisations_services_as_checkboxes(client, world):
    login(client, world.editor.email)
    url = f"/decisions/organisations/{world.organisation.id}/mesures/nouvelle"
    html = client.get(url).get_data(as_text=True)
    fieldset = re.search(r"<fieldset[^>]*>\s*<legend>Démarches que la mesure change</legend>.*?</fieldset>", html,
                         re.S).group(0)
    offered = re.findall(r'name="service_ids" type="checkbox" value="(\d+)"', fieldset)
    assert sorted(offered) == sorted(str(s.id) for s in world.own) and "Service d'ailleurs" not in html
    assert 'name="implemented_on"' not in html  # a new measure is planned
    response = post_form(client, url, {"title": "Adresse unique", "service_ids": [str(world.own[1].id)]})
    assert response.status_code == 302
    assert [s.id for s in db.session.scalar(select(Measure)).services] == [world.own[1].id]


def test_the_measure_form_refuses_another_organisations_service_with_a_field_error(client, world):
    login(client, world.editor.email)
    url = f"/decisions/organisations/{world.organisation.id}/mesures/nouvelle"
    response = post_form(client, url, {"title": "Adresse unique",
                                       "service_ids": [str(world.own[0].id), str(world.foreign.id)]})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="error-summary"' in html
    assert 'href="#service_ids"' in html and 'id="service_ids-error"' in html
    assert "Une mesure ne peut concerner que des démarches de son organisation." in html
    assert count(Measure) == 0 and count(MeasureService) == 0


def test_an_organisation_without_services_gets_no_service_field(client, world):
    login(client, world.other_editor.email)
    db.session.execute(MeasureService.__table__.delete())
    db.session.execute(update(Service).where(Service.id == world.foreign.id)
                       .values(organisation_id=world.organisation.id))
    db.session.commit()
    html = client.get(f"/decisions/organisations/{world.other_organisation.id}/mesures/nouvelle").get_data(
        as_text=True)
    assert 'name="service_ids"' not in html and "Démarches que la mesure change" not in html
    response = post_form(client, f"/decisions/organisations/{world.other_organisation.id}/mesures/nouvelle",
                         {"title": "Sans démarche"})
    assert response.status_code == 302 and db.session.scalar(select(Measure)).services == []


def test_the_measure_page_links_the_services_it_changes(client, world):
    measure = create(world, [world.own[0]])
    html = client.get(f"/decisions/mesures/{measure.id}").get_data(as_text=True)
    assert "Démarches concernées" in html and f'href="/demarches/{world.own[0].slug}"' in html


# --- the implementation date ---------------------------------------------------------------------------------------

@pytest.mark.both_databases("app.decisions.measures")
def test_the_update_that_implements_a_measure_dates_it_and_any_other_status_clears_the_date(world):
    measure = create(world)
    implement(world, measure)
    assert fresh(measure).implemented_on == measures.today()
    # Still implemented, without a date: the date stays; with one: it is corrected.
    implement(world, measure, on=None)
    assert fresh(measure).implemented_on == measures.today()
    implement(world, measure, on=date(2025, 7, 15))
    assert fresh(measure).implemented_on == date(2025, 7, 15)
    measures.post_update(measure, world.editor, body="Retour en test.", status="in_progress", progress=80,
                         implemented_on=date(2025, 7, 1))
    assert (fresh(measure).status, fresh(measure).implemented_on) == (MeasureStatus.in_progress, None)
    implement(world, measure, on=date(2025, 9, 1))
    assert fresh(measure).implemented_on == date(2025, 9, 1)
    measures.post_update(measure, world.editor, body="Arrêt.", status="abandoned", progress=80, reason="Loi.")
    assert fresh(measure).implemented_on is None


def test_an_implementation_date_in_the_future_is_refused_and_nothing_changes(world):
    measure = create(world)
    with pytest.raises(measures.ImplementedInFuture):
        implement(world, measure, on=measures.today() + timedelta(days=1))
    assert (fresh(measure).status, fresh(measure).implemented_on, count(MeasureUpdate)) == (
        MeasureStatus.planned, None, 0)
    implement(world, measure, on=measures.today())  # today is not the future
    assert fresh(measure).implemented_on == measures.today()


def test_the_editor_corrects_the_date_of_an_implemented_measure(world):
    measure = create(world)
    implement(world, measure, on=date(2025, 7, 15))
    measures.edit_measure(measure, world.editor, title="Adresse unique", implemented_on=date(2025, 6, 30))
    assert fresh(measure).implemented_on == date(2025, 6, 30)
    with pytest.raises(measures.ImplementedInFuture):
        measures.edit_measure(measure, world.editor, title="Autre titre",
                              implemented_on=measures.today() + timedelta(days=30))
    assert (fresh(measure).implemented_on, fresh(measure).title) == (date(2025, 6, 30), "Adresse unique")
    with pytest.raises(NotAllowed):
        measures.edit_measure(measure, world.other_editor, title="Pirate", implemented_on=date(2024, 1, 1))
    measures.edit_measure(measure, world.editor, title="Adresse unique")  # no date given: unchanged
    assert fresh(measure).implemented_on == date(2025, 6, 30)


def test_a_measure_not_implemented_takes_no_date_from_an_edit(world):
    measure = create(world)
    measures.edit_measure(measure, world.editor, title="Adresse unique", implemented_on=date(2025, 6, 30))
    assert fresh(measure).implemented_on is None


def test_the_update_form_takes_the_date_and_refuses_one_in_the_future(client, world):
    measure = create(world)
    login(client, world.editor.email)
    url = f"/decisions/mesures/{measure.id}/avancement"
    page = client.get(url).get_data(as_text=True)
    assert 'id="implemented_on" name="implemented_on" type="date" value=""' in page
    future = (measures.today() + timedelta(days=2)).isoformat()
    for value, message in ((future, "La date de réalisation ne peut pas être dans le futur."),
                           ("hier", None)):
        response = post_form(client, url, {"status": "implemented", "progress": "100", "reason": "",
                                           "implemented_on": value, "body": "En ligne."})
        html = response.get_data(as_text=True)
        assert response.status_code == 422 and 'href="#implemented_on"' in html and 'id="implemented_on-error"' in html
        assert message is None or message in html
    assert (fresh(measure).status, count(MeasureUpdate)) == (MeasureStatus.planned, 0)
    response = post_form(client, url, {"status": "implemented", "progress": "100", "reason": "",
                                       "implemented_on": "2025-07-15", "body": "En ligne."})
    assert response.status_code == 302 and fresh(measure).implemented_on == date(2025, 7, 15)
    # The form shows the date the measure has; left as it is, the date stays.
    assert 'value="2025-07-15"' in client.get(url).get_data(as_text=True)
    html = client.get(f"/decisions/mesures/{measure.id}").get_data(as_text=True)
    assert "Réalisée le" in html and '<time datetime="2025-07-15">' in html
    post_form(client, url, {"status": "in_progress", "progress": "90", "reason": "", "implemented_on": "2025-07-15",
                            "body": "Retour en test."})
    assert fresh(measure).implemented_on is None


def test_the_edit_form_corrects_the_date_of_an_implemented_measure_only(client, world):
    measure = create(world, [world.own[0]])
    login(client, world.editor.email)
    url = f"/decisions/mesures/{measure.id}/modifier"
    assert 'name="implemented_on"' not in client.get(url).get_data(as_text=True)
    implement(world, measure, on=date(2025, 7, 15))
    html = client.get(url).get_data(as_text=True)
    assert 'name="implemented_on" type="date" value="2025-07-15"' in html
    checked = re.findall(r'<input checked id="[^"]*" name="service_ids" type="checkbox" value="(\d+)">', html)
    assert checked == [str(world.own[0].id)]
    future = (measures.today() + timedelta(days=1)).isoformat()
    response = post_form(client, url, {"title": "Adresse unique", "service_ids": checked, "implemented_on": future})
    assert response.status_code == 422 and 'href="#implemented_on"' in response.get_data(as_text=True)
    assert fresh(measure).implemented_on == date(2025, 7, 15)
    response = post_form(client, url, {"title": "Adresse unique", "service_ids": checked,
                                       "implemented_on": "2025-07-01"})
    assert response.status_code == 302 and fresh(measure).implemented_on == date(2025, 7, 1)
    assert [s.id for s in fresh(measure).services] == [world.own[0].id]
