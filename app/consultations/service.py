"""Consultation use cases.

Ballots are decided by the database: one per person is a unique constraint; casting inserts the ballot row if
missing (``INSERT … ON CONFLICT DO NOTHING``), then locks it (``SELECT … FOR UPDATE`` on PostgreSQL,
``BEGIN IMMEDIATE`` on SQLite) and replaces its choices in the same transaction, so two submissions by one
person serialise and the stored ballot is always exactly one of them. A ballot also holds a share lock on
its consultation row, and closing changes that row with a conditional UPDATE: no ballot commits after the
count, and two closers never both count.
"""

import secrets
from collections.abc import Mapping
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import defaultload

from .. import signals
from ..accounts.models import User
from ..catalog.models import Organisation
from ..clock import iso, utcnow
from ..database import begin_write, insert_unless_present
from ..errors import Conflict, DomainError, InvalidInput, NotAllowed, NotFound
from ..extensions import db
from ..permissions import is_verified
from ..proposals import search
from ..proposals import service as proposals_service
from ..proposals.models import Proposal, ProposalState
from . import results
from .models import (
    Ballot,
    BallotChoice,
    Consultation,
    ConsultationMethod,
    ConsultationProposal,
    ConsultationState,
    SelectionRule,
    can_manage_consultations,
)

# --- errors --------------------------------------------------------------------------------------


class VotingClosed(DomainError):
    code = "voting_closed"
    message = _l("Le vote est clos.")


class VotingNotOpen(DomainError):
    code = "voting_not_open"
    message = _l("Le vote n'est pas encore ouvert.")


class NotVerified(NotAllowed):
    code = "not_verified"
    message = _l("Vérifiez d'abord votre adresse électronique : ouvrez le lien que nous vous avons envoyé.")


class OverBudget(InvalidInput):
    code = "over_budget"


class OverPerProposalLimit(InvalidInput):
    code = "over_per_proposal_limit"


class InvalidGrade(InvalidInput):
    code = "invalid_grade"
    message = _l("Choisissez une mention proposée pour chaque proposition.")


class UnknownProposal(InvalidInput):
    code = "unknown_proposal"
    message = _l("Cette proposition ne fait pas partie de cette consultation.")


class ProposalNotPublished(InvalidInput):
    code = "proposal_not_published"
    message = _l("Seules les propositions publiées, et non engagées dans un autre vote, peuvent être ajoutées.")


class ConsultationLocked(Conflict):
    code = "consultation_locked"
    message = _l("Une consultation ouverte ne peut plus changer de méthode, de règle de sélection ni de "
                 "propositions.")


class NotDraft(Conflict):
    code = "not_draft"
    message = _l("Cette consultation n'est plus en préparation.")


class NoProposals(InvalidInput):
    code = "no_proposals"
    message = _l("Ajoutez au moins deux propositions avant d'ouvrir la consultation.")


LOCKED_FIELDS = ("method", "dots_budget", "dots_max_per_proposal", "selection_rule", "selection_value", "opens_at")
EDITABLE_FIELDS = ("title", "description_md", "opens_at", "closes_at", "method", "dots_budget",
                   "dots_max_per_proposal", "selection_rule", "selection_value", "counts_visible_while_open")


# --- reading -------------------------------------------------------------------------------------

def get_consultation(consultation_id: int) -> Consultation:
    consultation = db.session.get(Consultation, consultation_id)
    if consultation is None:
        raise NotFound()
    return consultation


CLOSED_PER_PAGE = 20


