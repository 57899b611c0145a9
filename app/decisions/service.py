"""Decision use cases: answering proposals, and answer deadlines.

An answer is written under the proposal's row lock (``BEGIN IMMEDIATE`` on SQLite); the proposal moves to
``answered`` by a conditional UPDATE from a state that may be answered; one answer per proposal is a unique
constraint, and an edit keeps the earlier wording. Authors and followers are notified in the same transaction.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import lazyload

from ..accounts.models import User, utcnow
from ..catalog.models import Organisation
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
    MeasureProposal,
    MeasureStatus,
    MeasureUpdate,
    Milestone,
    can_answer,
)

BODY_MAX = 10000
TITLE_MAX = 200
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


def _clean(value: str | None, limit: int, code: str) -> str:
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
    body = _clean(body, BODY_MAX, "body")
    reason = _clean(reason, REASON_MAX, "reason")
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


def _deadlines(organisation_id: int | None, now: datetime | None) -> list[_Deadline]:
    """The deadline of every proposal awaiting an answer, soonest first, from a few columns per proposal (an
    organisation may have hundreds waiting; the report pages show the first 25)."""
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


# --- measures ------------------------------------------------------------------------------------

class TitleRequired(InvalidInput):
    code = "title_required"
    message = _l("Donnez un titre.")


class AbandonReasonRequired(InvalidInput):
    code = "abandon_reason_required"
    message = _l("Indiquez pourquoi la mesure est abandonnée : la raison sera publiée.")


class ProgressOutOfRange(InvalidInput):
    code = "progress_out_of_range"
    message = _l("L'avancement est un pourcentage entre 0 et 100.")


class UnknownStatus(InvalidInput):
    code = "unknown_status"
    message = _l("Choisissez un état proposé.")


class ProposalNotLinkable(InvalidInput):
    code = "proposal_not_linkable"
    message = _l("Une mesure ne peut venir que de propositions publiques de son organisation.")


class DateRequired(InvalidInput):
    code = "date_required"
    message = _l("Indiquez une date.")


def _title(value: str | None) -> str:
    value = _clean(value, TITLE_MAX, "title")
    if not value:
        raise TitleRequired()
    return value


def linkable_proposals(organisation_id: int) -> list[Proposal]:
    """Public proposals of the organisation a measure may come from, newest first."""
    return list(db.session.scalars(select(Proposal).options(lazyload(Proposal.author))
                                   .where(Proposal.organisation_id == organisation_id,
                                          Proposal.state.in_((ProposalState.published, ProposalState.selected,
                                                              ProposalState.answered)),
                                          Proposal.hidden_at.is_(None))
                                   .order_by(Proposal.id.desc())))


def _link(measure: Measure, proposal_ids) -> tuple[set[int], set[int]]:
    """Replace the measure's proposals (in the caller's transaction); every id must be linkable. Returns the ids
    added and those kept."""
    wanted = {int(pid) for pid in proposal_ids or ()}
    current = set(db.session.scalars(select(MeasureProposal.proposal_id)
                                     .where(MeasureProposal.measure_id == measure.id))) if measure.id else set()
    added = wanted - current  # a link already made stays, even if its proposal was hidden since
    if added:
        allowed = set(db.session.scalars(
            select(Proposal.id).where(Proposal.id.in_(added), Proposal.organisation_id == measure.organisation_id,
                                      Proposal.hidden_at.is_(None),
                                      Proposal.state.in_((ProposalState.published, ProposalState.selected,
                                                          ProposalState.answered)))))
        if allowed != added:
            raise ProposalNotLinkable()
    for pid in current - wanted:
        db.session.execute(MeasureProposal.__table__.delete().where(MeasureProposal.measure_id == measure.id,
                                                                    MeasureProposal.proposal_id == pid))
    for pid in sorted(wanted - current):
        db.session.add(MeasureProposal(measure_id=measure.id, proposal_id=pid))
    return wanted - current, wanted & current


def get_measure(measure_id: int) -> Measure:
    measure = db.session.get(Measure, measure_id)
    if measure is None:
        raise NotFound()
    return measure


def create_measure(organisation: Organisation, user: User, *, title: str, description: str = "",
                   proposal_ids=()) -> Measure:
    """Editors of the organisation (and admins) create a planned measure from its public proposals."""
    if not can_answer(user, organisation):
        raise NotAllowed()
    title, description = _title(title), _clean(description, BODY_MAX, "description")
    begin_write()
    measure = Measure(organisation_id=organisation.id, title=title, description_md=description,
                      status=MeasureStatus.planned, progress=0, created_by_id=user.id)
    db.session.add(measure)
    db.session.flush()
    try:
        _link(measure, proposal_ids)
    except DomainError:
        db.session.rollback()
        raise
    db.session.flush()
    trail.notify_measure(measure, "measure_created", actor_id=user.id)
    db.session.commit()
    return measure


def _lock_measure(measure_id: int) -> Measure:
    begin_write()
    measure = db.session.scalar(select(Measure).where(Measure.id == measure_id)
                                .with_for_update(of=Measure).execution_options(populate_existing=True))
    if measure is None:
        db.session.rollback()
        raise NotFound()
    return measure


def edit_measure(measure: Measure, user: User, *, title: str, description: str = "", proposal_ids=()) -> Measure:
    """Editors of the owning organisation change a measure's title, description and proposals."""
    if not measure.can_manage(user):
        raise NotAllowed()
    title, description = _title(title), _clean(description, BODY_MAX, "description")
    measure = _lock_measure(measure.id)
    try:
        if not measure.can_manage(user):
            raise NotAllowed()
        added, kept = _link(measure, proposal_ids)
    except DomainError:
        db.session.rollback()
        raise
    measure.title, measure.description_md, measure.updated_at = title, description, utcnow()
    # A proposal linked later: its people learn of the measure as those of the first proposals did.
    trail.notify_linked(measure, added, kept, actor_id=user.id)
    db.session.commit()
    db.session.expire(measure, ["proposals"])
    return measure


