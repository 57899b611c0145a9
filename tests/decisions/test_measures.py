"""Measures: creation from proposals, progress updates, milestones, each rule with its refusal twin, on SQLite
and PostgreSQL; and their pages over HTTP."""

import re
from datetime import date, datetime

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from app.clock import utcnow
from app.decisions import measures, service
from app.decisions.models import Measure, MeasureProposal, MeasureStatus, MeasureUpdate, Milestone
from app.errors import NotAllowed
from app.extensions import db
from app.proposals.models import Proposal, ProposalState
from tests.conftest import login, post_form
from tests.decisions.helpers import World, make_proposal


@pytest.fixture
def world(app):
    return World()


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def fresh(measure) -> Measure:
    return db.session.get(Measure, measure.id, populate_existing=True)


def create(world, user=None, proposals=(), **kw):
    fields = {"title": "Un changement d'adresse unique", "description": "Tous les organismes **prévenus**."}
    fields.update(kw)
    return measures.create_measure(world.organisation, user or world.editor,
                                   proposal_ids=[p.id for p in proposals], **fields)


# --- service -------------------------------------------------------------------------------------

@pytest.mark.both_databases("app.decisions.measures")
def test_editor_creates_a_planned_measure_fed_by_several_proposals(world):
    first, second = make_proposal(world, title="Première"), make_proposal(world, ProposalState.selected,
                                                                           title="Seconde")
    measure = create(world, proposals=[first, second])
    assert (measure.status, measure.progress, measure.organisation_id) == (MeasureStatus.planned, 0,
                                                                           world.organisation.id)
    assert [p.id for p in fresh(measure).proposals] == [first.id, second.id]
    # One proposal may feed several measures.
    other = create(world, proposals=[first], title="Une autre mesure")
    assert [m.id for m in measures.measures_of_proposal(first.id)] == [measure.id, other.id]


@pytest.mark.parametrize("who", ["citizen", "facilitator", "other_editor"])
def test_only_the_organisations_editors_create_measures(world, who):
    with pytest.raises(NotAllowed):
        create(world, getattr(world, who))
    assert count(Measure) == 0


def test_measure_needs_a_title(world):
    with pytest.raises(measures.TitleRequired):
        create(world, title="  ")
    assert count(Measure) == 0


@pytest.mark.parametrize("case", ["other_organisation", "draft", "withdrawn", "missing", "hidden"])
def test_measure_comes_only_from_public_proposals_of_its_organisation(world, case):
    if case == "other_organisation":
        proposal_id = make_proposal(world, organisation=world.other_organisation).id
    elif case == "hidden":  # hidden by the moderators: its text is out of sight, no measure may cite it
        proposal_id = make_proposal(world).id
        db.session.execute(update(Proposal).where(Proposal.id == proposal_id).values(hidden_at=utcnow()))
        db.session.commit()
    elif case == "missing":
        proposal_id = 999999
    else:
        proposal_id = make_proposal(world, ProposalState[case]).id
    with pytest.raises(measures.ProposalNotLinkable):
        measures.create_measure(world.organisation, world.editor, title="Mesure", proposal_ids=[proposal_id])
    assert count(Measure) == 0 and count(MeasureProposal) == 0


def test_a_link_made_before_its_proposal_was_hidden_survives_an_edit(world):
    first, second = make_proposal(world, title="Première"), make_proposal(world, title="Seconde")
    measure = create(world, proposals=[first])
    db.session.execute(update(Proposal).where(Proposal.id == first.id).values(hidden_at=utcnow()))
    db.session.commit()
    measures.edit_measure(measure, world.editor, title="Titre revu", description="",
                          proposal_ids=[first.id, second.id])
    assert sorted(p.id for p in fresh(measure).proposals) == [first.id, second.id]