def list_consultations(user=None, now: datetime | None = None, *, page: int = 1,
                       per_page: int = CLOSED_PER_PAGE) -> dict:
    """Published consultations split into open / upcoming / closed, drafts the person may manage. The closed
    ones, which only accumulate, come one page at a time (latest closing first), with ``closed_total``."""
    now = now or utcnow()
    running = db.session.scalars(select(Consultation).where(Consultation.state == ConsultationState.open)
                                 .order_by(Consultation.closes_at.desc(), Consultation.id.desc()))
    out = {"open": [], "upcoming": [], "closed": [], "drafts": []}
    for c in running:
        if c.is_upcoming(now):
            out["upcoming"].append(c)
        else:
            out["open"].append(c)  # includes "past closes_at, waiting for the closing job"
    closed = select(Consultation).where(Consultation.state == ConsultationState.closed)
    out["closed_total"] = db.session.scalar(select(func.count()).select_from(closed.subquery()))
    out["closed"] = list(db.session.scalars(closed.order_by(Consultation.closes_at.desc(), Consultation.id.desc())
                                            .offset((max(1, page) - 1) * per_page).limit(per_page)))
    if user is not None and user.is_authenticated:
        drafts = db.session.scalars(select(Consultation).where(Consultation.state == ConsultationState.draft)
                                    .order_by(Consultation.id.desc()))
        out["drafts"] = [c for c in drafts if c.can_manage(user)]
    return out


ITEM_SORTS = ("newest", "supported", "rank")
ITEMS_PER_PAGE = 20


def list_items(consultation: Consultation, *, q: str = "", sort: str = "newest", page: int = 1,
               per_page: int = ITEMS_PER_PAGE) -> tuple[list[ConsultationProposal], int]:
    """One page of a consultation's proposals (rows with their proposal loaded) and how many match: full-text
    search ``q``; sort by newest, most supported, or vote rank (``rank``, only once closed; newest before).
    A constant number of queries, whatever the number of proposals."""

    stmt = (select(ConsultationProposal).join(Proposal, Proposal.id == ConsultationProposal.proposal_id)
            .where(ConsultationProposal.consultation_id == consultation.id)
            # The list shows no author: not loading them spares their memberships' query too.
            .options(defaultload(ConsultationProposal.proposal).lazyload(Proposal.author)))
    matches = search.matching(q) if q else None
    if matches is not None:
        stmt = matches.apply(stmt)
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
    newest = [func.coalesce(Proposal.published_at, Proposal.created_at).desc(), Proposal.id.desc()]
    if sort == "rank" and consultation.is_closed:
        order = [ConsultationProposal.rank.asc(), ConsultationProposal.position, Proposal.id]
    elif sort == "supported":
        order = [Proposal.support_count.desc(), Proposal.id.desc()]
    else:
        order = newest
    items = list(db.session.scalars(stmt.order_by(*order).offset((max(1, page) - 1) * per_page).limit(per_page)))
    return items, total


def ballot_items(consultation: Consultation) -> list[ConsultationProposal]:
    """Every proposal of the consultation in ballot order, with its proposal (not its author): one query."""
    return list(db.session.scalars(
        select(ConsultationProposal).where(ConsultationProposal.consultation_id == consultation.id)
        .order_by(ConsultationProposal.position, ConsultationProposal.proposal_id)
        .options(defaultload(ConsultationProposal.proposal).lazyload(Proposal.author))))


def item_count(consultation: Consultation) -> int:
    return db.session.scalar(select(func.count()).select_from(ConsultationProposal)
                             .where(ConsultationProposal.consultation_id == consultation.id))


def ballot_for(consultation: Consultation, user) -> Ballot | None:
    if user is None or not user.is_authenticated:
        return None
    return db.session.scalar(select(Ballot).where(Ballot.consultation_id == consultation.id,
                                                  Ballot.user_id == user.id))


def ballot_values(ballot: Ballot | None) -> dict[int, int]:
    return {c.proposal_id: c.value for c in ballot.choices} if ballot else {}


def proposal_ids(consultation: Consultation, *, votable: bool = False) -> list[int]:
    """The ballot's proposal ids in order; with ``votable``, without those withdrawn by the moderators."""
    stmt = select(ConsultationProposal.proposal_id) \
        .where(ConsultationProposal.consultation_id == consultation.id) \
        .order_by(ConsultationProposal.position, ConsultationProposal.proposal_id)
    if votable:
        stmt = stmt.where(ConsultationProposal.proposal_id.not_in(_withdrawn_ids(consultation.id)))
    return list(db.session.scalars(stmt))


