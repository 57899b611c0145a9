"""Proposal rules, each with its refusal twin, on SQLite and PostgreSQL."""

import pytest
from sqlalchemy import func, select, update

from app.clock import utcnow
from app.errors import InvalidInput, NotAllowed, NotFound
from app.extensions import db
from app.notifications.models import Notification
from app.proposals import errors, merging, moderation, service, settings
from app.proposals.models import (
    Comment,
    Follow,
    ModerationMode,
    Proposal,
    ProposalModerationEntry,
    ProposalOrigin,
    ProposalState,
    Support,
)
from tests.factories import make_organisation, make_service, make_user
from tests.proposals.helpers import World, make_idea, propose


@pytest.fixture
def world(app):
    return World()


def fresh(proposal) -> Proposal:
    return db.session.get(Proposal, proposal.id, populate_existing=True)


def complete(draft, facilitator):
    """What a facilitator does with a promoted draft before sending it: write the proposed change."""
    service.edit_proposal(fresh(draft), facilitator, title=draft.title, problem=draft.problem,
                          change="Une seule déclaration pour toutes les administrations.")
    return fresh(draft)


def supporters(proposal) -> int:
    return db.session.scalar(select(func.count()).select_from(Support).where(Support.proposal_id == proposal.id))


def set_state(proposal, state):
    db.session.execute(update(Proposal).where(Proposal.id == proposal.id).values(state=state))
    db.session.commit()


# --- create --------------------------------------------------------------------------------------

def test_verified_citizen_submits_a_published_proposal_of_the_service_organisation(world):
    proposal = propose(world.citizen, world)
    assert proposal.state is ProposalState.published and proposal.is_public
    assert proposal.organisation_id == world.organisation.id and proposal.published_at is not None
    assert service.is_following(proposal, world.citizen)


def test_unverified_person_cannot_submit(world):
    with pytest.raises(errors.NotVerified):
        propose(world.unverified, world)
    assert db.session.scalar(select(func.count()).select_from(Proposal)) == 0


def test_honeypot_filled_is_refused(world):
    with pytest.raises(errors.SpamSuspected):
        propose(world.citizen, world, honeypot="http://spam.example")
    assert db.session.scalar(select(func.count()).select_from(Proposal)) == 0


def test_empty_title_is_refused(world):
    with pytest.raises(InvalidInput):
        propose(world.citizen, world, title="   ")


@pytest.mark.both_databases("app.proposals.settings")
def test_moderation_before_publication_keeps_it_awaiting(world):
    settings.update_settings(world.organisation, world.editor, ModerationMode.before)
    proposal = propose(world.citizen, world)
    assert proposal.state is ProposalState.awaiting_moderation and not proposal.is_public
    moderation.approve_proposal(proposal, world.editor)
    assert fresh(proposal).state is ProposalState.published


def test_citizen_cannot_approve_or_change_settings(world):
    settings.update_settings(world.organisation, world.editor, ModerationMode.before)
    proposal = propose(world.citizen, world)
    with pytest.raises(NotAllowed):
        moderation.approve_proposal(proposal, world.citizen)
    with pytest.raises(NotAllowed):
        settings.update_settings(world.organisation, world.citizen, ModerationMode.after)
    assert fresh(proposal).state is ProposalState.awaiting_moderation


def test_editor_of_another_organisation_cannot_approve(world):
    from app.catalog.models import Role
    from tests.factories import make_member

    settings.update_settings(world.organisation, world.editor, ModerationMode.before)
    proposal = propose(world.citizen, world)
    outsider = make_member(make_organisation(), Role.editor)
    db.session.commit()
    with pytest.raises(NotAllowed):
        moderation.approve_proposal(proposal, outsider)


def test_life_event_only_needs_an_admin_assigned_organisation(world):
    proposal = propose(world.admin, world, service_id=None, life_event_id=world.life_event.id,
                       organisation_id=world.organisation.id)
    assert proposal.organisation_id == world.organisation.id and proposal.service_id is None


def test_citizen_cannot_choose_the_organisation_of_a_life_event_proposal(world):
    with pytest.raises(errors.OrganisationRequired):
        propose(world.citizen, world, service_id=None, life_event_id=world.life_event.id,
                organisation_id=world.organisation.id)


