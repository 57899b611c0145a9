"""Decision use cases about answers: answering a proposal (and editing the answer), the organisation's answer
deadline, and which proposals await an answer or are overdue. What follows an answer (measures, their milestones
and updates, importing them) is in ``measures``; this module keeps the fixed name because answering proposals is
the area's first rule, and ``reports`` reads the deadline rule here.

An answer is written under the proposal's row lock (``BEGIN IMMEDIATE`` on SQLite); the proposal moves to
``answered`` by a conditional UPDATE from a state that may be answered; one answer per proposal is a unique
constraint, and an edit keeps the earlier wording. Authors and followers are notified in the same transaction.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import lazyload

from ..accounts.models import User
from ..catalog.models import Organisation
from ..clock import iso, utcnow
from ..consultations.models import Consultation, ConsultationProposal
from ..database import begin_write
from ..errors import Conflict, DomainError, InvalidInput, NotAllowed, NotFound
from ..extensions import db
from ..proposals.models import Proposal, ProposalState
from . import trail
from .models import (
    DEFAULT_DEADLINE_DAYS,
    MAX_DEADLINE_DAYS,
    Answer,
    AnswerKind,
    AnswerSettings,
    AnswerVersion,
    DueFrom,
    Measure,
    MeasureFeedback,
    MeasureUpdate,
    can_answer,
)

BODY_MAX = 10000
REASON_MAX = 2000
# States from which a proposal may be answered (``answered``: the answer is edited).
ANSWERABLE_STATES = frozenset({ProposalState.published, ProposalState.selected, ProposalState.answered})


class ReasonRequired(InvalidInput):
    code = "reason_required"
    message = _l("Indiquez pourquoi la proposition n'est pas adoptée : la raison sera publiée.")


class BodyRequired(InvalidInput):
    code = "body_required"
    message = _l("Écrivez la réponse de l'organisation.")


class UnknownKind(InvalidInput):
    code = "unknown_kind"
    message = _l("Choisissez une réponse proposée.")


class ProposalHiddenByModeration(Conflict):
    code = "proposal_hidden"
    message = _l("Cette proposition est masquée par la modération : elle ne reçoit plus de réponse publique.")


class NotAnswerable(DomainError):
    code = "not_answerable"
    message = _l("Seule une proposition publiée ou retenue peut recevoir une réponse (pas un brouillon, une "
                 "proposition retirée, fusionnée, en attente de modération ou soumise à un vote en cours).")


class AnswerConflict(Conflict):
    code = "answer_conflict"
    message = _l("Une autre réponse vient d'être enregistrée : rechargez la page et vérifiez-la.")


class DeadlineOutOfRange(InvalidInput):
    code = "deadline_out_of_range"
    message = _l("Le délai doit être compris entre 1 et %(max)s jours.", max=MAX_DEADLINE_DAYS)


def clean_text(value: str | None, limit: int, code: str) -> str:
    """The text without surrounding spaces; refused past ``limit`` characters (``<code>_too_long``)."""
    value = (value or "").strip()
    if len(value) > limit:
        raise InvalidInput(_l("Ce texte est trop long (%(limit)s caractères au plus).", limit=limit),
                           code=f"{code}_too_long")
    return value


def _kind(value) -> AnswerKind:
    try:
        return value if isinstance(value, AnswerKind) else AnswerKind(value)
    except ValueError:
        raise UnknownKind() from None


# --- answers -------------------------------------------------------------------------------------

def get_answer(proposal_id: int) -> Answer | None:
    return db.session.scalar(select(Answer).where(Answer.proposal_id == proposal_id))


def answer_proposal(proposal: Proposal, user: User, *, kind, body: str, reason: str = "",
                    show_editor_name: bool = False) -> Answer:
    """Editors of the proposal's organisation (and admins) answer a published or selected proposal, or edit
    the answer (the earlier wording is kept); a proposal that is not adopted needs a reason."""
    kind = _kind(kind)
    body = clean_text(body, BODY_MAX, "body")
    reason = clean_text(reason, REASON_MAX, "reason")
    if not body:
        raise BodyRequired()
    if kind is AnswerKind.not_adopted and not reason:
        raise ReasonRequired()
    begin_write()
    locked = db.session.scalar(select(Proposal).where(Proposal.id == proposal.id)
                               .with_for_update(of=Proposal).execution_options(populate_existing=True))
    if locked is None:
        db.session.rollback()
        raise NotFound()
    if not can_answer(user, locked.organisation):
        db.session.rollback()
        raise NotAllowed()
    now = utcnow()
    if locked.is_hidden:
        db.session.rollback()
        raise ProposalHiddenByModeration()
    moved = db.session.execute(update(Proposal).where(Proposal.id == locked.id,
                                                      Proposal.state.in_(ANSWERABLE_STATES))
                               .values(state=ProposalState.answered, updated_at=now)
                               .execution_options(synchronize_session=False))
    if moved.rowcount != 1:
        db.session.rollback()
        raise NotAnswerable()
    answer = db.session.scalar(select(Answer).where(Answer.proposal_id == locked.id)
                               .with_for_update(of=Answer).execution_options(populate_existing=True))
    first = answer is None
    if first:
        answer = Answer(proposal_id=locked.id, organisation_id=locked.organisation_id, answered_at=now, revision=1)
        db.session.add(answer)
    else:
        db.session.add(AnswerVersion(answer_id=answer.id, revision=answer.revision, kind=answer.kind,
                                     body_md=answer.body_md, reason=answer.reason, editor_id=answer.editor_id,
                                     written_at=answer.updated_at, replaced_at=now))
        answer.revision += 1
    answer.kind, answer.body_md, answer.reason = kind, body, reason
    answer.editor_id, answer.show_editor_name, answer.updated_at = user.id, bool(show_editor_name), now
    # Its author, followers and supporters, those of the proposals merged into it, and its ideas' authors.
    trail.notify_trail([locked.id], "proposal_answered" if first else "proposal_answer_updated",
                       subject_title=locked.title, url=f"/propositions/{locked.id}", actor_id=user.id)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise AnswerConflict() from None
    return answer


# --- deadlines -----------------------------------------------------------------------------------

def get_settings(organisation_id: int) -> AnswerSettings:
    """The organisation's settings, or the defaults (not stored) when it never changed them."""
    found = db.session.get(AnswerSettings, organisation_id)
    return found or AnswerSettings(organisation_id=organisation_id, deadline_days=DEFAULT_DEADLINE_DAYS,
                                   from_publication=False)


