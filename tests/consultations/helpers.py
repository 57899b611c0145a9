"""Building consultations for tests: published proposals, then a consultation through the service."""

from datetime import timedelta

from sqlalchemy import update

from app.catalog.models import Role
from app.clock import utcnow
from app.consultations import service
from app.consultations.models import Consultation, ConsultationMethod, SelectionRule
from app.extensions import db
from app.proposals.models import Proposal, ProposalState
from tests.factories import make_member, make_organisation, make_user


def make_proposal(organisation, state=ProposalState.published, title=None, author=None) -> Proposal:
    """A proposal row as P's area leaves it (the consultation only needs its organisation and state)."""
    author = author or make_user()
    proposal = Proposal(organisation_id=organisation.id, title=title or "Simplifier le déménagement",
                        problem="Il faut déclarer son adresse cinq fois.", change="Une seule déclaration.",
                        benefit="Moins de démarches.", author_id=author.id, state=state,
                        published_at=utcnow() if state is not ProposalState.draft else None)
    db.session.add(proposal)
    db.session.flush()
    return proposal


def make_consultation(method=ConsultationMethod.support, *, organisation=None, n_proposals=3, open_=True,
                      organiser=None, opens_in=timedelta(hours=-1), closes_in=timedelta(days=7),
                      selection_rule=SelectionRule.top_k, selection_value=1, **fields):
    """A consultation with ``n_proposals`` published proposals; opened (voting now) unless ``open_`` is False."""
    organisation = organisation or make_organisation()
    organiser = organiser or make_member(organisation, Role.editor)
    proposals = [make_proposal(organisation, title=f"Proposition {i + 1}") for i in range(n_proposals)]
    db.session.commit()
    now = utcnow()
    settings = {"title": "Simplifier les démarches de déménagement", "description_md": "Votez **ici**.",
                "opens_at": now + opens_in, "closes_at": now + closes_in, "method": method,
                "selection_rule": selection_rule, "selection_value": selection_value}
    if method is ConsultationMethod.dots:
        settings.update(dots_budget=5, dots_max_per_proposal=3)
    consultation = service.create_consultation(organiser, organisation, **{**settings, **fields})
    if proposals:
        service.add_proposals(organiser, consultation, [p.id for p in proposals])
    if open_:
        service.open_consultation(organiser, consultation)
    return consultation, organiser, proposals


def move(consultation, *, opens_in=None, closes_in=None):
    """Travel in time for one consultation by a direct UPDATE (time is never mocked)."""
    now = utcnow()
    values = {}
    if opens_in is not None:
        values["opens_at"] = now + opens_in
    if closes_in is not None:
        values["closes_at"] = now + closes_in
    db.session.execute(update(Consultation).where(Consultation.id == consultation.id).values(**values))
    db.session.commit()
    db.session.expire_all()


def permission_values(organisation, editor) -> dict:
    """For tests/test_permissions.py: an open, a draft and a closed consultation of ``organisation``."""
    open_, _, proposals = make_consultation(organisation=organisation, organiser=editor)
    draft, _, _ = make_consultation(organisation=organisation, organiser=editor, open_=False)
    closed, _, _ = make_consultation(organisation=organisation, organiser=editor)
    person = make_user()
    db.session.commit()
    service.cast_ballot(closed, person, {service.proposal_ids(closed)[0]: 1})
    service.close_consultation(closed.id, actor=editor, force=True)
    return {"consultation": open_.id, "consultation_draft": draft.id, "consultation_closed": closed.id,
            "cproposal": proposals[0].id}