def post_update(measure: Measure, user: User, *, body: str, status, progress: int, reason: str = "") -> MeasureUpdate:
    """A public update of the timeline, setting the status and progress (0-100); abandoning needs a reason."""
    if not measure.can_manage(user):
        raise NotAllowed()
    try:
        status = status if isinstance(status, MeasureStatus) else MeasureStatus(status)
    except ValueError:
        raise UnknownStatus() from None
    if progress is None or not 0 <= int(progress) <= 100:
        raise ProgressOutOfRange()
    body, reason = _clean(body, BODY_MAX, "body"), _clean(reason, REASON_MAX, "reason")
    if not body:
        raise BodyRequired(_l("Décrivez ce qui a changé."))
    if status is MeasureStatus.abandoned and not reason:
        raise AbandonReasonRequired()
    measure = _lock_measure(measure.id)
    now = utcnow()
    if status is not measure.status:  # the people upstream hear of status changes, not of every percent
        trail.notify_measure(measure, trail.MEASURE_STATUS_KINDS[status], actor_id=user.id)
    measure.status, measure.progress, measure.updated_at = status, int(progress), now
    measure.abandon_reason = reason if status is MeasureStatus.abandoned else ""
    update_row = MeasureUpdate(measure_id=measure.id, author_id=user.id, body_md=body, status=status,
                               progress=int(progress), created_at=now)
    db.session.add(update_row)
    db.session.commit()
    db.session.expire(measure, ["updates"])
    return update_row


def add_milestone(measure: Measure, user: User, *, title: str, planned_on: date | None) -> Milestone:
    """Editors of the owning organisation add a dated milestone."""
    if not measure.can_manage(user):
        raise NotAllowed()
    title = _title(title)
    if planned_on is None:
        raise DateRequired()
    measure = _lock_measure(measure.id)
    milestone = Milestone(measure_id=measure.id, title=title, planned_on=planned_on)
    db.session.add(milestone)
    measure.updated_at = utcnow()
    db.session.commit()
    db.session.expire(measure, ["milestones"])
    return milestone


def complete_milestone(milestone: Milestone, user: User, *, done_on: date | None) -> Milestone:
    """Editors of the owning organisation mark a milestone done on a date (once; a later date changes it)."""
    measure = get_measure(milestone.measure_id)
    if not measure.can_manage(user):
        raise NotAllowed()
    if done_on is None:
        raise DateRequired()
    measure = _lock_measure(measure.id)
    milestone = db.session.get(Milestone, milestone.id, populate_existing=True)
    if milestone.done_on is None:  # reached now (a corrected date is not news)
        trail.notify_measure(measure, "measure_milestone_done", actor_id=user.id)
    milestone.done_on = done_on
    measure.updated_at = utcnow()  # the measure's page, feed and open-data fingerprints see the change
    db.session.commit()
    return milestone


def measures_of_proposal(proposal_id: int) -> list[Measure]:
    """The measures a proposal fed."""
    return list(db.session.scalars(select(Measure).join(MeasureProposal, MeasureProposal.measure_id == Measure.id)
                                   .where(MeasureProposal.proposal_id == proposal_id).order_by(Measure.id)))


# --- importing measures from CSV -----------------------------------------------------------------

class ImportInvalid(InvalidInput):
    """Some rows of the file are wrong; ``errors`` lists them (``importing.LineError``)."""

    code = "import_invalid"
    message = _l("Le fichier contient des erreurs : rien n'a été enregistré. Corrigez les lignes signalées puis "
                 "envoyez-le à nouveau.")

    def __init__(self, errors, message=None):
        super().__init__(message)
        self.errors = list(errors)


class ImportOutdated(Conflict):
    code = "import_outdated"
    message = _l("Des mesures ont été créées pour cette organisation depuis l'aperçu : rien n'a été importé. "
                 "Envoyez le fichier à nouveau pour vérifier l'aperçu.")


