"""Consultation rules, each with its refusal twin, on SQLite and PostgreSQL. Time is never mocked: consultations
are moved with direct UPDATEs (``helpers.move``) and the services read the real clock."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app import signals
from app.catalog.models import Role
from app.clock import utcnow
from app.consultations import results, service
from app.consultations.models import (
    Ballot,
    BallotChoice,
    Consultation,
    ConsultationMethod,
    ConsultationProposal,
    ConsultationState,
    SelectionRule,
)
from app.errors import InvalidInput, NotAllowed, NotFound
from app.extensions import db
from app.jobs import run_once
from app.proposals.models import Proposal, ProposalState
from tests.consultations.helpers import make_consultation, make_proposal, move
from tests.factories import make_member, make_organisation, make_user
from tests.queries import recorded_statements

SUPPORT, DOTS, MAJORITY = ConsultationMethod.support, ConsultationMethod.dots, ConsultationMethod.majority


def voter(**kwargs):
    user = make_user(**kwargs)
    db.session.commit()
    return user


def states(proposals):
    db.session.expire_all()
    return [db.session.get(Proposal, p.id).state for p in proposals]


def stored(consultation, user):
    db.session.expire_all()
    return service.ballot_values(service.ballot_for(consultation, user))


# --- organisers ----------------------------------------------------------------------------------

def test_editor_and_facilitator_create_a_draft(app):
    org = make_organisation()
    for role in (Role.editor, Role.facilitator):
        consultation, _, _ = make_consultation(organisation=org, organiser=make_member(org, role), open_=False)
        assert consultation.state is ConsultationState.draft


def test_outsider_and_other_organisation_cannot_create(app):
    org = make_organisation()
    other_editor = make_member(make_organisation(), Role.editor)
    db.session.commit()
    now = utcnow()
    for actor in (make_user(), other_editor):
        with pytest.raises(NotAllowed):
            service.create_consultation(actor, org, title="T", opens_at=now, closes_at=now + timedelta(days=1),
                                        method=SUPPORT)


def test_closing_must_follow_opening(app):
    org = make_organisation()
    editor = make_member(org, Role.editor)
    db.session.commit()
    now = utcnow()
    with pytest.raises(InvalidInput) as err:
        service.create_consultation(editor, org, title="T", opens_at=now, closes_at=now, method=SUPPORT)
    assert err.value.code == "closes_before_opening"


def test_dots_need_a_budget_and_a_per_proposal_maximum_within_it(app):
    make_consultation(DOTS, open_=False)  # budget 5, max 3: accepted
    org = make_organisation()
    editor = make_member(org, Role.editor)
    db.session.commit()
    now = utcnow()
    for budget, per in ((None, 2), (5, None), (0, 1), (3, 4)):
        with pytest.raises(InvalidInput) as err:
            service.create_consultation(editor, org, title="T", opens_at=now, closes_at=now + timedelta(days=1),
                                        method=DOTS, dots_budget=budget, dots_max_per_proposal=per)
        assert err.value.code == "dots_settings"


@pytest.mark.both_databases()
def test_database_refuses_inconsistent_dot_settings(app):
    org = make_organisation()
    db.session.commit()
    now = utcnow()
    db.session.add(Consultation(organisation_id=org.id, title="T", opens_at=now, closes_at=now + timedelta(days=1),
                                method=DOTS, dots_budget=2, dots_max_per_proposal=3))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_add_published_proposals_of_the_organisation(app):
    consultation, organiser, proposals = make_consultation(open_=False)
    assert service.proposal_ids(consultation) == [p.id for p in proposals]


@pytest.mark.parametrize("state", [ProposalState.draft, ProposalState.awaiting_moderation, ProposalState.in_vote,
                                   ProposalState.merged, ProposalState.withdrawn])
def test_cannot_add_an_unpublished_proposal(app, state):
    consultation, organiser, proposals = make_consultation(open_=False)
    bad = make_proposal(consultation.organisation, state=state)
    db.session.commit()
    with pytest.raises(service.ProposalNotPublished):
        service.add_proposals(organiser, consultation, [bad.id])
    assert len(service.proposal_ids(consultation)) == len(proposals)


def test_cannot_add_a_proposal_of_another_organisation(app):
    consultation, organiser, _ = make_consultation(open_=False)
    foreign = make_proposal(make_organisation())
    db.session.commit()
    with pytest.raises(service.ProposalNotPublished):
        service.add_proposals(organiser, consultation, [foreign.id])


def test_cannot_add_a_missing_proposal_and_nothing_is_half_added(app):
    consultation, organiser, _ = make_consultation(n_proposals=0, open_=False)
    good = make_proposal(consultation.organisation)
    db.session.commit()
    with pytest.raises(NotFound):
        service.add_proposals(organiser, consultation, [good.id, 999_999])
    assert service.proposal_ids(consultation) == []


def test_cannot_add_proposals_once_open(app):
    consultation, organiser, _ = make_consultation()
    extra = make_proposal(consultation.organisation)
    db.session.commit()
    with pytest.raises(service.ConsultationLocked):
        service.add_proposals(organiser, consultation, [extra.id])


@pytest.mark.both_databases("app.consultations.service")
def test_opening_puts_proposals_in_vote(app):
    consultation, organiser, proposals = make_consultation(open_=False)
    assert states(proposals) == [ProposalState.published] * 3
    service.open_consultation(organiser, consultation)
    assert states(proposals) == [ProposalState.in_vote] * 3
    assert db.session.get(Consultation, consultation.id).state is ConsultationState.open


def test_opening_refused_when_a_proposal_left_published_meanwhile(app):
    consultation, organiser, proposals = make_consultation(open_=False)
    db.session.get(Proposal, proposals[0].id).state = ProposalState.merged
    db.session.commit()
    with pytest.raises(service.ProposalNotPublished):
        service.open_consultation(organiser, consultation)
    assert states(proposals) == [ProposalState.merged, ProposalState.published, ProposalState.published]
    assert db.session.get(Consultation, consultation.id).state is ConsultationState.draft


def test_opening_needs_two_proposals(app):
    consultation, organiser, _ = make_consultation(n_proposals=1, open_=False)
    with pytest.raises(service.NoProposals):
        service.open_consultation(organiser, consultation)


def test_opening_twice_refused(app):
    consultation, organiser, _ = make_consultation()
    with pytest.raises(service.NotDraft):
        service.open_consultation(organiser, consultation)


def test_draft_settings_change_freely(app):
    consultation, organiser, _ = make_consultation(open_=False)
    service.update_consultation(organiser, consultation, method=MAJORITY, title="Nouveau titre")
    consultation = db.session.get(Consultation, consultation.id)
    assert (consultation.method, consultation.title) == (MAJORITY, "Nouveau titre")


def test_open_consultation_method_cannot_change_but_its_title_can(app):
    consultation, organiser, _ = make_consultation()
    with pytest.raises(service.ConsultationLocked):
        service.update_consultation(organiser, consultation, method=MAJORITY)
    with pytest.raises(service.ConsultationLocked):
        service.update_consultation(organiser, consultation, selection_value=5)
    service.update_consultation(organiser, consultation, title="Titre corrigé")
    consultation = db.session.get(Consultation, consultation.id)
    assert (consultation.method, consultation.title, consultation.selection_value) == (SUPPORT, "Titre corrigé", 1)


def test_outsider_cannot_update_open_or_close(app):
    consultation, _, _ = make_consultation(open_=False)
    outsider = voter()
    with pytest.raises(NotAllowed):
        service.update_consultation(outsider, consultation, title="x")
    with pytest.raises(NotAllowed):
        service.open_consultation(outsider, consultation)
    with pytest.raises(NotAllowed):
        service.close_consultation(consultation.id, actor=outsider, force=True)


# --- ballots -------------------------------------------------------------------------------------

@pytest.mark.both_databases("app.consultations.service", "app.database")
def test_support_ballot_is_stored_and_replaced(app):
    consultation, _, (a, b, c) = make_consultation(SUPPORT)
    person = voter()
    service.cast_ballot(consultation, person, {a.id: 1, b.id: 1})
    assert stored(consultation, person) == {a.id: 1, b.id: 1}
    ballot = service.cast_ballot(consultation, person, {c.id: 1, a.id: 0})
    assert stored(consultation, person) == {c.id: 1}
    assert ballot.revision == 2
    assert db.session.scalar(select(func.count(Ballot.id))) == 1


def test_ballot_keeps_its_public_id_when_changed(app):
    consultation, _, (a, b, _c) = make_consultation(SUPPORT)
    person = voter()
    first = service.cast_ballot(consultation, person, {a.id: 1}).public_id
    second = service.cast_ballot(consultation, person, {b.id: 1}).public_id
    assert first == second and len(first) == 32


@pytest.mark.both_databases()
def test_one_ballot_per_person_is_a_database_constraint(app):
    consultation, _, (a, _b, _c) = make_consultation(SUPPORT)
    person = voter()
    service.cast_ballot(consultation, person, {a.id: 1})
    db.session.add(Ballot(consultation_id=consultation.id, user_id=person.id, public_id="x" * 32))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


@pytest.mark.both_databases()
def test_a_choice_for_a_proposal_outside_the_consultation_is_refused_by_the_database(app):
    consultation, _, (a, _b, _c) = make_consultation(SUPPORT)
    outside = make_proposal(consultation.organisation)
    person = voter()
    ballot = service.cast_ballot(consultation, person, {a.id: 1})
    db.session.add(BallotChoice(ballot_id=ballot.id, consultation_id=consultation.id, proposal_id=outside.id,
                                value=1))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_unverified_cannot_vote(app):
    consultation, _, (a, _b, _c) = make_consultation(SUPPORT)
    person = voter(verified=False)
    with pytest.raises(service.NotVerified):
        service.cast_ballot(consultation, person, {a.id: 1})
    assert db.session.scalar(select(func.count(Ballot.id))) == 0


def test_cannot_vote_before_opening(app):
    consultation, _, (a, _b, _c) = make_consultation(SUPPORT, opens_in=timedelta(hours=2))
    with pytest.raises(service.VotingNotOpen):
        service.cast_ballot(consultation, voter(), {a.id: 1})
    move(consultation, opens_in=timedelta(seconds=-1))
    service.cast_ballot(db.session.get(Consultation, consultation.id), voter(), {a.id: 1})


def test_cannot_vote_in_a_draft(app):
    consultation, _, (a, _b, _c) = make_consultation(SUPPORT, open_=False)
    with pytest.raises(service.VotingNotOpen):
        service.cast_ballot(consultation, voter(), {a.id: 1})


def test_cannot_vote_after_closing_time_even_before_the_job_ran(app):
    consultation, _, (a, _b, _c) = make_consultation(SUPPORT)
    person = voter()
    service.cast_ballot(consultation, person, {a.id: 1})
    move(consultation, closes_in=timedelta(seconds=-1))
    with pytest.raises(service.VotingClosed):
        service.cast_ballot(db.session.get(Consultation, consultation.id), person, {})
    assert stored(consultation, person) == {a.id: 1}


def test_cannot_vote_once_closed(app):
    consultation, organiser, (a, _b, _c) = make_consultation(SUPPORT)
    service.close_consultation(consultation.id, actor=organiser, force=True)
    with pytest.raises(service.VotingClosed):
        service.cast_ballot(db.session.get(Consultation, consultation.id), voter(), {a.id: 1})


def test_cannot_vote_for_a_proposal_not_in_the_consultation(app):
    consultation, _, (a, _b, _c) = make_consultation(SUPPORT)
    outside = make_proposal(consultation.organisation)
    person = voter()
    service.cast_ballot(consultation, person, {a.id: 1})
    with pytest.raises(service.UnknownProposal):
        service.cast_ballot(consultation, person, {a.id: 0, outside.id: 1})
    assert stored(consultation, person) == {a.id: 1}


def test_dots_within_budget_and_per_proposal_max(app):
    consultation, _, (a, b, c) = make_consultation(DOTS)  # budget 5, at most 3 each
    person = voter()
    service.cast_ballot(consultation, person, {a.id: 3, b.id: 2, c.id: 0})
    assert stored(consultation, person) == {a.id: 3, b.id: 2}


def test_dots_over_budget_refused_and_previous_ballot_kept(app):
    consultation, _, (a, b, c) = make_consultation(DOTS)
    person = voter()
    service.cast_ballot(consultation, person, {a.id: 1})
    with pytest.raises(service.OverBudget):
        service.cast_ballot(consultation, person, {a.id: 2, b.id: 2, c.id: 2})
    assert stored(consultation, person) == {a.id: 1}


def test_dots_more_than_k_on_one_proposal_refused(app):
    consultation, _, (a, _b, _c) = make_consultation(DOTS)
    with pytest.raises(service.OverPerProposalLimit):
        service.cast_ballot(consultation, voter(), {a.id: 4})
    assert db.session.scalar(select(func.count(Ballot.id))) == 0


def test_dots_negative_refused(app):
    consultation, _, (a, b, _c) = make_consultation(DOTS)
    with pytest.raises(InvalidInput) as err:
        service.cast_ballot(consultation, voter(), {a.id: -1, b.id: 3})
    assert err.value.code == "negative_points"


def test_support_value_other_than_0_or_1_refused(app):
    consultation, _, (a, _b, _c) = make_consultation(SUPPORT)
    with pytest.raises(InvalidInput):
        service.cast_ballot(consultation, voter(), {a.id: 2})


def test_majority_grades_stored_and_missing_ones_left_for_reject(app):
    consultation, _, (a, b, _c) = make_consultation(MAJORITY)
    person = voter()
    service.cast_ballot(consultation, person, {a.id: 6, b.id: 0})
    assert stored(consultation, person) == {a.id: 6, b.id: 0}


@pytest.mark.parametrize("grade", [-1, 7])
def test_majority_grade_out_of_range_refused(app, grade):
    consultation, _, (a, b, _c) = make_consultation(MAJORITY)
    person = voter()
    service.cast_ballot(consultation, person, {a.id: 3})
    with pytest.raises(service.InvalidGrade):
        service.cast_ballot(consultation, person, {a.id: 4, b.id: grade})
    assert stored(consultation, person) == {a.id: 3}


def test_withdraw_ballot_while_open_and_not_after(app):
    consultation, organiser, (a, _b, _c) = make_consultation(SUPPORT)
    person = voter()
    service.cast_ballot(consultation, person, {a.id: 1})
    assert service.withdraw_ballot(consultation, person) is True
    assert service.ballot_for(consultation, person) is None
    service.cast_ballot(consultation, person, {a.id: 1})
    service.close_consultation(consultation.id, actor=organiser, force=True)
    with pytest.raises(service.VotingClosed):
        service.withdraw_ballot(db.session.get(Consultation, consultation.id), person)


# --- closing -------------------------------------------------------------------------------------

def test_closing_stores_results_selects_and_returns_others_to_published(app):
    consultation, organiser, (a, b, c) = make_consultation(SUPPORT, selection_value=1)
    people = [voter() for _ in range(3)]
    service.cast_ballot(consultation, people[0], {a.id: 1, b.id: 1})
    service.cast_ballot(consultation, people[1], {a.id: 1})
    service.cast_ballot(consultation, people[2], {})
    received = []

    def on_closed(sender, selected_ids):
        received.append((sender.id, selected_ids, db.session.get(Consultation, sender.id).state))

    with signals.consultation_closed.connected_to(on_closed):
        move(consultation, closes_in=timedelta(seconds=-1))
        assert service.close_due() == 1
    closed = db.session.get(Consultation, consultation.id)
    assert closed.state is ConsultationState.closed and closed.ballots_cast == 3
    items = {i.proposal_id: i for i in closed.items}
    assert [(items[p.id].rank, items[p.id].score, items[p.id].selected) for p in (a, b, c)] == [
        (1, 2, True), (2, 1, False), (3, 0, False)]
    assert states([a, b, c]) == [ProposalState.selected, ProposalState.published, ProposalState.published]
    assert received == [(consultation.id, [a.id], ConsultationState.closed)]


def test_closing_tells_authors_and_followers_whether_their_proposal_was_selected(app):
    from app.notifications.models import Notification
    from app.proposals import service as proposals

    consultation, organiser, (a, b, c) = make_consultation(SUPPORT, selection_value=1)
    follower = voter()
    proposals.follow(db.session.get(Proposal, b.id), follower)
    service.cast_ballot(consultation, voter(), {a.id: 1})
    service.close_consultation(consultation.id, actor=organiser, force=True)
    rows = db.session.execute(select(Notification.user_id, Notification.kind, Notification.url)).all()
    assert sorted(rows) == sorted([
        (a.author_id, "proposal_selected", f"/propositions/{a.id}"),
        (b.author_id, "proposal_not_selected", f"/propositions/{b.id}"),
        (follower.id, "proposal_not_selected", f"/propositions/{b.id}"),
        (c.author_id, "proposal_not_selected", f"/propositions/{c.id}"),
    ])


def test_a_consultation_closed_by_nobody_tells_nobody(app):
    """The refusal twin: a closing that does not happen (not yet due) writes no notification."""
    from app.notifications.models import Notification

    consultation, _, _ = make_consultation(SUPPORT)
    assert service.close_due() == 0
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 0


def test_closing_job_is_idempotent(app):
    consultation, _, (a, _b, _c) = make_consultation(SUPPORT)
    service.cast_ballot(consultation, voter(), {a.id: 1})
    move(consultation, closes_in=timedelta(seconds=-1))
    assert service.close_due() == 1
    assert service.close_due() == 0
    assert service.close_consultation(consultation.id) is None
    assert db.session.get(Consultation, consultation.id).ballots_cast == 1


def test_closing_job_leaves_running_consultations_alone(app):
    consultation, _, _ = make_consultation(SUPPORT)
    assert service.close_due() == 0
    assert service.close_consultation(consultation.id) is None
    assert db.session.get(Consultation, consultation.id).state is ConsultationState.open


@pytest.mark.both_databases("app.jobs", "app.consultations.service")
def test_periodic_jobs_close_due_consultations(app):
    consultation, _, _ = make_consultation(SUPPORT)
    move(consultation, closes_in=timedelta(seconds=-1))
    assert run_once(app)["consultations_close"] == 1
    db.session.expire_all()
    assert db.session.get(Consultation, consultation.id).is_closed


def test_organiser_closes_early_and_cannot_close_before_opening(app):
    consultation, organiser, _ = make_consultation(SUPPORT, opens_in=timedelta(hours=1))
    with pytest.raises(service.VotingNotOpen):
        service.close_consultation(consultation.id, actor=organiser, force=True)
    move(consultation, opens_in=timedelta(seconds=-5))
    closed = service.close_consultation(consultation.id, actor=organiser, force=True)
    assert closed.is_closed and closed.closes_at <= utcnow()


@pytest.mark.both_databases("app.consultations.service")
def test_majority_closing_stores_merit_profiles_and_ties_all_selected(app):
    consultation, _, (a, b, c) = make_consultation(MAJORITY, selection_rule=SelectionRule.top_k, selection_value=1)
    # a and b have equal profiles (ex aequo first, both selected); c ungraded by one voter = « À rejeter ».
    service.cast_ballot(consultation, voter(), {a.id: 6, b.id: 4, c.id: 5})
    service.cast_ballot(consultation, voter(), {a.id: 4, b.id: 6})
    move(consultation, closes_in=timedelta(seconds=-1))
    service.close_due()
    items = {i.proposal_id: i for i in db.session.get(Consultation, consultation.id).items}
    assert (items[a.id].rank, items[b.id].rank, items[c.id].rank) == (1, 1, 3)
    assert items[a.id].profile == [0, 0, 0, 0, 1, 0, 1]
    assert items[c.id].profile == [1, 0, 0, 0, 0, 1, 0] and items[c.id].score == 0
    assert states([a, b, c]) == [ProposalState.selected, ProposalState.selected, ProposalState.published]


def test_closed_results_equal_a_recount_of_the_anonymised_ballots(app):
    consultation, _, (a, b, c) = make_consultation(DOTS, selection_rule=SelectionRule.threshold, selection_value=4)
    for choices in ({a.id: 3, b.id: 2}, {a.id: 1, c.id: 3}, {b.id: 3}):
        service.cast_ballot(consultation, voter(), choices)
    move(consultation, closes_in=timedelta(seconds=-1))
    service.close_due()
    ballots = [choices for _, choices in service.stored_ballots(consultation.id)]
    recount = results.compute("dots", [a.id, b.id, c.id], ballots, "threshold", 4)
    items = {i.proposal_id: i for i in db.session.get(Consultation, consultation.id).items}
    assert {pid: (r.rank, r.score, r.selected) for pid, r in recount.by_proposal().items()} == {
        pid: (i.rank, i.score, i.selected) for pid, i in items.items()}
    assert recount.selected_ids == [b.id, a.id]  # b has 5 points, a 4: both reach the threshold of 4


def test_zero_ballots_close_cleanly_and_select_nothing(app):
    consultation, _, proposals = make_consultation(MAJORITY)
    move(consultation, closes_in=timedelta(seconds=-1))
    assert service.close_due() == 1
    closed = db.session.get(Consultation, consultation.id)
    assert closed.ballots_cast == 0 and all(i.rank == 1 and not i.selected for i in closed.items)
    assert states(proposals) == [ProposalState.published] * 3


def test_cannot_edit_a_closed_consultation(app):
    consultation, organiser, _ = make_consultation(SUPPORT)
    service.close_consultation(consultation.id, actor=organiser, force=True)
    with pytest.raises(service.VotingClosed):
        service.update_consultation(organiser, db.session.get(Consultation, consultation.id), title="x")


def test_removing_a_proposal_only_while_draft(app):
    consultation, organiser, (a, _b, _c) = make_consultation(open_=False)
    service.remove_proposal(organiser, consultation, a.id)
    assert a.id not in service.proposal_ids(consultation)
    service.open_consultation(organiser, consultation)
    with pytest.raises(service.ConsultationLocked):
        service.remove_proposal(organiser, consultation, service.proposal_ids(consultation)[0])
    assert db.session.scalar(select(func.count()).select_from(ConsultationProposal)) == 2


# --- a proposal hidden by the moderators during the vote -----------------------------------------

def hide(proposal, organisation):
    from app.proposals import moderation

    editor = make_member(organisation, Role.editor)
    db.session.commit()
    moderation.hide_proposal(db.session.get(Proposal, proposal.id), editor, "Propos injurieux")


def test_a_proposal_hidden_during_the_vote_is_withdrawn_not_counted_nor_selected(app):
    consultation, organiser, (a, b, c) = make_consultation(MAJORITY, selection_value=1)
    early = voter()
    service.cast_ballot(consultation, early, {a.id: 1, b.id: 6, c.id: 2})
    hide(b, consultation.organisation)
    assert service.proposal_ids(consultation, votable=True) == [a.id, c.id]
    assert [item.proposal_id for item in db.session.get(Consultation, consultation.id).votable_items] == [a.id, c.id]
    # The early ballot is counted without its grade for the withdrawn proposal; a stale form's grade is dropped.
    late = voter()
    service.cast_ballot(consultation, late, {a.id: 1, b.id: 6, c.id: 3})
    assert stored(consultation, late) == {a.id: 1, c.id: 3}
    counted = sorted(sorted(choices.items()) for _, choices in service.stored_ballots(consultation.id))
    assert counted == [[(a.id, 1), (c.id, 2)], [(a.id, 1), (c.id, 3)]]
    service.close_consultation(consultation.id, actor=organiser, force=True)
    closed = db.session.get(Consultation, consultation.id)
    items = {i.proposal_id: i for i in closed.items}
    assert (items[b.id].rank, items[b.id].selected, items[b.id].profile) == (None, False, None)
    assert items[c.id].selected and items[c.id].rank == 1 and items[a.id].rank == 2
    assert states([a, b, c]) == [ProposalState.published, ProposalState.published, ProposalState.selected]


def test_the_withdrawn_proposal_author_is_not_told_it_was_not_selected(app):
    from app.notifications.models import Notification

    consultation, organiser, (a, b, _c) = make_consultation(SUPPORT, selection_value=1)
    hide(b, consultation.organisation)
    service.cast_ballot(consultation, voter(), {a.id: 1})
    service.close_consultation(consultation.id, actor=organiser, force=True)
    kinds = set(db.session.execute(select(Notification.kind).where(Notification.user_id == b.author_id)).scalars())
    assert kinds == {"proposal_hidden"}


def test_a_proposal_hidden_after_closing_keeps_its_published_result(app):
    consultation, organiser, (a, b, _c) = make_consultation(SUPPORT, selection_value=1)
    service.cast_ballot(consultation, voter(), {a.id: 1, b.id: 1})
    service.cast_ballot(consultation, voter(), {a.id: 1})
    service.close_consultation(consultation.id, actor=organiser, force=True)
    hide(a, consultation.organisation)
    closed = db.session.get(Consultation, consultation.id)
    assert not any(item.withdrawn for item in closed.items)
    # The published ballots still recompute the published result.
    assert sorted(len(choices) for _, choices in service.stored_ballots(consultation.id)) == [1, 2]
    assert service.tally(closed).by_proposal()[a.id].rank == 1


def test_live_counts_are_recounted_only_when_ballots_or_the_ballot_change(app):
    consultation, _, (a, b, _c) = make_consultation(SUPPORT)
    first, second = voter(), voter()
    service.cast_ballot(consultation, first, {a.id: 1})

    def live():
        with recorded_statements() as statements:
            rows = service.live_tally(consultation).by_proposal()
        return rows[a.id].score, rows[b.id].score, any("ballot_choices" in s for s in statements)

    assert live() == (1, 0, True)
    assert live() == (1, 0, False)  # nothing changed: no recount
    service.cast_ballot(consultation, second, {b.id: 1})
    assert live() == (1, 1, True)
    service.cast_ballot(consultation, first, {b.id: 1})  # a changed ballot
    assert live() == (0, 2, True)
    service.withdraw_ballot(consultation, second)
    assert live() == (0, 1, True)
    hide(a, consultation.organisation)
    assert a.id not in service.live_tally(consultation).by_proposal()