def _withdrawn_ids(consultation_id: int):
    """Proposals of the consultation hidden by the moderators while it was open (see ``withdrawn``)."""
    closed_at = select(Consultation.closed_at).where(Consultation.id == consultation_id).scalar_subquery()
    return select(Proposal.id).join(ConsultationProposal, ConsultationProposal.proposal_id == Proposal.id) \
        .where(ConsultationProposal.consultation_id == consultation_id, Proposal.hidden_at.is_not(None),
               or_(closed_at.is_(None), Proposal.hidden_at <= closed_at))


def stored_ballots(consultation_id: int) -> list[tuple[str, dict[int, int]]]:
    """Every ballot as (public id, {proposal id: value}), ordered by public id: the anonymised ballots, as
    counted (choices on a proposal withdrawn by the moderators are left out, as the count leaves them out)."""
    rows = db.session.execute(
        select(Ballot.public_id, BallotChoice.proposal_id, BallotChoice.value)
        .outerjoin(BallotChoice, and_(BallotChoice.ballot_id == Ballot.id,
                                      BallotChoice.proposal_id.not_in(_withdrawn_ids(consultation_id))))
        .where(Ballot.consultation_id == consultation_id)
        .order_by(Ballot.public_id, BallotChoice.proposal_id))
    ballots: dict[str, dict[int, int]] = {}
    for public_id, proposal_id, value in rows:
        choices = ballots.setdefault(public_id, {})
        if proposal_id is not None:
            choices[proposal_id] = value
    return list(ballots.items())


def _as_method_ballots(method: ConsultationMethod, ballots):
    if method is ConsultationMethod.support:
        return [set(choices) for _, choices in ballots]
    return [choices for _, choices in ballots]


def tally(consultation: Consultation) -> results.Tally:
    """The result as it would be if the consultation closed now (pure function of the stored ballots)."""
    ballots = stored_ballots(consultation.id)
    return results.compute(consultation.method.value, proposal_ids(consultation, votable=True),
                           _as_method_ballots(consultation.method, ballots),
                           consultation.selection_rule.value, consultation.selection_value)


_LIVE_TALLIES: dict[tuple, results.Tally] = {}
_LIVE_TALLIES_MAX = 64


def live_tally(consultation: Consultation) -> results.Tally:
    """``tally`` for pages showing counts while the vote runs, without recounting every ballot on every view:
    the result is kept per process under a fingerprint of the stored ballots and of the withdrawn proposals
    (one small aggregate query), so any new, changed or withdrawn ballot, or a hidden proposal, recounts."""
    fingerprint = db.session.execute(
        select(func.count(Ballot.id), func.coalesce(func.sum(Ballot.revision), 0), func.max(Ballot.id),
               func.max(Ballot.updated_at)).where(Ballot.consultation_id == consultation.id)).one()
    key = (consultation.id, *fingerprint, tuple(proposal_ids(consultation, votable=True)))
    counted = _LIVE_TALLIES.get(key)
    if counted is None:
        counted = tally(consultation)
        if len(_LIVE_TALLIES) >= _LIVE_TALLIES_MAX:
            _LIVE_TALLIES.pop(next(iter(_LIVE_TALLIES)))
        _LIVE_TALLIES[key] = counted
    return counted


def ballot_count(consultation: Consultation) -> int:
    return db.session.scalar(select(func.count(Ballot.id)).where(Ballot.consultation_id == consultation.id))


# --- organisers ----------------------------------------------------------------------------------

def _require_manager(actor, consultation_or_org) -> None:
    organisation = consultation_or_org if isinstance(consultation_or_org, Organisation) \
        else consultation_or_org.organisation
    if not can_manage_consultations(actor, organisation):
        raise NotAllowed()