def test_no_service_nor_life_event_is_refused(world):
    with pytest.raises(errors.SubjectRequired):
        propose(world.citizen, world, service_id=None)


def test_state_labels_per_organisation(world):
    settings.update_settings(world.organisation, world.editor, ModerationMode.after,
                             labels={"selected": ("Retenue", "Kept")})
    labels = settings.state_labels([world.organisation.id])
    assert labels[(world.organisation.id, ProposalState.selected)].label_fr == "Retenue"
    assert (world.organisation.id, ProposalState.published) not in labels


# --- edit and versions ---------------------------------------------------------------------------

def test_edit_without_supporters_keeps_no_version(world):
    proposal = propose(world.citizen, world)
    service.edit_proposal(proposal, world.citizen, title="Nouveau titre", problem="p", change="c")
    assert fresh(proposal).title == "Nouveau titre" and service.list_versions(proposal) == []


def test_edit_with_supporters_keeps_the_replaced_text(world):
    proposal = propose(world.citizen, world)
    service.support(proposal, world.other)
    old_title = fresh(proposal).title
    service.edit_proposal(proposal, world.citizen, title="Titre modifié", problem="p2", change="c2")
    versions = service.list_versions(proposal)
    assert [(v.number, v.title, v.support_count) for v in versions] == [(1, old_title, 1)]
    assert fresh(proposal).version == 2
    # The supporter is told the text they support changed.
    assert db.session.scalar(select(Notification.kind).where(Notification.user_id == world.other.id)) \
        == "proposal_edited"


def test_cannot_edit_someone_elses_proposal(world):
    proposal = propose(world.citizen, world)
    with pytest.raises(NotAllowed):
        service.edit_proposal(proposal, world.other, title="Piraté", problem="p", change="c")
    assert fresh(proposal).title != "Piraté"


def test_cannot_edit_in_vote(world):
    proposal = propose(world.citizen, world)
    set_state(proposal, ProposalState.in_vote)
    with pytest.raises(NotAllowed):
        service.edit_proposal(proposal, world.citizen, title="Changé", problem="p", change="c")


# --- withdraw ------------------------------------------------------------------------------------

def test_author_withdraws(world):
    proposal = propose(world.citizen, world)
    service.withdraw_proposal(proposal, world.citizen)
    assert fresh(proposal).state is ProposalState.withdrawn


def test_only_the_author_withdraws(world):
    proposal = propose(world.citizen, world)
    with pytest.raises(NotAllowed):
        service.withdraw_proposal(proposal, world.editor)
    assert fresh(proposal).state is ProposalState.published


def test_cannot_withdraw_in_vote(world):
    proposal = propose(world.citizen, world)
    set_state(proposal, ProposalState.in_vote)
    with pytest.raises(errors.InVote):
        service.withdraw_proposal(proposal, world.citizen)
    assert fresh(proposal).state is ProposalState.in_vote


# --- supports ------------------------------------------------------------------------------------

@pytest.mark.both_databases("app.proposals.service")
def test_support_then_unsupport(world):
    proposal = propose(world.citizen, world)
    assert service.support(proposal, world.other) == 1
    assert service.has_supported(proposal, world.other)
    assert service.unsupport(proposal, world.other) == 0
    assert supporters(proposal) == 0


@pytest.mark.both_databases("app.proposals.service")
def test_cannot_support_twice(world):
    proposal = propose(world.citizen, world)
    service.support(proposal, world.other)
    with pytest.raises(errors.AlreadySupported):
        service.support(proposal, world.other)
    assert fresh(proposal).support_count == 1 == supporters(proposal)


def test_cannot_unsupport_without_support(world):
    proposal = propose(world.citizen, world)
    with pytest.raises(errors.NotSupported):
        service.unsupport(proposal, world.other)
    assert fresh(proposal).support_count == 0


def test_unverified_cannot_support(world):
    proposal = propose(world.citizen, world)
    with pytest.raises(errors.NotVerified):
        service.support(proposal, world.unverified)
    assert supporters(proposal) == 0