def test_a_link_made_before_its_proposal_was_hidden_survives_an_edit_through_the_form(client, world):
    """The edit form posts the boxes it shows: a linked proposal hidden since must still be one of them (checked),
    or fixing a typo in the title would silently unlink it."""
    first, second = make_proposal(world, title="Première"), make_proposal(world, title="Seconde")
    measure = create(world, proposals=[first, second])
    db.session.execute(update(Proposal).where(Proposal.id == first.id).values(hidden_at=utcnow()))
    db.session.commit()
    login(client, world.editor.email)
    url = f"/decisions/mesures/{measure.id}/modifier"
    page = client.get(url).get_data(as_text=True)
    checked = re.findall(r'<input checked id="[^"]*" name="proposal_ids" type="checkbox" value="(\d+)">', page)
    assert sorted(checked) == sorted([str(first.id), str(second.id)])
    assert "Première" not in page and "Proposition masquée par la modération" in page  # its text stays hidden
    response = post_form(client, url, {"title": "Titre revu", "description": "", "proposal_ids": checked})
    assert response.status_code == 302
    assert sorted(p.id for p in fresh(measure).proposals) == sorted([first.id, second.id])


@pytest.mark.both_databases("app.decisions.measures")
def test_editing_replaces_the_linked_proposals(world):
    first, second = make_proposal(world, title="Première"), make_proposal(world, title="Seconde")
    measure = create(world, proposals=[first])
    measures.edit_measure(measure, world.admin, title="Nouveau titre", description="", proposal_ids=[second.id])
    measure = fresh(measure)
    assert measure.title == "Nouveau titre" and [p.id for p in measure.proposals] == [second.id]
    with pytest.raises(NotAllowed):
        measures.edit_measure(measure, world.other_editor, title="Pirate", proposal_ids=[])
    assert fresh(measure).title == "Nouveau titre"


@pytest.mark.both_databases("app.decisions.measures")
def test_update_sets_status_and_progress_and_adds_to_the_timeline(world):
    measure = create(world)
    measures.post_update(measure, world.editor, body="Le marché est lancé.", status="in_progress", progress=30)
    measures.post_update(measure, world.editor, body="En service.", status=MeasureStatus.implemented, progress=100)
    measure = fresh(measure)
    assert (measure.status, measure.progress) == (MeasureStatus.implemented, 100)
    assert [(u.status, u.progress) for u in measure.updates] == [(MeasureStatus.implemented, 100),
                                                                 (MeasureStatus.in_progress, 30)]


def test_abandoning_needs_a_reason(world):
    measure = create(world)
    with pytest.raises(measures.AbandonReasonRequired):
        measures.post_update(measure, world.editor, body="Arrêt.", status="abandoned", progress=10, reason=" ")
    assert fresh(measure).status is MeasureStatus.planned and count(MeasureUpdate) == 0
    measures.post_update(measure, world.editor, body="Arrêt.", status="abandoned", progress=10, reason="Loi changée.")
    assert (fresh(measure).status, fresh(measure).abandon_reason) == (MeasureStatus.abandoned, "Loi changée.")
    # Taking the measure up again clears the reason.
    measures.post_update(measure, world.editor, body="Reprise.", status="in_progress", progress=10)
    assert fresh(measure).abandon_reason == ""


@pytest.mark.parametrize("progress", [-1, 101, None])
def test_progress_out_of_range_is_refused(world, progress):
    measure = create(world)
    with pytest.raises(measures.ProgressOutOfRange):
        measures.post_update(measure, world.editor, body="x", status="in_progress", progress=progress)
    assert fresh(measure).progress == 0 and count(MeasureUpdate) == 0


