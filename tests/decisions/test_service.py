"""Answers and answer deadlines, each rule with its refusal twin, on SQLite and PostgreSQL."""

from datetime import timedelta

import pytest
from sqlalchemy import event, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from app.clock import utcnow
from app.decisions import service
from app.decisions.models import Answer, AnswerKind, AnswerSettings, AnswerVersion, DueFrom
from app.errors import NotAllowed
from app.extensions import db
from app.notifications.models import Notification
from app.proposals.models import Proposal, ProposalState
from tests.decisions.helpers import World, make_proposal, select_by_vote
from tests.queries import recorded_statements


@pytest.fixture
def world(app):
    return World()


def state_of(proposal) -> ProposalState:
    return db.session.scalar(select(Proposal.state).where(Proposal.id == proposal.id).execution_options(
        populate_existing=True))


def answers() -> int:
    return db.session.scalar(select(func.count()).select_from(Answer))


def notified(kind: str) -> set[int]:
    return set(db.session.scalars(select(Notification.user_id).where(Notification.kind == kind)))


def answer(proposal, user, kind=AnswerKind.adopted, body="Nous le faisons dès janvier.", reason="", **kw):
    return service.answer_proposal(proposal, user, kind=kind, body=body, reason=reason, **kw)


# --- answering -----------------------------------------------------------------------------------

def test_editor_answers_a_published_proposal_which_becomes_answered(world):
    proposal = make_proposal(world, followers=[world.follower])
    done = answer(proposal, world.editor, show_editor_name=True)
    assert state_of(proposal) is ProposalState.answered
    assert done.kind is AnswerKind.adopted and done.organisation_id == world.organisation.id
    assert done.editor_id == world.editor.id and done.show_editor_name and done.revision == 1
    assert done.answered_at is not None
    assert notified("proposal_answered") == {world.author.id, world.follower.id}


def test_editor_answers_a_selected_proposal(world):
    proposal = make_proposal(world)
    select_by_vote(proposal, utcnow() - timedelta(days=3), world.editor)
    answer(proposal, world.editor, AnswerKind.partly_adopted, reason="Le volet papier reste.")
    assert state_of(proposal) is ProposalState.answered


def test_admin_answers_any_organisation(world):
    proposal = make_proposal(world, organisation=world.other_organisation)
    answer(proposal, world.admin, AnswerKind.already_exists)
    assert state_of(proposal) is ProposalState.answered


@pytest.mark.parametrize("who", ["citizen", "facilitator", "author", "other_editor"])
def test_only_the_organisations_editors_answer(world, who):
    proposal = make_proposal(world)
    with pytest.raises(NotAllowed):
        answer(proposal, getattr(world, who))
    assert state_of(proposal) is ProposalState.published and answers() == 0
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 0


def test_not_adopted_needs_a_reason(world):
    proposal = make_proposal(world)
    with pytest.raises(service.ReasonRequired):
        answer(proposal, world.editor, AnswerKind.not_adopted, reason="   ")
    assert state_of(proposal) is ProposalState.published and answers() == 0
    done = answer(proposal, world.editor, AnswerKind.not_adopted, reason="La loi impose deux déclarations.")
    assert done.reason == "La loi impose deux déclarations." and state_of(proposal) is ProposalState.answered


@pytest.mark.both_databases()
def test_the_database_refuses_not_adopted_without_a_reason(world):
    proposal = make_proposal(world)
    with pytest.raises(IntegrityError):
        db.session.execute(insert(Answer).values(proposal_id=proposal.id, organisation_id=world.organisation.id,
                                                 kind=AnswerKind.not_adopted.name, body_md="Non.", reason="",
                                                 show_editor_name=False, revision=1, answered_at=utcnow(),
                                                 updated_at=utcnow()))
        db.session.flush()
    db.session.rollback()


@pytest.mark.both_databases()
def test_the_database_keeps_one_answer_per_proposal(world):
    proposal = make_proposal(world)
    answer(proposal, world.editor)
    with pytest.raises(IntegrityError):
        db.session.execute(insert(Answer).values(proposal_id=proposal.id, organisation_id=world.organisation.id,
                                                 kind=AnswerKind.adopted.name, body_md="Encore.", reason="",
                                                 show_editor_name=False, revision=1, answered_at=utcnow(),
                                                 updated_at=utcnow()))
        db.session.flush()
    db.session.rollback()


