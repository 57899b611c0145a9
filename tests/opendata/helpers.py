"""An organisation with everything the open data shows, and what it must not show, built through the services."""

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import insert

from app.catalog.models import Role
from app.clock import utcnow
from app.consultations import service as consultations
from app.consultations.models import ConsultationMethod, SelectionRule
from app.decisions import measures
from app.decisions import service as decisions
from app.decisions.models import AnswerKind, Measure, MeasureProposal, MeasureStatus, MeasureUpdate, Milestone
from app.extensions import db
from app.feedback import tally
from app.feedback.models import Experience, ExperienceStatus, FeedbackAnswer, FeedbackResponse, Source
from app.proposals.models import Proposal, ProposalState
from app.workshops.models import Visibility, WorkshopEvaluation
from tests.consultations.helpers import make_consultation
from tests.factories import make_member, make_organisation, make_service, make_user, make_workshop
from tests.feedback.helpers import make_response

FORMULA_TITLE = '=HYPERLINK("http://evil.example","clic")'
SECRET_NAME = "Zéphyrin Secretnom"
SECRET_EMAIL = "zephyrin.secret@example.org"


@dataclass
class World:
    organisation: object = None
    editor: object = None
    author: object = None
    voters: list = field(default_factory=list)
    public: list = field(default_factory=list)  # public proposals
    private: list = field(default_factory=list)  # hidden, draft, withdrawn, awaiting moderation
    answer: object = None
    hidden_answer: object = None
    measure: object = None
    workshops: dict = field(default_factory=dict)
    closed: list = field(default_factory=list)  # closed consultations
    open_consultation: object = None
    experiences: dict = field(default_factory=dict)  # feedback experiences, by what they show


def _proposal(world, state, title, **fields) -> Proposal:
    proposal = Proposal(organisation_id=world.organisation.id, title=title, problem="-5 démarches", change="Une.",
                        author_id=world.author.id, state=state,
                        published_at=utcnow() if state in (ProposalState.published, ProposalState.merged) else None,
                        **fields)
    db.session.add(proposal)
    db.session.commit()
    return proposal


def _evaluations(workshop, count: int) -> None:
    for i in range(count):
        db.session.add(WorkshopEvaluation(workshop_id=workshop.id, overall=1 + i % 5,
                                          felt_heard="yes" if i % 2 == 0 else "no",
                                          would_return="yes" if i % 3 else "maybe", comment=f"{SECRET_NAME} a dit"))
    db.session.commit()


def _vote(method, world, choices_per_voter, selection_rule=SelectionRule.top_k, selection_value=1):
    consultation, organiser, proposals = make_consultation(method, organisation=world.organisation,
                                                           organiser=world.editor, n_proposals=3,
                                                           selection_rule=selection_rule,
                                                           selection_value=selection_value)
    for voter, choices in zip(world.voters, choices_per_voter, strict=False):
        consultations.cast_ballot(consultation, voter, {proposals[i].id: v for i, v in choices.items()})
    return consultation, organiser, proposals