def _validate_settings(fields: Mapping) -> None:
    if fields["closes_at"] <= fields["opens_at"]:
        raise InvalidInput(_l("La clôture doit être après l'ouverture."), code="closes_before_opening")
    method = fields["method"]
    if method is ConsultationMethod.dots:
        budget, per = fields.get("dots_budget"), fields.get("dots_max_per_proposal")
        if not budget or budget <= 0 or not per or per <= 0 or per > budget:
            raise InvalidInput(_l("Indiquez un budget de points et un maximum par proposition compris entre 1 et "
                                  "le budget."), code="dots_settings")
    value = fields.get("selection_value")
    if value is not None and value < 0:
        raise InvalidInput(_l("La valeur de sélection ne peut pas être négative."), code="selection_value")
    if fields.get("selection_rule") is SelectionRule.top_k and value is not None and value < 1:
        raise InvalidInput(_l("Retenez au moins une proposition."), code="selection_value")
    if (method is ConsultationMethod.majority and fields.get("selection_rule") is SelectionRule.threshold
            and value is not None and value > results.EXCELLENT):
        raise InvalidInput(_l("Choisissez une mention comme seuil."), code="selection_value")


def create_consultation(actor: User, organisation: Organisation, **fields) -> Consultation:
    """An editor or facilitator of the organisation creates a draft consultation."""
    _require_manager(actor, organisation)
    fields = {k: v for k, v in fields.items() if k in EDITABLE_FIELDS}
    fields.setdefault("selection_rule", SelectionRule.top_k)
    _validate_settings(fields)
    if fields["method"] is not ConsultationMethod.dots:
        fields["dots_budget"] = fields["dots_max_per_proposal"] = None
    consultation = Consultation(organisation_id=organisation.id, created_by_id=actor.id,
                                state=ConsultationState.draft, **fields)
    db.session.add(consultation)
    db.session.commit()
    return consultation


def update_consultation(actor: User, consultation: Consultation, **fields) -> Consultation:
    """Drafts change freely; once open, the method, its settings, the selection rule and the opening time are
    fixed (people may already have voted); a closed consultation does not change."""
    _require_manager(actor, consultation)
    begin_write()
    consultation = _lock(consultation.id)
    if consultation.is_closed:
        raise VotingClosed()
    fields = {k: v for k, v in fields.items() if k in EDITABLE_FIELDS}
    if not consultation.is_draft:
        changed = [k for k in LOCKED_FIELDS if k in fields and fields[k] != getattr(consultation, k)]
        if changed:
            db.session.rollback()
            raise ConsultationLocked()
    merged = {k: fields.get(k, getattr(consultation, k)) for k in EDITABLE_FIELDS}
    try:
        _validate_settings(merged)
    except DomainError:
        db.session.rollback()
        raise
    if merged["method"] is not ConsultationMethod.dots:
        fields["dots_budget"] = fields["dots_max_per_proposal"] = None
    for key, value in fields.items():
        setattr(consultation, key, value)
    consultation.updated_at = utcnow()
    db.session.commit()
    return consultation


def _lock(consultation_id: int, read: bool = False) -> Consultation:
    # SQLite renders no FOR UPDATE: there the write transaction (BEGIN IMMEDIATE) already holds the database.
    stmt = select(Consultation).where(Consultation.id == consultation_id).execution_options(populate_existing=True) \
        .with_for_update(of=Consultation, read=read)
    consultation = db.session.scalar(stmt)
    if consultation is None:
        db.session.rollback()
        raise NotFound()
    return consultation


