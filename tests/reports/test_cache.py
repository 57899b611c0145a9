"""Report figures kept between requests (app/reports/cache.py) and the database triggers that say when they change
(app/reports/versions.py), on SQLite and PostgreSQL: a kept page is served without its aggregate queries, every
change a report shows is on the next view, changes no report shows keep the copies, the clock expires overdue
figures, a new database starts a new epoch, and concurrent writers on PostgreSQL each move the version once."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import delete, insert, literal, select, update

from app.accounts.models import User
from app.boards.models import Idea, IdeaStatus
from app.catalog import service as catalog
from app.catalog.models import Organisation
from app.clock import utcnow
from app.consultations.models import Consultation, ConsultationProposal
from app.decisions import measures
from app.decisions import service as decisions
from app.decisions.models import Answer, AnswerSettings, Measure, MeasureProposal, Milestone
from app.extensions import db
from app.proposals import moderation
from app.proposals import service as proposals
from app.proposals.models import Proposal
from app.reports import cache, service
from app.reports.models import DataVersion
from tests.concurrency import run_together, threads_app_fixture
from tests.decisions.helpers import World, make_proposal, select_by_vote
from tests.queries import recorded_statements
from tests.reports.helpers import build

pytestmark = pytest.mark.both_databases("app.reports.versions")


@pytest.fixture
def data(app):
    return build(World())


def words(client, url) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


def statements_of(client, url) -> list[str]:
    with recorded_statements() as seen:
        assert client.get(url).status_code == 200
    return seen


def version() -> tuple | None:
    db.session.rollback()  # a fresh snapshot
    return cache.current_version()


@pytest.mark.parametrize("path", ["/rapports/organisations/{slug}", "/organisations/{slug}"])
def test_a_kept_report_fragment_is_served_without_its_aggregate_queries(client, data, path):
    url = path.format(slug=data.world.organisation.slug)
    first = statements_of(client, url)
    again = statements_of(client, url)
    report_queries = ("answers.kind", "answer_settings")  # proposals by answer kind; the deadline settings
    assert all(any(q in s for s in first) for q in report_queries)  # computed
    assert not any(q in s for s in again for q in report_queries)  # kept
    assert len(again) < len(first) and sum("data_versions" in s for s in again) == 1
    assert words(client, url) == words(client, url)


def _answer_p6(data):
    decisions.answer_proposal(data.proposals["p6"], data.world.editor, kind="adopted", body="Oui.")
    return "5 avec une réponse publique", "4 avec une réponse publique"


def _hide_p2(data):
    moderation.hide_proposal(data.proposals["p2"], data.world.admin, "Hors sujet.")
    return "6 propositions reçues", "7 propositions reçues"


def _count_from_publication(data):
    decisions.set_settings(data.world.organisation, data.world.editor, deadline_days=60, from_publication=True)
    return "2 propositions attendent leur réponse", "1 proposition attend sa réponse"


def _measure_progress(data):
    planned = db.session.scalar(select(Measure).where(Measure.title == "Mesure prévue"))
    measures.post_update(planned, data.world.editor, body="Lancée.", status="in_progress", progress=35)
    return "35 %", None


def _milestone_done(data):
    milestone = db.session.scalar(select(Milestone).where(Milestone.done_on.is_(None)))
    measures.complete_milestone(milestone, data.world.editor, done_on=utcnow().date())
    return "2 sur 2", "1 sur 2"


def _vote_selects_p6(data):
    select_by_vote(data.proposals["p6"], utcnow() - timedelta(days=61), data.world.editor)  # due a day ago
    return "2 propositions attendent leur réponse", "1 proposition attend sa réponse"


@pytest.mark.parametrize("change", [_answer_p6, _hide_p2, _count_from_publication, _measure_progress,
                                    _milestone_done, _vote_selects_p6])
def test_every_change_a_report_shows_is_on_the_next_view(client, data, change):
    url = f"/rapports/organisations/{data.world.organisation.slug}"
    before = words(client, url)
    assert words(client, url) == before  # kept
    shown, gone = change(data)
    after = words(client, url)
    assert shown in after and shown not in before
    assert gone is None or gone not in after


def test_closed_results_are_kept_and_show_an_answer_given_after_the_vote(client, data):
    """The results page of a closed vote is kept whole (no query for its items or their outcomes on the next
    view), and an answer to one of its proposals is on the view after it."""
    consultation = select_by_vote(data.proposals["p6"], utcnow() - timedelta(days=2), data.world.editor)
    url = f"/consultations/{consultation.id}/resultats"
    before = words(client, url)
    assert "P6" in before and "Adoptée" not in before
    again = statements_of(client, url)
    assert not any("consultation_proposals" in s or "answers" in s for s in again)
    decisions.answer_proposal(data.proposals["p6"], data.world.editor, kind="adopted", body="Oui.")
    assert "Adoptée" in words(client, url)


def test_renaming_an_organisation_renews_the_links_of_its_kept_summary(client, data):
    org = data.world.organisation
    assert f"/rapports/organisations/{org.slug}" in client.get(f"/organisations/{org.slug}").get_data(as_text=True)
    catalog.save_organisation(data.world.admin, org, slug="caisse-renommee", name="Caisse renommée")
    html = client.get("/organisations/caisse-renommee").get_data(as_text=True)
    assert "/rapports/organisations/caisse-renommee" in html and "Caisse renommée" in html


WRITES = {
    # each touches one table, as a bulk statement would (no ORM event, no updated_at)
    "an answer's text": lambda: update(Answer).values(body_md="Réponse revue."),
    "a deadline setting": lambda: insert(AnswerSettings).from_select(
        ["organisation_id", "deadline_days", "from_publication", "updated_at"],
        select(Organisation.id, literal(10), literal(False), literal(utcnow()))),
    "a measure's title": lambda: update(Measure).values(title="Mesure renommée"),
    "a measure's proposals": lambda: delete(MeasureProposal),
    "a milestone": lambda: update(Milestone).values(done_on=None),
    "a vote's closing": lambda: update(Consultation).values(closed_at=utcnow()),
    "a vote's selection": lambda: update(ConsultationProposal).values(selected=False),
    "an organisation's address": lambda: update(Organisation).values(slug=Organisation.slug + "-x"),
    "a proposal's title": lambda: update(Proposal).values(title=Proposal.title + " !"),
    "a proposal's visibility": lambda: update(Proposal).values(hidden_at=None),
}
UNSHOWN_WRITES = {
    "support counts": lambda: update(Proposal).values(support_count=Proposal.support_count + 1),
    "an organisation's description": lambda: update(Organisation).values(description="Autre texte."),
    "a vote's title": lambda: update(Consultation).values(title="Autre titre"),
}


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_each_write_of_what_reports_show_moves_the_version(data, write):
    before = version()
    assert db.session.execute(write()).rowcount != 0  # something was written (-1: the driver does not say)
    db.session.commit()
    after = version()
    assert after[0] == before[0] and after[1] > before[1]


@pytest.mark.parametrize("write", UNSHOWN_WRITES.values(), ids=UNSHOWN_WRITES.keys())
def test_writes_of_what_no_report_shows_leave_the_version(data, write):
    before = version()
    assert db.session.execute(write()).rowcount != 0  # something was written (-1: the driver does not say)
    db.session.commit()
    assert version() == before


def test_changes_no_report_shows_keep_the_copies(client, data):
    world = data.world
    before = version()
    proposals.support(db.session.get(Proposal, data.proposals["p6"].id), world.citizen)
    proposals.add_comment(db.session.get(Proposal, data.proposals["p6"].id), world.citizen, "Bonne idée.")
    idea = db.session.scalar(select(Idea).where(Idea.status == IdeaStatus.visible))
    idea.text = "Idée reformulée"
    db.session.commit()
    assert version() == before is not None


def test_the_dashboard_counts_ideas_on_every_view_and_keeps_the_rest(client, data):
    assert "Idées déposées en atelier 5" in words(client, "/rapports/")
    hidden = db.session.scalar(select(Idea).where(Idea.status == IdeaStatus.hidden))
    before = version()
    hidden.status = IdeaStatus.visible
    db.session.commit()
    assert version() == before  # ideas are not watched...
    assert "Idées déposées en atelier 6" in words(client, "/rapports/")  # ...they are counted on every view


def test_kept_figures_hold_until_the_next_waiting_proposal_becomes_overdue(data):
    org = data.world.organisation.id
    figures = service.organisation_figures(org)
    due = next(item.due_at for item in decisions.awaiting_answer(org) if item.proposal.title == "P5")
    assert figures.valid_until == due  # P5, selected a day ago, is the next to become overdue
    computed = []

    def compute():
        computed.append(1)
        return len(computed), due

    now = utcnow()
    assert cache.remember(("clock",), compute, now=now) == 1
    assert cache.remember(("clock",), compute, now=due - timedelta(seconds=1)) == 1  # kept
    assert cache.remember(("clock",), compute, now=due + timedelta(seconds=1)) == 2  # past its deadline


def test_an_organisation_with_nothing_waiting_keeps_its_figures_until_the_data_changes(app):
    world = World()
    make_proposal(world)
    assert service.organisation_figures(world.organisation.id).valid_until is None


def test_a_database_emptied_of_its_version_starts_a_new_epoch_and_keeps_nothing_meanwhile(client, data):
    epoch, number = version()
    db.session.execute(delete(DataVersion))
    db.session.commit()
    computed = []
    for _ in range(2):
        cache.remember(("no-version",), lambda: (computed.append(1), None))
    assert len(computed) == 2  # without a version nothing is kept
    decisions.set_settings(data.world.organisation, data.world.editor, deadline_days=30, from_publication=False)
    new_epoch, new_number = version()
    assert new_epoch != epoch and new_number == 1 and len(new_epoch) == 32


def test_the_cache_keeps_at_most_its_bound(data, monkeypatch):
    monkeypatch.setattr(cache, "MAX_ENTRIES", 3)
    cache.clear()
    for k in range(5):
        cache.remember(("bound", k), lambda k=k: (k, None))
    assert cache.size() == 3
    computed = []
    cache.remember(("bound", 0), lambda: (computed.append(0), None))  # the oldest went first
    cache.remember(("bound", 4), lambda: (computed.append(4), None))
    assert computed == [0]


N = 12


threaded_app = threads_app_fixture(N, "threaded_app")


def test_concurrent_answers_each_move_the_version_and_none_fails(threaded_app, backend):
    """PostgreSQL: the deferred trigger takes the version row's lock at commit, after the proposal locks, so
    writers never deadlock on it, and each transaction counts once however many rows it changed. SQLite's row
    triggers count each row: an answer and its proposal's new state."""
    world = World()
    ids = [make_proposal(world, title=f"Proposition {i}").id for i in range(N)]
    editor_id = world.editor.id
    start = version()

    def job_for(i):
        def job(barrier):
            user, proposal = db.session.get(User, editor_id), db.session.get(Proposal, ids[i])
            db.session.rollback()
            barrier.wait()
            return decisions.answer_proposal(proposal, user, kind="adopted", body=f"Réponse {i}").id
        return job

    results, errors = run_together(threaded_app, [job_for(i) for i in range(N)])
    assert errors == [] and len(set(results)) == N
    epoch, number = version()
    assert epoch == start[0] and number == start[1] + N * (1 if backend == "postgresql" else 2)