@pytest.mark.both_databases()
def test_the_database_refuses_progress_out_of_range_and_abandon_without_reason(world):
    measure = create(world)
    with pytest.raises(IntegrityError):
        db.session.execute(update(Measure).where(Measure.id == measure.id).values(progress=101))
    db.session.rollback()
    with pytest.raises(IntegrityError):
        db.session.execute(update(Measure).where(Measure.id == measure.id).values(status="abandoned"))
    db.session.rollback()
    with pytest.raises(IntegrityError):
        db.session.execute(insert(MeasureUpdate).values(measure_id=measure.id, body_md="x", status="planned",
                                                        progress=-5, created_at=utcnow()))
    db.session.rollback()


def test_update_refusals(world):
    measure = create(world)
    with pytest.raises(NotAllowed):
        measures.post_update(measure, world.other_editor, body="x", status="in_progress", progress=5)
    with pytest.raises(measures.UnknownStatus):
        measures.post_update(measure, world.editor, body="x", status="paused", progress=5)
    with pytest.raises(service.BodyRequired):
        measures.post_update(measure, world.editor, body="", status="in_progress", progress=5)
    assert count(MeasureUpdate) == 0 and fresh(measure).status is MeasureStatus.planned


def test_milestones_are_planned_then_done(world):
    measure = create(world)
    later = measures.add_milestone(measure, world.editor, title="Mise en service", planned_on=date(2027, 6, 1))
    sooner = measures.add_milestone(measure, world.editor, title="Marché", planned_on=date(2027, 1, 15))
    assert [m.id for m in fresh(measure).milestones] == [sooner.id, later.id]
    measures.complete_milestone(sooner, world.editor, done_on=date(2027, 1, 20))
    assert db.session.get(Milestone, sooner.id, populate_existing=True).done_on == date(2027, 1, 20)
    assert not db.session.get(Milestone, later.id).is_done
    # A corrected date changes the measure's update time, which the open-data milestones fingerprint reads.
    db.session.execute(update(Measure).where(Measure.id == measure.id).values(updated_at=datetime(2026, 1, 1)))
    db.session.commit()
    measures.complete_milestone(db.session.get(Milestone, sooner.id), world.editor, done_on=date(2027, 1, 18))
    assert fresh(measure).updated_at > datetime(2026, 1, 1)


def test_milestone_refusals(world):
    measure = create(world)
    with pytest.raises(NotAllowed):
        measures.add_milestone(measure, world.facilitator, title="Jalon", planned_on=date(2027, 1, 1))
    with pytest.raises(measures.DateRequired):
        measures.add_milestone(measure, world.editor, title="Jalon", planned_on=None)
    with pytest.raises(measures.TitleRequired):
        measures.add_milestone(measure, world.editor, title="", planned_on=date(2027, 1, 1))
    assert count(Milestone) == 0
    milestone = measures.add_milestone(measure, world.editor, title="Jalon", planned_on=date(2027, 1, 1))
    with pytest.raises(NotAllowed):
        measures.complete_milestone(milestone, world.other_editor, done_on=date(2027, 1, 2))
    assert db.session.get(Milestone, milestone.id, populate_existing=True).done_on is None


# --- pages ---------------------------------------------------------------------------------------

def test_editor_creates_updates_and_the_public_page_shows_it_all(client, world):
    proposal = make_proposal(world, title="Déclarer une seule fois")
    login(client, world.editor.email)
    new = f"/decisions/organisations/{world.organisation.id}/mesures/nouvelle"
    page = client.get(new).get_data(as_text=True)
    assert "Déclarer une seule fois" in page
    response = post_form(client, new, {"title": "Adresse unique", "description": "Tous **prévenus**.",
                                       "proposal_ids": [str(proposal.id)]})
    measure = db.session.scalar(select(Measure))
    assert response.status_code == 302 and response.headers["Location"].endswith(
        f"/decisions/mesures/{measure.id}/avancement")
    progress = f"/decisions/mesures/{measure.id}/avancement"
    response = post_form(client, progress, {"status": "in_progress", "progress": "40", "reason": "",
                                            "body": "Le marché est **lancé**."})
    assert response.status_code == 302
    response = post_form(client, f"/decisions/mesures/{measure.id}/jalons",
                         {"milestone-title": "Mise en service", "milestone-planned_on": "2027-06-01"},
                         csrf_url=progress)
    assert response.status_code == 302 and count(Milestone) == 1
    post_form(client, "/compte/deconnexion", {}, csrf_url="/")
    html = client.get(f"/decisions/mesures/{measure.id}").get_data(as_text=True)
    assert "Adresse unique" in html and "<strong>prévenus</strong>" in html and "<strong>lancé</strong>" in html
    assert "En cours" in html and 'value="40"' in html and "Mise en service" in html
    assert f"/propositions/{proposal.id}" in html and progress not in html
    assert f"/decisions/mesures/{measure.id}" in client.get(f"/propositions/{proposal.id}").get_data(as_text=True)