def add_proposals(actor: User, consultation: Consultation, proposal_ids_to_add: list[int]) -> Consultation:
    """While in draft, add published proposals of the same organisation (others are refused, nothing added)."""
    _require_manager(actor, consultation)
    begin_write()
    consultation = _lock(consultation.id)
    try:
        if not consultation.is_draft:
            raise ConsultationLocked()
        existing = set(proposal_ids(consultation))
        wanted = [pid for pid in dict.fromkeys(proposal_ids_to_add) if pid not in existing]
        proposals = {p.id: p for p in db.session.scalars(select(Proposal).where(Proposal.id.in_(wanted)))}
        for pid in wanted:
            proposal = proposals.get(pid)
            if proposal is None:
                raise NotFound()
            if (proposal.organisation_id != consultation.organisation_id
                    or proposal.state is not ProposalState.published or proposal.is_hidden):
                raise ProposalNotPublished()
    except DomainError:
        db.session.rollback()
        raise
    start = len(existing)
    for i, pid in enumerate(wanted):
        db.session.add(ConsultationProposal(consultation_id=consultation.id, proposal_id=pid, position=start + i))
    consultation.updated_at = utcnow()
    db.session.commit()
    return consultation


def remove_proposal(actor: User, consultation: Consultation, proposal_id: int) -> Consultation:
    """While in draft, take a proposal off the ballot."""
    _require_manager(actor, consultation)
    begin_write()
    consultation = _lock(consultation.id)
    if not consultation.is_draft:
        db.session.rollback()
        raise ConsultationLocked()
    db.session.execute(delete(ConsultationProposal).where(ConsultationProposal.consultation_id == consultation.id,
                                                          ConsultationProposal.proposal_id == proposal_id))
    db.session.commit()
    return consultation


def open_consultation(actor: User, consultation: Consultation, now: datetime | None = None) -> Consultation:
    """Publish a draft: its proposals (all still published) go ``in_vote``; voting runs opens_at..closes_at."""
    _require_manager(actor, consultation)
    now = now or utcnow()
    begin_write()
    consultation = _lock(consultation.id)
    try:
        if not consultation.is_draft:
            raise NotDraft()
        if consultation.closes_at <= now:
            raise InvalidInput(_l("La date de clôture est déjà passée."), code="closes_in_past")
        ids = proposal_ids(consultation)
        if len(ids) < 2:
            raise NoProposals()
        # Conditional UPDATE: a proposal that left ``published`` meanwhile (another vote, a merge) is not taken.
        moved = db.session.execute(
            update(Proposal).where(Proposal.id.in_(ids), Proposal.state == ProposalState.published,
                                   Proposal.hidden_at.is_(None))
            .values(state=ProposalState.in_vote, updated_at=now)
            .execution_options(synchronize_session=False)).rowcount
        if moved != len(ids):
            raise ProposalNotPublished()
    except DomainError:
        db.session.rollback()
        raise
    consultation.state = ConsultationState.open
    consultation.published_at = now
    consultation.updated_at = now
    db.session.commit()
    return consultation