@dataclass
class ImportPreview:
    """What an import would create, or why it cannot; ``stamp`` is checked again at confirmation."""

    parsed: object  # importing.ParsedImport
    errors: list
    proposals: dict[int, Proposal]
    stamp: int

    @property
    def measures(self):
        return self.parsed.measures


def _import_stamp(organisation_id: int) -> int:
    """The newest measure of the organisation: an import confirmed after another measure appeared is refused."""
    return db.session.scalar(select(func.coalesce(func.max(Measure.id), 0))
                             .where(Measure.organisation_id == organisation_id))


def _check_import_proposals(organisation_id: int, measures, lock: bool = False):
    """Row errors for proposal numbers that are not public proposals of the organisation; the proposals found."""
    from .importing import PROPOSALS, LineError

    wanted = {pid for measure in measures for pid in measure.proposal_ids}
    found: dict[int, Proposal] = {}
    if wanted:
        query = (select(Proposal).options(lazyload(Proposal.author))
                 .where(Proposal.id.in_(wanted), Proposal.organisation_id == organisation_id,
                        Proposal.state.in_((ProposalState.published, ProposalState.selected,
                                            ProposalState.answered)),
                        Proposal.hidden_at.is_(None)))  # as ``linkable_proposals``: not hidden by moderation
        if lock:  # the proposals cannot be withdrawn or merged until the measures are stored
            query = query.with_for_update(of=Proposal)
        found = {p.id: p for p in db.session.scalars(query)}
    errors = []
    for measure in measures:
        for pid in measure.proposal_ids:
            if pid not in found:
                errors.append(LineError(measure.proposal_lines[pid], PROPOSALS, ProposalNotLinkable.code, _l(
                    "La proposition n° %(id)s n'existe pas ou n'est pas une proposition publique de cette "
                    "organisation.", id=pid)))
    return errors, found


def preview_measure_import(organisation: Organisation, user: User, data: bytes) -> ImportPreview:
    """Editors of the organisation (and admins) see what a CSV file would create and every row's errors; nothing
    is written. A file that cannot be read at all raises an ``importing.ImportFileInvalid``."""
    from ..concurrency import run_cpu_bound
    from .importing import parse

    if not can_answer(user, organisation):
        raise NotAllowed()
    parsed = run_cpu_bound(parse, data)  # under gevent, reading a large file must not stall live clients
    proposal_errors, found = _check_import_proposals(organisation.id, parsed.measures)
    errors = sorted([*parsed.errors, *proposal_errors], key=lambda e: e.line)
    return ImportPreview(parsed, errors, found, _import_stamp(organisation.id))


def import_measures(organisation: Organisation, user: User, data: bytes | str, *,
                    stamp: int | None = None) -> list[Measure]:
    """Editors of the organisation (and admins) create the measures and milestones of a CSV file (its bytes, or the
    text its preview decoded), all or nothing:
    the file is read and checked again inside one write transaction (organisation row locked, so two imports
    of one file cannot both pass a ``stamp`` taken at preview), and any wrong row refuses the whole file."""
    from ..concurrency import run_cpu_bound
    from .importing import parse

    if not can_answer(user, organisation):
        raise NotAllowed()
    parsed = run_cpu_bound(parse, data)  # under gevent, reading a large file must not stall live clients
    if parsed.errors:
        raise ImportInvalid(parsed.errors)
    begin_write()
    try:
        locked = db.session.scalar(select(Organisation).where(Organisation.id == organisation.id)
                                   .with_for_update(of=Organisation).execution_options(populate_existing=True))
        if locked is None:
            raise NotFound()
        if not can_answer(user, locked):
            raise NotAllowed()
        if stamp is not None and _import_stamp(locked.id) != stamp:
            raise ImportOutdated()
        errors, _found = _check_import_proposals(locked.id, parsed.measures, lock=True)
        if errors:
            raise ImportInvalid(errors)
        now, created = utcnow(), []
        for item in parsed.measures:
            measure = Measure(organisation_id=locked.id, title=item.title, description_md=item.description,
                              status=item.status, progress=item.progress, abandon_reason=item.abandon_reason,
                              created_by_id=user.id, created_at=now, updated_at=now)
            db.session.add(measure)
            created.append((measure, item))
        db.session.flush()
        for measure, item in created:
            db.session.add_all([MeasureProposal(measure_id=measure.id, proposal_id=pid) for pid in item.proposal_ids])
            db.session.add_all([Milestone(measure_id=measure.id, title=m.title, planned_on=m.planned_on,
                                          done_on=m.done_on, created_at=now) for m in item.milestones])
        db.session.flush()
        for measure, item in created:
            if item.proposal_ids:  # as create_measure: the people upstream of its proposals are told
                trail.notify_measure(measure, "measure_created", actor_id=user.id)
        db.session.commit()
    except DomainError:
        db.session.rollback()
        raise
    return [measure for measure, _item in created]