def test_cannot_support_a_withdrawn_proposal(world):
    proposal = propose(world.citizen, world)
    service.withdraw_proposal(proposal, world.citizen)
    with pytest.raises(errors.SupportClosed):
        service.support(proposal, world.other)
    assert fresh(proposal).support_count == 0


def test_support_during_a_vote_is_allowed(world):
    proposal = propose(world.citizen, world)
    set_state(proposal, ProposalState.in_vote)
    assert service.support(proposal, world.other) == 1


# --- follows -------------------------------------------------------------------------------------

@pytest.mark.both_databases("app.proposals.service")
def test_follow_once_then_unfollow(world):
    proposal = propose(world.citizen, world)
    assert service.follow(proposal, world.other) is True
    assert service.follow(proposal, world.other) is False
    assert fresh(proposal).follower_count == 2  # author + other
    assert service.unfollow(proposal, world.other) is True
    assert service.unfollow(proposal, world.other) is False
    assert fresh(proposal).follower_count == 1


def test_cannot_follow_a_draft_of_someone_else(world):
    proposal = propose(world.citizen, world, submit=False)
    with pytest.raises(NotFound):
        service.follow(proposal, world.other)


# --- promotion -----------------------------------------------------------------------------------

def test_facilitator_promotes_an_idea_to_a_draft_keeping_its_origin(world):
    _board, idea, _ = make_idea(world)
    proposal = service.promote(world.facilitator, idea_id=idea.id)
    assert proposal.state is ProposalState.draft and proposal.title == idea.text
    assert [(o.kind.value, o.idea_id) for o in service.origins_of(proposal)] == [("idea", idea.id)]
    assert [p.id for p in service.proposals_from_idea(idea)] == [proposal.id]
    service.submit_proposal(complete(proposal, world.facilitator), world.facilitator)
    assert fresh(proposal).is_public


def test_facilitator_promotes_a_cluster(world):
    _board, idea, cluster = make_idea(world, cluster_name="Adresse unique")
    proposal = service.promote(world.facilitator, cluster_id=cluster.id)
    assert proposal.title == "Adresse unique" and idea.text in proposal.problem
    assert [p.id for p in service.proposals_from_idea(idea)] == [proposal.id]


def test_citizen_cannot_promote_an_idea(world):
    _board, idea, _ = make_idea(world)
    with pytest.raises(NotAllowed):
        service.promote(world.citizen, idea_id=idea.id)
    assert db.session.scalar(select(func.count()).select_from(ProposalOrigin)) == 0


def test_facilitator_of_another_organisation_cannot_promote(world):
    from app.catalog.models import Role
    from tests.factories import make_member

    _board, idea, _ = make_idea(world)
    outsider = make_member(make_organisation(), Role.facilitator)
    db.session.commit()
    with pytest.raises(NotAllowed):
        service.promote(outsider, idea_id=idea.id)


@pytest.mark.both_databases("app.proposals.service")
def test_an_idea_is_promoted_once(world):
    _board, idea, _ = make_idea(world)
    service.promote(world.facilitator, idea_id=idea.id)
    with pytest.raises(errors.AlreadyPromoted):
        service.promote(world.facilitator, idea_id=idea.id)


def test_idea_page_visibility_follows_the_proposal(world):
    _board, idea, _ = make_idea(world)
    assert not service.can_see_idea(idea, world.other)
    assert service.can_see_idea(idea, world.facilitator)
    proposal = service.promote(world.facilitator, idea_id=idea.id)
    assert not service.can_see_idea(idea, world.other)  # a draft is not public yet
    service.submit_proposal(complete(proposal, world.facilitator), world.facilitator)
    assert service.can_see_idea(idea, world.other)


# --- merge ---------------------------------------------------------------------------------------