def close_consultation(consultation_id: int, actor: User | None = None, now: datetime | None = None,
                       force: bool = False) -> Consultation | None:
    """Count, store the results and participation, mark selected proposals, publish; then signal.

    Called by the closing job once closes_at has passed (``actor`` None) or by an organiser (``force``, which
    may close early). Idempotent: the conditional UPDATE lets exactly one caller close; the others get None.
    """
    now = now or utcnow()
    if actor is not None:
        consultation = get_consultation(consultation_id)
        _require_manager(actor, consultation)
        if consultation.state is ConsultationState.open and now < consultation.opens_at:
            raise VotingNotOpen(_l("Le vote n'a pas encore commencé : il ne peut pas être clos."))
    begin_write()
    condition = [Consultation.id == consultation_id, Consultation.state == ConsultationState.open]
    if not force:
        condition.append(Consultation.closes_at <= now)
    # On PostgreSQL this waits for ballots holding the consultation's share lock, then re-checks the state.
    won = db.session.execute(update(Consultation).where(*condition)
                             .values(state=ConsultationState.closed, closed_at=now, updated_at=now)
                             .execution_options(synchronize_session=False)).rowcount
    if not won:
        db.session.rollback()
        return None
    consultation = db.session.scalar(select(Consultation).where(Consultation.id == consultation_id)
                                     .execution_options(populate_existing=True))
    if force and consultation.closes_at > now:
        consultation.closes_at = now
    counted = tally(consultation)
    rows = counted.by_proposal()
    items = db.session.scalars(select(ConsultationProposal)
                               .where(ConsultationProposal.consultation_id == consultation_id))
    all_ids = []
    for item in items:
        all_ids.append(item.proposal_id)
        row = rows.get(item.proposal_id)  # None: withdrawn by the moderators, not counted
        if row is None:
            item.rank = item.score = item.backers = item.profile = None
            item.selected = False
            continue
        item.rank, item.score, item.backers, item.selected = row.rank, row.score, row.backers, row.selected
        item.profile = list(row.profile) if row.profile else None
    selected = counted.selected_ids
    others = [pid for pid in all_ids if pid not in set(selected)]
    if selected:
        db.session.execute(update(Proposal).where(Proposal.id.in_(selected), Proposal.state == ProposalState.in_vote)
                           .values(state=ProposalState.selected, updated_at=now)
                           .execution_options(synchronize_session=False))
    if others:
        db.session.execute(update(Proposal).where(Proposal.id.in_(others), Proposal.state == ProposalState.in_vote)
                           .values(state=ProposalState.published, updated_at=now)
                           .execution_options(synchronize_session=False))
    consultation.ballots_cast = counted.ballots_cast
    # A withdrawn proposal's author already heard of the hiding; "not selected" would be misleading.
    proposals_service.notify_vote_outcome(selected, [pid for pid in others if pid in rows])
    db.session.commit()
    signals.consultation_closed.send(consultation, selected_ids=selected)
    return consultation


def close_due(now: datetime | None = None) -> int:
    """The periodic job: close every open consultation whose closing time has passed. Returns how many."""
    now = now or utcnow()
    due = list(db.session.scalars(select(Consultation.id).where(Consultation.state == ConsultationState.open,
                                                                Consultation.closes_at <= now)))
    db.session.rollback()
    return sum(1 for cid in due if close_consultation(cid, now=now) is not None)


# --- voters --------------------------------------------------------------------------------------

def validate_choices(consultation: Consultation, allowed_ids: set[int], choices: Mapping[int, int]) -> dict[int, int]:
    """The ballot as it will be stored, or a ``DomainError``: every proposal on the consultation, every value
    within the method's range, the dot budget and per-proposal maximum respected. Zero values are dropped
    (support, dots); majority keeps grades given explicitly (missing ones count as « À rejeter »)."""
    clean: dict[int, int] = {}
    for pid, value in choices.items():
        if pid not in allowed_ids:
            raise UnknownProposal()
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidInput()
        clean[pid] = value
    method = consultation.method
    if method is ConsultationMethod.support:
        if any(v not in (0, 1) for v in clean.values()):
            raise InvalidInput()
        return {pid: 1 for pid, v in clean.items() if v}
    if method is ConsultationMethod.dots:
        if any(v < 0 for v in clean.values()):
            raise InvalidInput(_l("Les points ne peuvent pas être négatifs."), code="negative_points")
        per = consultation.dots_max_per_proposal
        if any(v > per for v in clean.values()):
            raise OverPerProposalLimit(_l("Au plus %(max)s points par proposition.", max=per))
        total = sum(clean.values())
        if total > consultation.dots_budget:
            raise OverBudget(_l("Vous avez réparti %(total)s points pour un budget de %(budget)s.",
                                total=total, budget=consultation.dots_budget))
        return {pid: v for pid, v in clean.items() if v}
    if any(not results.REJECT <= v <= results.EXCELLENT for v in clean.values()):
        raise InvalidGrade()
    return clean