def test_an_answer_needs_a_text_and_a_known_kind(world):
    proposal = make_proposal(world)
    with pytest.raises(service.BodyRequired):
        answer(proposal, world.editor, body="  ")
    with pytest.raises(service.UnknownKind):
        answer(proposal, world.editor, kind="maybe")
    with pytest.raises(service.InvalidInput):
        answer(proposal, world.editor, body="x" * (service.BODY_MAX + 1))
    assert state_of(proposal) is ProposalState.published and answers() == 0


@pytest.mark.parametrize("state", [ProposalState.draft, ProposalState.withdrawn, ProposalState.merged,
                                   ProposalState.awaiting_moderation, ProposalState.in_vote])
def test_proposals_that_cannot_be_answered(world, state):
    proposal = make_proposal(world, state)
    with pytest.raises(service.NotAnswerable):
        answer(proposal, world.editor)
    assert state_of(proposal) is state and answers() == 0
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 0


def test_a_proposal_hidden_by_the_moderators_gets_no_answer(world):
    from app.proposals import moderation

    proposal = make_proposal(world)
    moderation.hide_proposal(db.session.get(Proposal, proposal.id), world.editor, "Propos injurieux")
    with pytest.raises(service.ProposalHiddenByModeration):
        answer(proposal, world.editor)
    assert state_of(proposal) is ProposalState.published and answers() == 0


@pytest.mark.both_databases("app.decisions.service")
def test_editing_an_answer_keeps_the_earlier_wording_and_tells_the_audience(world):
    proposal = make_proposal(world, followers=[world.follower])
    first = answer(proposal, world.editor, AnswerKind.adopted, body="Oui.")
    written = first.updated_at
    edited = answer(proposal, world.admin, AnswerKind.not_adopted, body="Finalement non.", reason="Budget.")
    assert edited.id == first.id and edited.revision == 2 and edited.kind is AnswerKind.not_adopted
    assert edited.editor_id == world.admin.id and answers() == 1
    (old,) = db.session.scalars(select(AnswerVersion).where(AnswerVersion.answer_id == first.id))
    assert (old.revision, old.kind, old.body_md, old.editor_id) == (1, AnswerKind.adopted, "Oui.", world.editor.id)
    assert old.written_at == written
    assert notified("proposal_answer_updated") == {world.author.id, world.follower.id}
    assert state_of(proposal) is ProposalState.answered


def test_another_organisations_editor_cannot_edit_the_answer(world):
    proposal = make_proposal(world)
    answer(proposal, world.editor, body="Oui.")
    with pytest.raises(NotAllowed):
        answer(proposal, world.other_editor, body="Non.")
    assert db.session.scalar(select(Answer.body_md)) == "Oui."
    assert db.session.scalar(select(func.count()).select_from(AnswerVersion)) == 0


def test_the_editor_answering_is_not_notified_of_their_own_answer(world):
    proposal = make_proposal(world, followers=[world.editor])
    answer(proposal, world.editor)
    assert world.editor.id not in notified("proposal_answered")


# --- deadlines -----------------------------------------------------------------------------------

def test_default_deadline_is_sixty_days_after_selection(world):
    proposal = make_proposal(world)
    closed = utcnow() - timedelta(days=10)
    select_by_vote(proposal, closed, world.editor)
    (item,) = service.awaiting_answer(world.organisation.id)
    assert item.proposal.id == proposal.id and item.counted_from is DueFrom.selection
    assert item.due_at == closed + timedelta(days=60) and not item.overdue


def test_selected_proposal_past_the_deadline_is_overdue(world):
    late = make_proposal(world, title="En retard")
    on_time = make_proposal(world, title="À l'heure")
    select_by_vote(late, utcnow() - timedelta(days=61), world.editor)
    select_by_vote(on_time, utcnow() - timedelta(days=59), world.editor)
    count, items = service.overdue_proposals()[world.organisation.id]
    assert count == 1 and [i.proposal.id for i in items] == [late.id]
    assert [i.proposal.id for i in service.awaiting_answer(world.organisation.id)] == [late.id, on_time.id]