def test_measure_forms_show_errors(client, world):
    measure = create(world)
    login(client, world.editor.email)
    progress = f"/decisions/mesures/{measure.id}/avancement"
    response = post_form(client, progress, {"status": "abandoned", "progress": "150", "reason": "", "body": ""})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="error-summary"' in html
    assert "Indiquez pourquoi la mesure est abandonnée" in html and "entre 0 et 100" in html
    assert count(MeasureUpdate) == 0 and fresh(measure).status is MeasureStatus.planned
    response = post_form(client, f"/decisions/mesures/{measure.id}/jalons",
                         {"milestone-title": "", "milestone-planned_on": ""}, csrf_url=progress)
    assert response.status_code == 422 and 'href="#milestone-title"' in response.get_data(as_text=True)
    response = post_form(client, f"/decisions/organisations/{world.organisation.id}/mesures/nouvelle", {"title": ""})
    assert response.status_code == 422 and count(Measure) == 1


def test_measure_posts_need_csrf_and_the_editor_role(client, world):
    measure = create(world)
    login(client, world.editor.email)
    response = client.post(f"/decisions/mesures/{measure.id}/avancement",
                           data={"status": "in_progress", "progress": "10", "body": "x"})
    assert response.status_code in (400, 422) and count(MeasureUpdate) == 0
    post_form(client, "/compte/deconnexion", {}, csrf_url="/")
    login(client, world.other_editor.email)
    for url in (f"/decisions/mesures/{measure.id}/avancement", f"/decisions/mesures/{measure.id}/modifier"):
        assert client.get(url).status_code == 403
    response = post_form(client, f"/decisions/mesures/{measure.id}/avancement",
                         {"status": "in_progress", "progress": "10", "body": "x"}, csrf_url="/")
    assert response.status_code == 403 and count(MeasureUpdate) == 0
    milestone = measures.add_milestone(measure, world.editor, title="Jalon", planned_on=date(2027, 1, 1))
    response = post_form(client, f"/decisions/jalons/{milestone.id}/realise", {"done_on": "2027-01-02"},
                         csrf_url="/")
    assert response.status_code == 403
    assert db.session.get(Milestone, milestone.id, populate_existing=True).done_on is None


def test_milestone_done_by_keyboard_form(client, world):
    measure = create(world)
    milestone = measures.add_milestone(measure, world.editor, title="Jalon", planned_on=date(2027, 1, 1))
    login(client, world.editor.email)
    progress = f"/decisions/mesures/{measure.id}/avancement"
    assert f'for="done_on-{milestone.id}"' in client.get(progress).get_data(as_text=True)
    response = post_form(client, f"/decisions/jalons/{milestone.id}/realise", {"done_on": ""}, csrf_url=progress)
    assert response.status_code == 302
    assert db.session.get(Milestone, milestone.id, populate_existing=True).done_on is None
    post_form(client, f"/decisions/jalons/{milestone.id}/realise", {"done_on": "2027-01-03"}, csrf_url=progress)
    assert db.session.get(Milestone, milestone.id, populate_existing=True).done_on == date(2027, 1, 3)