@pytest.mark.both_databases("app.proposals.merging")
def test_merge_carries_supporters_followers_and_origins_without_double_counting(world):
    a = propose(world.citizen, world, title="Adresse unique A")
    _board, idea, _ = make_idea(world)
    b = complete(service.promote(world.facilitator, idea_id=idea.id), world.facilitator)
    service.submit_proposal(b, world.facilitator)
    both, only_b = make_user(), make_user()
    db.session.commit()
    for user in (both, world.other):
        service.support(a, user)
    for user in (both, only_b):
        service.support(b, user)
    service.follow(b, only_b)
    merging.merge_proposals(b, a, world.editor)
    a, b = fresh(a), fresh(b)
    assert b.state is ProposalState.merged and b.merged_into_id == a.id
    assert a.support_count == 3 == supporters(a)
    assert service.is_following(a, only_b)
    assert [o.idea_id for o in service.origins_of(a)] == [idea.id]
    assert db.session.scalar(select(ProposalModerationEntry.action).where(
        ProposalModerationEntry.proposal_id == b.id)) == "merge"
    assert merging.merged_from(a) == [b]
    assert supporters(b) == 2  # the trail is kept


def test_merge_into_itself_is_refused(world):
    a = propose(world.citizen, world)
    with pytest.raises(errors.MergeIntoItself):
        merging.merge_proposals(a, a, world.editor)


def test_merge_into_a_merged_proposal_is_refused(world):
    a, b, c = (propose(world.citizen, world, title=t) for t in ("A", "B", "C"))
    merging.merge_proposals(b, a, world.editor)
    with pytest.raises(errors.MergeIntoMerged):
        merging.merge_proposals(c, fresh(b), world.editor)
    assert fresh(c).state is ProposalState.published


def test_merge_across_organisations_only_by_admin(world):
    a = propose(world.citizen, world, title="A")
    other_service = make_service(make_organisation())
    db.session.commit()
    b = propose(world.citizen, world, title="B", service_id=other_service.id)
    with pytest.raises(NotAllowed):
        merging.merge_proposals(b, a, world.editor)
    assert fresh(b).state is ProposalState.published
    merging.merge_proposals(b, a, world.admin)
    assert fresh(b).state is ProposalState.merged


def test_merge_while_in_vote_is_refused(world):
    a, b = propose(world.citizen, world, title="A"), propose(world.citizen, world, title="B")
    set_state(b, ProposalState.in_vote)
    with pytest.raises(errors.InVote):
        merging.merge_proposals(b, a, world.editor)
    assert fresh(b).state is ProposalState.in_vote


def test_citizen_cannot_merge(world):
    a, b = propose(world.citizen, world, title="A"), propose(world.citizen, world, title="B")
    with pytest.raises(NotAllowed):
        merging.merge_proposals(b, a, world.citizen)


# --- discussion and moderation -------------------------------------------------------------------

def test_comment_and_reply_with_official_marking(world):
    proposal = propose(world.citizen, world)
    comment = service.add_comment(proposal, world.other, "Bonne idée")
    reply = service.add_comment(proposal, world.editor, "Nous étudions cela.", parent_id=comment.id)
    assert not comment.is_official and reply.is_official
    [(top, replies)] = service.list_comments(proposal)
    assert top.id == comment.id and [r.id for r in replies] == [reply.id]
    assert fresh(proposal).comment_count == 2


def test_reply_to_a_reply_is_refused(world):
    proposal = propose(world.citizen, world)
    comment = service.add_comment(proposal, world.other, "Un")
    reply = service.add_comment(proposal, world.citizen, "Deux", parent_id=comment.id)
    with pytest.raises(errors.ReplyToReply):
        service.add_comment(proposal, world.other, "Trois", parent_id=reply.id)


def test_reply_to_a_hidden_comment_is_refused(world):
    proposal = propose(world.citizen, world)
    comment = service.add_comment(proposal, world.other, "Insulte")
    moderation.hide_comment(comment, world.editor, "Propos injurieux")
    with pytest.raises(errors.CommentHidden):
        service.add_comment(proposal, world.citizen, "Réponse", parent_id=comment.id)


def test_comment_honeypot_and_unverified_are_refused(world):
    proposal = propose(world.citizen, world)
    with pytest.raises(errors.SpamSuspected):
        service.add_comment(proposal, world.other, "Achetez", honeypot="x")
    with pytest.raises(errors.NotVerified):
        service.add_comment(proposal, world.unverified, "Bonjour")
    assert db.session.scalar(select(func.count()).select_from(Comment)) == 0