def cast_ballot(consultation: Consultation, user: User, choices: Mapping[int, int],
                now: datetime | None = None) -> Ballot:
    """Store the person's ballot, replacing any previous one, atomically; only while the vote is open and only
    for verified accounts. Validated in full before anything is written."""
    if not is_verified(user):
        raise NotVerified()
    consultation_id, user_id = consultation.id, user.id
    begin_write()
    # Share lock: closing (an UPDATE of this row) waits for ballots in flight, and they see it closed after.
    consultation = _lock(consultation_id, read=True)
    now = now or utcnow()
    try:
        if consultation.is_closed or (consultation.state is ConsultationState.open and now >= consultation.closes_at):
            raise VotingClosed()
        if not consultation.voting_open(now):
            raise VotingNotOpen()
        votable = proposal_ids(consultation, votable=True)
        # A form loaded before the moderators withdrew a proposal may still grade it: that choice is dropped.
        withdrawn = set(proposal_ids(consultation)) - set(votable)
        clean = validate_choices(consultation, set(votable),
                                 {pid: v for pid, v in choices.items() if pid not in withdrawn})
    except DomainError:
        db.session.rollback()
        raise
    db.session.execute(insert_unless_present(
        Ballot, ["consultation_id", "user_id"], consultation_id=consultation_id, user_id=user_id,
        public_id=secrets.token_hex(16), created_at=now, updated_at=now, revision=0))
    stmt = select(Ballot).where(Ballot.consultation_id == consultation_id, Ballot.user_id == user_id) \
        .execution_options(populate_existing=True).with_for_update(of=Ballot)
    ballot = db.session.scalar(stmt)
    db.session.execute(delete(BallotChoice).where(BallotChoice.ballot_id == ballot.id)
                       .execution_options(synchronize_session=False))
    if clean:
        db.session.execute(BallotChoice.__table__.insert(), [
            {"ballot_id": ballot.id, "consultation_id": consultation_id, "proposal_id": pid, "value": value}
            for pid, value in clean.items()])
    ballot.revision += 1
    ballot.updated_at = now
    db.session.commit()
    return ballot


def withdraw_ballot(consultation: Consultation, user: User, now: datetime | None = None) -> bool:
    """While the vote is open, a person may take their ballot back entirely."""
    begin_write()
    consultation = _lock(consultation.id, read=True)
    now = now or utcnow()
    if not consultation.voting_open(now):
        db.session.rollback()
        raise VotingClosed()
    deleted = db.session.execute(delete(Ballot).where(Ballot.consultation_id == consultation.id,
                                                      Ballot.user_id == user.id)
                                 .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return bool(deleted)


# --- « Mes données » -----------------------------------------------------------------------------

def personal_data(user: User) -> dict:
    """What the consultations area holds about a person (for « Mes données »): their ballots with each choice (1 for
    a support, points for dots, the grade 0 « À rejeter » to 6 « Excellent » for majority judgment), and the
    consultations they created."""

    ballots = db.session.execute(select(Ballot, Consultation.title, Consultation.method)
                                 .join(Consultation, Consultation.id == Ballot.consultation_id)
                                 .where(Ballot.user_id == user.id).order_by(Ballot.created_at, Ballot.id)).all()
    titles = dict(db.session.execute(
        select(BallotChoice.proposal_id, Proposal.title).join(Ballot, Ballot.id == BallotChoice.ballot_id)
        .join(Proposal, Proposal.id == BallotChoice.proposal_id).where(Ballot.user_id == user.id)).all())
    created = db.session.scalars(select(Consultation).where(Consultation.created_by_id == user.id)
                                 .order_by(Consultation.created_at, Consultation.id)).all()
    return {
        "ballots": [{"consultation": title, "method": method.value, "cast_at": iso(b.created_at),
                     "updated_at": iso(b.updated_at), "public_ballot_id": b.public_id,
                     "choices": [{"proposal": titles.get(c.proposal_id), "value": c.value} for c in b.choices]}
                    for b, title, method in ballots],
        "created": [{"title": c.title, "organisation": c.organisation.name, "state": c.state.value,
                     "created_at": iso(c.created_at)} for c in created],
    }