def set_settings(organisation: Organisation, user: User, *, deadline_days: int,
                 from_publication: bool) -> AnswerSettings:
    """Editors of the organisation (and admins) set its answer deadline, 1 to 365 days."""
    if not can_answer(user, organisation):
        raise NotAllowed()
    if deadline_days is None or not 1 <= int(deadline_days) <= MAX_DEADLINE_DAYS:
        raise DeadlineOutOfRange()
    begin_write()
    settings = db.session.get(AnswerSettings, organisation.id, with_for_update=True)
    if settings is None:
        settings = AnswerSettings(organisation_id=organisation.id)
        db.session.add(settings)
    settings.deadline_days, settings.from_publication = int(deadline_days), bool(from_publication)
    settings.updated_at = utcnow()
    try:
        db.session.commit()
    except IntegrityError:  # someone stored the first settings at the same moment
        db.session.rollback()
        raise AnswerConflict(_l("Ces réglages viennent d'être modifiés : rechargez la page.")) from None
    return settings


@dataclass(frozen=True)
class Awaiting:
    """A proposal waiting for its organisation's answer."""

    proposal: Proposal
    counted_from: DueFrom
    start: datetime
    due_at: datetime
    overdue: bool

    @property
    def can_be_answered(self) -> bool:
        return self.proposal.state in ANSWERABLE_STATES


def awaiting_answer(organisation_id: int | None = None, now: datetime | None = None) -> list[Awaiting]:
    """Proposals without an answer whose deadline runs: selected ones (from the close of the vote that selected
    them), and, for organisations counting from publication, every published one. Soonest due first; three
    queries whatever the number of proposals."""
    return _with_proposals(_deadlines(organisation_id, now))


