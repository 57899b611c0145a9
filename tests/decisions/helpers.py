"""Helpers for decision tests: an organisation with its editors, proposals in any state, a selecting vote."""

from datetime import datetime, timedelta

from sqlalchemy import update

from app.catalog.models import Role
from app.clock import utcnow
from app.consultations.models import Consultation, ConsultationMethod, ConsultationProposal, ConsultationState
from app.extensions import db
from app.proposals.models import Follow, Proposal, ProposalState
from tests.factories import make_member, make_organisation, make_user


class World:
    """Organisation A (editor, facilitator), organisation B (editor), a citizen author, a follower, an admin."""

    def __init__(self):
        self.organisation = make_organisation(name="Caisse des démarches")
        self.other_organisation = make_organisation(name="Autre administration")
        self.editor = make_member(self.organisation, Role.editor, name="Élise Éditrice")
        self.facilitator = make_member(self.organisation, Role.facilitator, name="Fanny Animatrice")
        self.other_editor = make_member(self.other_organisation, Role.editor, name="Oscar Autre")
        self.author = make_user(name="Camille Citoyenne")
        self.follower = make_user(name="Dominique Abonnée")
        self.citizen = make_user(name="Claude Passant")
        self.admin = make_user(name="Ada Admin", admin=True)
        db.session.commit()


def make_proposal(world, state=ProposalState.published, *, organisation=None, title="Un seul formulaire",
                  published_at: datetime | None = None, followers=()) -> Proposal:
    """A proposal row as the proposals area leaves it, followed by its author and ``followers``."""
    organisation = organisation or world.organisation
    proposal = Proposal(organisation_id=organisation.id, title=title, problem="Cinq déclarations.",
                        change="Une seule.", author_id=world.author.id, state=state,
                        published_at=(published_at or utcnow()) if state is not ProposalState.draft else None)
    db.session.add(proposal)
    db.session.flush()
    for user in (world.author, *followers):
        db.session.add(Follow(proposal_id=proposal.id, user_id=user.id))
    db.session.commit()
    return proposal


def select_by_vote(proposal, closed_at: datetime, organiser) -> Consultation:
    """A closed consultation that selected ``proposal`` at ``closed_at`` (as consultations leave it)."""
    consultation = Consultation(organisation_id=proposal.organisation_id, title="Vote",
                                method=ConsultationMethod.support,
                                opens_at=closed_at - timedelta(days=7), closes_at=closed_at,
                                state=ConsultationState.closed, closed_at=closed_at, created_by_id=organiser.id)
    db.session.add(consultation)
    db.session.flush()
    db.session.add(ConsultationProposal(consultation_id=consultation.id, proposal_id=proposal.id, selected=True,
                                        rank=1))
    db.session.execute(update(Proposal).where(Proposal.id == proposal.id).values(state=ProposalState.selected))
    db.session.commit()
    return consultation


def permission_values(organisation, citizen) -> dict:
    """For tests/test_permissions.py: a published proposal of ``organisation`` to answer, and a measure of
    ``organisation`` with a milestone."""
    from datetime import date

    from app.decisions.models import Measure, Milestone

    proposal = Proposal(organisation_id=organisation.id, title="Proposition à répondre", problem="p", change="c",
                        author_id=citizen.id, state=ProposalState.published, published_at=utcnow())
    measure = Measure(organisation_id=organisation.id, title="Mesure", description_md="")
    db.session.add_all([proposal, measure])
    db.session.flush()
    milestone = Milestone(measure_id=measure.id, title="Jalon", planned_on=date(2027, 1, 1))
    db.session.add(milestone)
    db.session.commit()
    return {"d_proposal": proposal.id, "d_org_id": organisation.id, "d_measure": measure.id,
            "d_milestone": milestone.id}


def accessibility_values(rows) -> dict:
    """Placeholders for tests/browser/test_accessibility.py, read from the live demo database with ``rows``:
    {measure} is the demo measure, {measure_org_id} its organisation; {trail_measure} the implemented measure at
    the end of the demo trail (app/demo/decisions.py ``seed_trail``)."""
    from app.demo.decisions import MEASURE_TITLE, TRAIL_MEASURE_TITLE

    found = rows("SELECT id, organisation_id FROM measures WHERE title = ?", (MEASURE_TITLE,))
    assert found, "no demo measure"
    trail = rows("SELECT id FROM measures WHERE title = ?", (TRAIL_MEASURE_TITLE,))
    assert trail, "no demo trail measure"
    return {"measure": found[0][0], "measure_org_id": found[0][1], "trail_measure": trail[0][0]}