def build_world() -> World:
    world = World()
    world.organisation = make_organisation(name="Caisse des démarches")
    world.editor = make_member(world.organisation, Role.editor, name="Élise Éditrice", email="elise@example.org")
    world.author = make_user(name=SECRET_NAME, email=SECRET_EMAIL)
    world.voters = [make_user(name=f"Votant {i}", email=f"votant{i}@example.org") for i in range(6)]
    db.session.commit()

    # Proposals: public ones (one titled like a spreadsheet formula) and private ones.
    world.public.append(_proposal(world, ProposalState.published, FORMULA_TITLE))
    world.public.append(_proposal(world, ProposalState.published, "Un seul formulaire"))
    world.private.append(_proposal(world, ProposalState.published, "Masquée par la modération",
                                   hidden_at=utcnow(), hidden_reason="injurieuse"))
    world.private.append(_proposal(world, ProposalState.draft, "Brouillon"))
    world.private.append(_proposal(world, ProposalState.withdrawn, "Retirée"))
    world.private.append(_proposal(world, ProposalState.awaiting_moderation, "En attente"))

    # Answers: one public, one to a proposal hidden afterwards.
    world.answer = decisions.answer_proposal(world.public[1], world.editor, kind=AnswerKind.adopted,
                                             body="=SOMME(A1:A9) sera fait", show_editor_name=True)
    hidden = _proposal(world, ProposalState.published, "Répondue puis masquée")
    world.hidden_answer = decisions.answer_proposal(hidden, world.editor, kind=AnswerKind.not_adopted,
                                                    body="Non.", reason="Hors sujet")
    hidden.hidden_at = utcnow()
    db.session.commit()
    world.private.append(hidden)

    # A measure from the public proposal, with a milestone done, one planned, and two updates.
    world.measure = measures.create_measure(world.organisation, world.editor, title="Formulaire unique",
                                            description="@début", proposal_ids=[world.public[1].id])
    done = measures.add_milestone(world.measure, world.editor, title="Maquette", planned_on=date(2026, 1, 15))
    measures.add_milestone(world.measure, world.editor, title="Mise en ligne", planned_on=date(2027, 3, 1))
    measures.complete_milestone(done, world.editor, done_on=date(2026, 1, 20))
    measures.post_update(world.measure, world.editor, body="On commence.", status=MeasureStatus.in_progress,
                         progress=20)
    measures.post_update(world.measure, world.editor, body="+ moitié <b>faite</b> & fière",
                         status=MeasureStatus.in_progress, progress=50)

    # Workshops: a past one with enough evaluations, one with too few, an invitation-only one, a draft.
    creator = make_user(admin=True, name="Ada Admin")
    past = make_workshop(world.organisation, capacity=10, creator=creator, starts_in=timedelta(days=-3),
                         title="Atelier passé")
    past.attended_count, past.no_show_count = 6, 2
    db.session.commit()
    _evaluations(past, 5)
    few = make_workshop(world.organisation, capacity=4, creator=creator, title="Peu d'avis")
    _evaluations(few, 2)
    invitation = make_workshop(world.organisation, creator=creator, visibility=Visibility.invitation,
                               title="Sur invitation")
    draft = make_workshop(world.organisation, creator=creator, published=False, title="Brouillon d'atelier")
    world.workshops = {"past": past, "few": few, "invitation": invitation, "draft": draft}

    # Consultations: a majority judgment and a support vote, closed; a support vote still open.
    grades = [{0: 6, 1: 3}, {0: 5, 1: 5, 2: 0}, {1: 6}, {0: 4}, {}, {0: 2, 2: 6}]
    majority, organiser, _ = _vote(ConsultationMethod.majority, world, grades)
    approvals = [{0: 1, 1: 1}, {1: 1}, {2: 1}, {1: 1}, {}]
    support, _, on_ballot = _vote(ConsultationMethod.support, world, approvals,
                                  selection_rule=SelectionRule.threshold, selection_value=2)
    # Withdrawn by the moderators during the vote: not counted, its approvals left out of the ballots.
    on_ballot[2].hidden_at = utcnow()
    db.session.commit()
    world.private.append(on_ballot[2])
    for consultation in (majority, support):
        consultations.close_consultation(consultation.id, organiser, force=True)
    world.closed = [majority, support]
    world.open_consultation, _, _ = _vote(ConsultationMethod.support, world, [{0: 1}])
    db.session.commit()
    _experiences(world)
    return world


def experience_of(response) -> Experience:
    return db.session.scalar(db.select(Experience).where(Experience.response_id == response.id))


def _experiences(world) -> None:
    """Feedback: a published experience the organisation answered (its text begins like a formula), one published
    and not answered yet, and what is never published: pending, refused, published but marked as spam."""
    service = make_service(world.organisation, slug="carte-grise", name="Carte grise")
    published = ExperienceStatus.published
    answered = experience_of(make_response(service, satisfaction=1, verbatim="-3 jours d'attente & <rien>",
                                           consent=True, email="usager.avis@example.org", source=Source.qr,
                                           experience=published))
    answered.reply_text = "=Nous avons ajouté un créneau le samedi."
    answered.reply_signature = "Le service des cartes grises"
    answered.replied_at = utcnow()
    world.experiences = {
        "answered": answered,
        "unanswered": experience_of(make_response(service, satisfaction=3, verbatim="Rapide.", consent=True,
                                                  experience=published)),
        "pending": experience_of(make_response(service, verbatim="En attente de modération", consent=True)),
        "refused": experience_of(make_response(service, verbatim="Refusé par la modération", consent=True,
                                               experience=ExperienceStatus.refused)),
        "spam": experience_of(make_response(service, verbatim="Achetez des montres", consent=True, spam=True,
                                            experience=published)),
    }
    tally.rebuild([service.id])  # the barometer's monthly counts of these responses, as the form keeps them
    db.session.commit()


