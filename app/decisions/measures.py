"""Measure use cases: what an organisation does after answering. Create and edit a measure from its public
proposals, post its public timeline updates, add and complete its milestones, and import measures with their
milestones from a CSV file (read by ``importing``, which stays free of the database).

Each write locks the measure's row (``BEGIN IMMEDIATE`` on SQLite), or, for an import, the organisation's row, so
two imports of one checked file cannot both pass; the people upstream of a measure's proposals are notified in
the same transaction (``trail``). The text limits and ``BodyRequired`` are the answers' (``service``).
"""

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, insert, select
from sqlalchemy.orm import lazyload

from ..accounts.models import User
from ..catalog.models import Organisation, Service
from ..clock import utcnow
from ..concurrency import run_cpu_bound
from ..database import begin_write
from ..errors import Conflict, DomainError, InvalidInput, NotAllowed, NotFound
from ..extensions import db
from ..imports import ImportInvalid, LineError
from ..proposals.models import Proposal, ProposalState
from . import trail
from .importing import PROPOSALS, ParsedImport, parse
from .models import (
    Measure,
    MeasureFeedback,
    MeasureProposal,
    MeasureService,
    MeasureStatus,
    MeasureUpdate,
    Milestone,
    can_answer,
)
from .service import BODY_MAX, REASON_MAX, BodyRequired, clean_text

TITLE_MAX = 200


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


class ServiceNotLinkable(InvalidInput):
    code = "service_not_linkable"
    message = _l("Une mesure ne peut concerner que des démarches de son organisation.")


class ImplementedInFuture(InvalidInput):
    code = "implemented_on_in_future"
    message = _l("La date de réalisation ne peut pas être dans le futur.")


def today() -> date:
    """The day in France (the app's time zone), against which an implementation date is checked."""
    return datetime.now(ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])).date()


def _check_implemented_on(on: date | None) -> None:
    if on is not None and on > today():
        raise ImplementedInFuture()


def _title(value: str | None) -> str:
    value = clean_text(value, TITLE_MAX, "title")
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


def linkable_services(organisation_id: int) -> list[Service]:
    """The services of the organisation a measure may change, by name."""
    return list(db.session.scalars(select(Service).where(Service.organisation_id == organisation_id)
                                   .order_by(Service.name, Service.id)))


def _link_services(measure: Measure, service_ids) -> None:
    """Replace the services the measure changes (in the caller's transaction); every service added must be one of
    its organisation's (a service linked before it moved to another organisation stays linked)."""
    wanted = {int(sid) for sid in service_ids or ()}
    current = set(db.session.scalars(select(MeasureService.service_id)
                                     .where(MeasureService.measure_id == measure.id)))
    added = wanted - current
    if added:
        allowed = set(db.session.scalars(select(Service.id).where(
            Service.id.in_(added), Service.organisation_id == measure.organisation_id)))
        if allowed != added:
            raise ServiceNotLinkable()
    if current - wanted:
        db.session.execute(MeasureService.__table__.delete().where(
            MeasureService.measure_id == measure.id, MeasureService.service_id.in_(current - wanted)))
    db.session.add_all([MeasureService(measure_id=measure.id, service_id=sid) for sid in sorted(added)])


def get_measure(measure_id: int) -> Measure:
    measure = db.session.get(Measure, measure_id)
    if measure is None:
        raise NotFound()
    return measure


def create_measure(organisation: Organisation, user: User, *, title: str, description: str = "",
                   proposal_ids=(), service_ids=()) -> Measure:
    """Editors of the organisation (and admins) create a planned measure from its public proposals, naming the
    services of the organisation it changes."""
    if not can_answer(user, organisation):
        raise NotAllowed()
    title, description = _title(title), clean_text(description, BODY_MAX, "description")
    begin_write()
    measure = Measure(organisation_id=organisation.id, title=title, description_md=description,
                      status=MeasureStatus.planned, progress=0, created_by_id=user.id)
    db.session.add(measure)
    db.session.flush()
    try:
        _link(measure, proposal_ids)
        _link_services(measure, service_ids)
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