def overdue_proposals(organisation_id: int | None = None, now: datetime | None = None,
                      shown: int | None = None) -> dict[int, tuple[int, list[Awaiting]]]:
    """Per organisation id (only organisations that have some): how many proposals are overdue, and the
    ``shown`` most overdue (all when None), most overdue first. Only the shown proposals are loaded."""
    return _overdue(_deadlines(organisation_id, now), shown)


def organisation_overdue(organisation_id: int, now: datetime | None = None,
                         shown: int | None = None) -> tuple[int, list[Awaiting], datetime | None]:
    """One organisation's overdue proposals (how many, the ``shown`` most overdue) and when the next of its waiting
    proposals becomes overdue (None when none is waiting within its deadline): until then the first two hold."""
    rows = _deadlines(organisation_id, now)
    next_due = next((row.due_at for row in rows if not row.overdue), None)  # rows come soonest due first
    count, items = _overdue(rows, shown).get(organisation_id, (0, []))
    return count, items, next_due


def answer_deadline(proposal: Proposal, now: datetime | None = None) -> Awaiting | None:
    """When the organisation's answer to this proposal is due, and whether it is late; None when no deadline runs
    (answered, not selected where the organisation counts from selection, hidden, draft...)."""
    rows = _deadlines(proposal.organisation_id, now, proposal_id=proposal.id) if proposal.organisation_id else []
    return _with_proposals(rows)[0] if rows else None


def _overdue(rows: list["_Deadline"], shown: int | None) -> dict[int, tuple[int, list[Awaiting]]]:
    counts: dict[int, int] = {}
    kept: list[_Deadline] = []
    for row in rows:
        if not row.overdue:
            continue
        counts[row.organisation_id] = counts.get(row.organisation_id, 0) + 1
        if shown is None or counts[row.organisation_id] <= shown:  # rows come most overdue first
            kept.append(row)
    grouped: dict[int, list[Awaiting]] = {org: [] for org in counts}
    for item in _with_proposals(kept):
        grouped[item.proposal.organisation_id].append(item)
    return {org: (counts[org], grouped[org]) for org in counts}


@dataclass
class _Deadline:
    proposal_id: int
    organisation_id: int
    counted_from: DueFrom
    start: datetime
    due_at: datetime
    overdue: bool


def _deadlines(organisation_id: int | None, now: datetime | None, proposal_id: int | None = None) -> list[_Deadline]:
    """The deadline of every proposal awaiting an answer (or of one), soonest first, from a few columns per proposal
    (an organisation may have hundreds waiting; the report pages show the first 25)."""
    now = now or utcnow()
    settings = {s.organisation_id: s for s in db.session.scalars(
        select(AnswerSettings) if organisation_id is None
        else select(AnswerSettings).where(AnswerSettings.organisation_id == organisation_id))}
    selected_at = (select(ConsultationProposal.proposal_id, func.max(Consultation.closed_at).label("at"))
                   .join(Consultation, Consultation.id == ConsultationProposal.consultation_id)
                   .where(ConsultationProposal.selected.is_(True))
                   .group_by(ConsultationProposal.proposal_id).subquery())
    waiting_states = (ProposalState.published, ProposalState.in_vote, ProposalState.selected)
    query = (select(Proposal.id, Proposal.organisation_id, Proposal.state, Proposal.published_at, Proposal.updated_at,
                    selected_at.c.at)
             .outerjoin(selected_at, selected_at.c.proposal_id == Proposal.id)
             .where(Proposal.state.in_(waiting_states), Proposal.hidden_at.is_(None),
                    ~select(Answer.id).where(Answer.proposal_id == Proposal.id).exists()))
    if organisation_id is not None:
        query = query.where(Proposal.organisation_id == organisation_id)
    if proposal_id is not None:
        query = query.where(Proposal.id == proposal_id)
    # Only selected proposals have a deadline, unless their organisation counts from publication: the others stay
    # in the database rather than being read to be skipped below (the report pages call this on every view).
    from_publication = [org for org, rule in settings.items() if rule.from_publication]
    query = query.where(or_(Proposal.state == ProposalState.selected, Proposal.organisation_id.in_(from_publication)))
    out = []
    for proposal_id, org, state, published_at, updated_at, selected in db.session.execute(query):
        rule = settings.get(org)
        days = rule.deadline_days if rule else DEFAULT_DEADLINE_DAYS
        if rule and rule.from_publication and published_at:
            counted_from, start = DueFrom.publication, published_at
        elif state is ProposalState.selected:
            # A proposal marked selected without a closed vote counts from its last change.
            counted_from, start = DueFrom.selection, selected or updated_at
        else:
            continue
        due = start + timedelta(days=days)
        out.append(_Deadline(proposal_id, org, counted_from, start, due, due < now))
    out.sort(key=lambda row: (row.due_at, row.proposal_id))
    return out