def grow(rows: int) -> None:
    """``rows`` more public proposals, measures (each fed by one), milestones, updates and published experiences,
    inserted in bulk."""
    organisation = make_organisation()
    author = make_user()
    db.session.commit()
    now = utcnow()
    start = db.session.scalar(db.select(db.func.coalesce(db.func.max(Proposal.id), 0)))
    db.session.execute(insert(Proposal), [
        {"id": start + i + 1, "organisation_id": organisation.id, "title": f"P{i}", "author_id": author.id,
         "state": ProposalState.published, "published_at": now, "created_at": now, "updated_at": now}
        for i in range(rows)])
    m_start = db.session.scalar(db.select(db.func.coalesce(db.func.max(Measure.id), 0)))
    db.session.execute(insert(Measure), [
        {"id": m_start + i + 1, "organisation_id": organisation.id, "title": f"M{i}", "created_at": now,
         "updated_at": now} for i in range(rows)])
    db.session.execute(insert(MeasureProposal), [
        {"measure_id": m_start + i + 1, "proposal_id": start + i + 1} for i in range(rows)])
    db.session.execute(insert(Milestone), [
        {"measure_id": m_start + i + 1, "title": "J", "planned_on": date(2027, 1, 1), "created_at": now}
        for i in range(rows)])
    db.session.execute(insert(MeasureUpdate), [
        {"measure_id": m_start + i + 1, "body_md": "x", "status": "planned", "progress": 0, "created_at": now}
        for i in range(rows)])
    db.session.commit()
    grow_experiences(rows, make_service(organisation))


def grow_experiences(rows: int, service=None) -> None:
    """``rows`` more published experiences of ``service``, each with a satisfaction and a reply, inserted in bulk."""
    service = service or make_service()
    db.session.commit()
    now = utcnow()
    start = db.session.scalar(db.select(db.func.coalesce(db.func.max(FeedbackResponse.id), 0)))
    ids = range(start + 1, start + rows + 1)
    db.session.execute(insert(FeedbackResponse), [
        {"id": i, "service_id": service.id, "source": Source.link, "submission_key": f"grow-{i}",
         "token_hash": f"grow-{i}", "steps_done": 4, "created_at": now, "updated_at": now, "editable_until": now,
         "publish_consent": True, "is_spam": False} for i in ids])
    db.session.execute(insert(FeedbackAnswer), [
        {"response_id": i, "field_code": "satisfaction", "answer_item_id": 1 + i % 3, "answer_text": "?"}
        for i in ids])
    db.session.execute(insert(Experience), [
        {"response_id": i, "text": f"Avis {i}", "status": ExperienceStatus.published, "published_at": now,
         "reply_text": "Merci.", "reply_signature": "Le service", "replied_at": now, "created_at": now}
        for i in ids])
    db.session.commit()


def backdate(days: int = 30) -> None:
    """Move every date the fingerprints read ``days`` back, so that a change made now is a later second than the
    Last-Modified a client already holds (Last-Modified has one-second precision)."""
    from sqlalchemy import update

    from app.decisions.models import Answer

    past = utcnow() - timedelta(days=days)
    for model, columns in ((Proposal, ("updated_at", "published_at")), (Answer, ("updated_at", "answered_at")),
                           (Measure, ("updated_at", "created_at")), (MeasureUpdate, ("created_at",)),
                           (Milestone, ("created_at",)), (Experience, ("created_at",))):
        db.session.execute(update(model).values(dict.fromkeys(columns, past)))
    db.session.execute(update(Proposal).where(Proposal.hidden_at.is_not(None)).values(hidden_at=past))
    db.session.execute(update(Milestone).where(Milestone.done_on.is_not(None)).values(done_on=past.date()))
    for column in ("published_at", "moderated_at", "replied_at", "reply_edited_at"):
        db.session.execute(update(Experience).where(getattr(Experience, column).is_not(None)).values({column: past}))
    db.session.commit()