def test_hide_comment_with_public_reason_and_log(world):
    proposal = propose(world.citizen, world)
    comment = service.add_comment(proposal, world.other, "Insulte")
    moderation.report(proposal, world.citizen, "insultant", comment_id=comment.id)
    moderation.hide_comment(comment, world.editor, "Propos injurieux")
    comment = db.session.get(Comment, comment.id, populate_existing=True)
    assert comment.is_hidden and comment.hidden_reason == "Propos injurieux"
    assert [e.action for e in moderation.moderation_log(world.admin)] == ["hide_comment"]
    assert moderation.open_reports(world.admin) == []


def test_citizen_cannot_hide_and_reason_is_required(world):
    proposal = propose(world.citizen, world)
    comment = service.add_comment(proposal, world.other, "Texte")
    with pytest.raises(NotAllowed):
        moderation.hide_comment(comment, world.citizen, "Raison")
    with pytest.raises(errors.ReasonRequired):
        moderation.hide_proposal(proposal, world.editor, "  ")
    assert not fresh(proposal).is_hidden


def test_hidden_proposal_takes_no_comment_nor_support(world):
    proposal = propose(world.citizen, world)
    moderation.hide_proposal(proposal, world.editor, "Hors sujet")
    with pytest.raises(errors.ProposalHidden):
        service.add_comment(fresh(proposal), world.other, "Bonjour")
    with pytest.raises(errors.SupportClosed):
        service.support(proposal, world.other)


def test_the_moderation_log_is_read_by_the_organisations_editors_and_admins_only(world):
    from app.catalog.models import Role
    from tests.factories import make_member

    proposal = propose(world.citizen, world)
    moderation.hide_proposal(proposal, world.editor, "Hors sujet")
    elsewhere = make_organisation()
    other_editor = make_member(elsewhere, Role.editor)
    db.session.commit()
    assert [e.reason for e in moderation.moderation_log(world.editor)] == ["Hors sujet"]
    assert [e.reason for e in moderation.moderation_log(world.admin)] == ["Hors sujet"]
    assert moderation.moderation_log(other_editor) == []
    assert moderation.moderation_log(world.facilitator) == [] and moderation.moderation_log(world.citizen) == []


def test_report_needs_an_account(world):
    from flask_login import AnonymousUserMixin

    proposal = propose(world.citizen, world)
    with pytest.raises(NotAllowed):
        moderation.report(proposal, AnonymousUserMixin(), "spam")
    assert moderation.report(proposal, world.other, "spam").id


@pytest.mark.both_databases("app.proposals.moderation", "app.proposals.models")
def test_one_open_report_per_person_per_proposal_and_per_comment(world):
    from app.proposals.models import Report

    proposal = propose(world.citizen, world)
    comment = service.add_comment(proposal, world.other, "Un commentaire")
    moderation.report(proposal, world.other, "spam")
    with pytest.raises(errors.AlreadyReported):
        moderation.report(proposal, world.other, "encore")
    moderation.report(proposal, world.other, "insultant", comment_id=comment.id)  # the comment is another subject
    with pytest.raises(errors.AlreadyReported):
        moderation.report(proposal, world.other, "encore", comment_id=comment.id)
    moderation.report(proposal, world.admin, "spam")  # someone else may report it too
    assert db.session.scalar(select(func.count()).select_from(Report)) == 3
    # Once the moderators dealt with it (hidden: reports resolved), a new report is possible again.
    db.session.execute(update(Report).values(resolved_at=utcnow()))
    db.session.commit()
    assert moderation.report(proposal, world.other, "de nouveau").id


# --- notifications from proposals ----------------------------------------------------------------

def test_comment_notifies_author_and_followers_but_not_the_actor(world):
    proposal = propose(world.citizen, world)
    service.follow(proposal, world.other)
    service.follow(proposal, world.facilitator)
    service.add_comment(proposal, world.other, "Bonne idée")
    rows = db.session.execute(select(Notification.user_id, Notification.kind)).all()
    assert sorted(rows) == sorted([(world.citizen.id, "proposal_commented"),
                                   (world.facilitator.id, "proposal_commented")])