def _with_proposals(rows: list[_Deadline]) -> list[Awaiting]:
    """The rows with their proposals, loaded in one query, in the rows' order."""
    if not rows:
        return []
    proposals = {p.id: p for p in db.session.scalars(
        select(Proposal).options(lazyload(Proposal.author)).where(Proposal.id.in_([row.proposal_id for row in rows])))}
    return [Awaiting(proposals[row.proposal_id], row.counted_from, row.start, row.due_at, row.overdue)
            for row in rows if row.proposal_id in proposals]


def personal_data(user) -> dict:
    """« Mes données »: the answers an editor wrote (the current wording and the earlier ones), the measures they
    created, the timeline updates they posted and the users' feedback they linked to measures."""
    answers = db.session.execute(select(Answer, Proposal.title).join(Proposal, Proposal.id == Answer.proposal_id)
                                 .where(Answer.editor_id == user.id).order_by(Answer.answered_at, Answer.id)).all()
    earlier = db.session.execute(
        select(AnswerVersion, Proposal.title).join(Answer, Answer.id == AnswerVersion.answer_id)
        .join(Proposal, Proposal.id == Answer.proposal_id).where(AnswerVersion.editor_id == user.id)
        .order_by(AnswerVersion.written_at, AnswerVersion.id)).all()
    measures = db.session.scalars(select(Measure).where(Measure.created_by_id == user.id)
                                  .order_by(Measure.created_at, Measure.id)).all()
    updates = db.session.execute(select(MeasureUpdate, Measure.title)
                                 .join(Measure, Measure.id == MeasureUpdate.measure_id)
                                 .where(MeasureUpdate.author_id == user.id)
                                 .order_by(MeasureUpdate.created_at, MeasureUpdate.id)).all()
    linked = db.session.execute(select(MeasureFeedback, Measure.title)
                                .join(Measure, Measure.id == MeasureFeedback.measure_id)
                                .where(MeasureFeedback.linked_by_id == user.id)
                                .order_by(MeasureFeedback.created_at, MeasureFeedback.measure_id,
                                          MeasureFeedback.response_id)).all()
    return {
        "answers": [{"proposal": title, "kind": a.kind.value, "body": a.body_md, "reason": a.reason,
                     "name_shown": a.show_editor_name, "answered_at": iso(a.answered_at),
                     "written_at": iso(a.updated_at)} for a, title in answers],
        "earlier_answers": [{"proposal": title, "revision": v.revision, "kind": v.kind.value, "body": v.body_md,
                             "reason": v.reason, "written_at": iso(v.written_at), "replaced_at": iso(v.replaced_at)}
                            for v, title in earlier],
        "measures_created": [{"title": m.title, "organisation": m.organisation.name, "status": m.status.value,
                              "created_at": iso(m.created_at)} for m in measures],
        "measure_updates": [{"measure": title, "body": u.body_md, "status": u.status.value, "progress": u.progress,
                             "created_at": iso(u.created_at)} for u, title in updates],
        # Which anonymous response was linked is not the editor's data: the measure and the moment are.
        "feedback_linked_to_measures": [{"measure": title, "linked_at": iso(link.created_at)}
                                        for link, title in linked],
    }