def test_overdue_lists_count_every_late_proposal_and_load_only_those_shown(world):
    """A report shows the 25 most overdue of maybe hundreds: the others are counted, not loaded."""
    service.set_settings(world.organisation, world.editor, deadline_days=30, from_publication=True)
    made = [make_proposal(world, title=f"P{k}", published_at=utcnow() - timedelta(days=40 + k)) for k in range(6)]
    db.session.commit()
    org, ids = world.organisation.id, [p.id for p in made]
    db.session.expunge_all()
    loaded = []

    def on_load(target, _context):
        loaded.append(target.id)

    event.listen(Proposal, "load", on_load)
    try:
        count, items = service.overdue_proposals(org, shown=2)[org]
    finally:
        event.remove(Proposal, "load", on_load)
    assert count == 6
    assert [item.proposal.id for item in items] == [ids[5], ids[4]]  # most overdue first
    assert sorted(loaded) == sorted([ids[5], ids[4]])
    count, items = service.overdue_proposals(org)[org]
    assert count == 6 and [item.proposal.id for item in items] == ids[::-1]


def test_published_proposals_have_no_deadline_unless_the_organisation_counts_from_publication(world):
    proposal = make_proposal(world, published_at=utcnow() - timedelta(days=40))
    assert service.awaiting_answer(world.organisation.id) == []
    service.set_settings(world.organisation, world.editor, deadline_days=30, from_publication=True)
    (item,) = service.awaiting_answer(world.organisation.id)
    assert item.proposal.id == proposal.id and item.counted_from is DueFrom.publication and item.overdue
    assert item.due_at == proposal.published_at + timedelta(days=30)
    # Another organisation's setting changes nothing here.
    assert service.awaiting_answer(world.other_organisation.id) == []


def test_answered_and_hidden_proposals_are_no_longer_awaiting(world):
    answered = make_proposal(world, title="Répondue")
    hidden = make_proposal(world, title="Masquée")
    for proposal in (answered, hidden):
        select_by_vote(proposal, utcnow() - timedelta(days=90), world.editor)
    db.session.execute(update(Proposal).where(Proposal.id == hidden.id).values(hidden_at=utcnow()))
    db.session.commit()
    answer(answered, world.editor)
    assert service.awaiting_answer(world.organisation.id) == [] and service.overdue_proposals() == {}


@pytest.mark.both_databases("app.decisions.service")
def test_deadline_is_set_by_editors_only_within_range(world):
    with pytest.raises(NotAllowed):
        service.set_settings(world.organisation, world.other_editor, deadline_days=10, from_publication=False)
    with pytest.raises(NotAllowed):
        service.set_settings(world.organisation, world.facilitator, deadline_days=10, from_publication=False)
    for days in (0, 366, -5):
        with pytest.raises(service.DeadlineOutOfRange):
            service.set_settings(world.organisation, world.editor, deadline_days=days, from_publication=False)
    assert db.session.get(AnswerSettings, world.organisation.id) is None
    assert service.get_settings(world.organisation.id).deadline_days == 60
    service.set_settings(world.organisation, world.editor, deadline_days=15, from_publication=False)
    service.set_settings(world.organisation, world.admin, deadline_days=20, from_publication=True)
    stored = db.session.get(AnswerSettings, world.organisation.id, populate_existing=True)
    assert (stored.deadline_days, stored.from_publication) == (20, True)


@pytest.mark.both_databases()
def test_the_database_refuses_a_deadline_out_of_range(world):
    with pytest.raises(IntegrityError):
        db.session.add(AnswerSettings(organisation_id=world.organisation.id, deadline_days=0))
        db.session.flush()
    db.session.rollback()


def test_awaiting_list_issues_a_bounded_number_of_queries(world):
    def count_queries(organisation_id):
        with recorded_statements() as seen:
            service.awaiting_answer(organisation_id)
        return len(seen)

    select_by_vote(make_proposal(world), utcnow() - timedelta(days=5), world.editor)
    few = count_queries(world.organisation.id)
    for i in range(8):
        select_by_vote(make_proposal(world, title=f"P{i}"), utcnow() - timedelta(days=i), world.editor)
    assert few == 3, few  # the settings, the deadlines, the proposals
    assert count_queries(world.organisation.id) == few


def test_the_answer_reaches_the_authors_daily_digest_over_smtp(app, smtp, world):
    from app.jobs import run_once
    from tests.servers import text_body

    proposal = make_proposal(world, title="Une adresse pour tout")
    answer(proposal, world.editor)
    results = run_once(app)
    assert results["notification_digests"] == 1 and results["deliver_mail"]["failed"] == 0
    [mail] = smtp.wait_for(world.author.email)
    body = text_body(mail)
    assert "L'organisation a répondu à « Une adresse pour tout »" in body and f"/propositions/{proposal.id}" in body