@pytest.mark.both_databases()
def test_follow_row_is_unique(world):
    proposal = propose(world.citizen, world)
    db.session.add(Follow(proposal_id=proposal.id, user_id=world.citizen.id))
    with pytest.raises(Exception, match="(?i)unique"):
        db.session.commit()
    db.session.rollback()


# --- moderation holes found in review ------------------------------------------------------------------

def test_a_hidden_proposal_cannot_be_edited_by_its_author(world):
    proposal = propose(world.citizen, world)
    moderation.hide_proposal(proposal, world.editor, "Propos injurieux")
    with pytest.raises(NotAllowed):
        service.edit_proposal(fresh(proposal), world.citizen, title="Autre titre", problem="p", change="c")
    assert fresh(proposal).title == "Un seul formulaire pour changer d'adresse"


def test_a_visible_proposal_can_still_be_edited_by_its_author(world):
    """The twin: hiding, not editing, is what stops the author."""
    proposal = propose(world.citizen, world)
    service.edit_proposal(proposal, world.citizen, title="Autre titre", problem="p", change="c")
    assert fresh(proposal).title == "Autre titre"


def test_where_moderation_comes_first_an_edited_text_is_read_again(world):
    settings.update_settings(world.organisation, world.editor, ModerationMode.before)
    proposal = propose(world.citizen, world)
    moderation.approve_proposal(proposal, world.editor)
    first_published = fresh(proposal).published_at
    service.edit_proposal(fresh(proposal), world.citizen, title="SPAM achetez", problem="p", change="c")
    assert fresh(proposal).state is ProposalState.awaiting_moderation and not fresh(proposal).is_public
    moderation.approve_proposal(fresh(proposal), world.editor)
    assert fresh(proposal).state is ProposalState.published and fresh(proposal).published_at == first_published


def test_where_moderation_comes_after_an_edited_text_stays_published(world):
    proposal = propose(world.citizen, world)
    service.edit_proposal(proposal, world.citizen, title="Autre titre", problem="p", change="c")
    assert fresh(proposal).state is ProposalState.published


def test_a_hidden_proposal_awaiting_moderation_is_refused_not_approved(world):
    from app.proposals.errors import WrongState

    settings.update_settings(world.organisation, world.editor, ModerationMode.before)
    proposal = propose(world.citizen, world)
    moderation.hide_proposal(proposal, world.editor, "Publicité")
    assert moderation.list_awaiting(world.editor) == []
    with pytest.raises(WrongState):
        moderation.approve_proposal(fresh(proposal), world.editor)
    assert fresh(proposal).state is ProposalState.awaiting_moderation


def test_a_promoted_draft_without_a_proposed_change_cannot_be_sent(world):
    board, idea, _ = make_idea(world)
    draft = service.promote(world.facilitator, idea_id=idea.id)
    db.session.execute(update(Proposal).where(Proposal.id == draft.id).values(change=""))
    db.session.commit()
    with pytest.raises(InvalidInput):
        service.submit_proposal(fresh(draft), world.facilitator)
    assert fresh(draft).state is ProposalState.draft


def test_a_complete_promoted_draft_is_sent(world):
    board, idea, _ = make_idea(world)
    draft = service.promote(world.facilitator, idea_id=idea.id)
    service.edit_proposal(fresh(draft), world.facilitator, title="Titre", problem="Problème", change="Changement")
    service.submit_proposal(fresh(draft), world.facilitator)
    assert fresh(draft).state is ProposalState.published


def test_an_idea_is_not_made_public_by_a_hidden_proposal(world):
    _board, idea, _ = make_idea(world)
    proposal = service.promote(world.facilitator, idea_id=idea.id)
    service.submit_proposal(complete(proposal, world.facilitator), world.facilitator)
    assert service.can_see_idea(idea, world.other)  # the twin: public while the proposal is visible
    moderation.hide_proposal(fresh(proposal), world.editor, "Propos injurieux")
    assert not service.can_see_idea(idea, world.other)
    assert service.can_see_idea(idea, world.facilitator)