def edit_measure(measure: Measure, user: User, *, title: str, description: str = "", proposal_ids=(),
                 service_ids=None, implemented_on: date | None = None) -> Measure:
    """Editors of the owning organisation change a measure's title, description, proposals and services
    (``service_ids`` None: unchanged), and correct the date an implemented measure took effect (``implemented_on``
    None: unchanged; never in the future; ignored unless the measure is implemented)."""
    if not measure.can_manage(user):
        raise NotAllowed()
    title, description = _title(title), clean_text(description, BODY_MAX, "description")
    _check_implemented_on(implemented_on)
    measure = _lock_measure(measure.id)
    try:
        if not measure.can_manage(user):
            raise NotAllowed()
        added, kept = _link(measure, proposal_ids)
        if service_ids is not None:
            _link_services(measure, service_ids)
    except DomainError:
        db.session.rollback()
        raise
    if implemented_on is not None and measure.status is MeasureStatus.implemented:
        measure.implemented_on = implemented_on
    measure.title, measure.description_md, measure.updated_at = title, description, utcnow()
    # A proposal linked later: its people learn of the measure as those of the first proposals did.
    trail.notify_linked(measure, added, kept, actor_id=user.id)
    db.session.commit()
    db.session.expire(measure, ["proposals", "services"])
    return measure


def post_update(measure: Measure, user: User, *, body: str, status, progress: int, reason: str = "",
                implemented_on: date | None = None) -> MeasureUpdate:
    """A public update of the timeline, setting the status and progress (0-100); abandoning needs a reason. Setting
    the status to implemented dates it (``implemented_on``, not in the future; by default the date it had if it was
    implemented already, else today); any other status clears the date."""
    if not measure.can_manage(user):
        raise NotAllowed()
    try:
        status = status if isinstance(status, MeasureStatus) else MeasureStatus(status)
    except ValueError:
        raise UnknownStatus() from None
    if progress is None or not 0 <= int(progress) <= 100:
        raise ProgressOutOfRange()
    body, reason = clean_text(body, BODY_MAX, "body"), clean_text(reason, REASON_MAX, "reason")
    if not body:
        raise BodyRequired(_l("Décrivez ce qui a changé."))
    if status is MeasureStatus.abandoned and not reason:
        raise AbandonReasonRequired()
    if status is MeasureStatus.implemented:
        _check_implemented_on(implemented_on)
    measure = _lock_measure(measure.id)
    now = utcnow()
    if status is not measure.status:  # the people upstream hear of status changes, not of every percent
        trail.notify_measure(measure, trail.MEASURE_STATUS_KINDS[status], actor_id=user.id)
    measure.status, measure.progress, measure.updated_at = status, int(progress), now
    measure.abandon_reason = reason if status is MeasureStatus.abandoned else ""
    if status is not MeasureStatus.implemented:
        measure.implemented_on = None
    elif implemented_on is not None:
        measure.implemented_on = implemented_on
    elif measure.implemented_on is None:  # an implemented measure keeps its date unless the editor corrects it
        measure.implemented_on = today()
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


def add_feedback_links(measure_id: int, response_ids, user_id: int | None) -> int:
    """Users' « Je donne mon avis » responses (ids in ``feedback_responses``) a measure answers, each linked once
    (those already linked are left as they are), in the caller's transaction, which holds the measure's row lock:
    the (measure, response) primary key has the last word. The feedback area checks the responses and the editor
    and calls this; returns how many links were added."""
    wanted = {int(rid) for rid in response_ids}
    present = set(db.session.scalars(select(MeasureFeedback.response_id).where(
        MeasureFeedback.measure_id == measure_id, MeasureFeedback.response_id.in_(wanted)))) if wanted else set()
    added = sorted(wanted - present)
    if added:
        now = utcnow()
        db.session.execute(insert(MeasureFeedback), [
            {"measure_id": measure_id, "response_id": rid, "linked_by_id": user_id, "created_at": now}
            for rid in added])
    return len(added)


# --- importing measures from CSV -----------------------------------------------------------------

class ImportOutdated(Conflict):
    code = "import_outdated"
    message = _l("Des mesures ont été créées pour cette organisation depuis l'aperçu : rien n'a été importé. "
                 "Envoyez le fichier à nouveau pour vérifier l'aperçu.")


@dataclass
class ImportPreview:
    """What an import would create, or why it cannot; ``stamp`` is checked again at confirmation."""

    parsed: ParsedImport
    errors: list[LineError]
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
