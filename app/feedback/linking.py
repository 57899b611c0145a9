"""From users' feedback to co-design: verbatims, or every response carrying an irritant tag, become a draft proposal
or a workshop topic, or are linked to an existing proposal or measure of the same organisation.

Each outcome is stored by the area it belongs to, as that area's own trail links, one row per response and target
and unique per pair (linking twice adds nothing): proposal origins of kind « feedback » (proposals), measure links
(``measure_feedback``, decisions), a workshop topic with its responses (workshops). Those areas name a response by
its id and never import this one; the trail (``app/decisions/trail.py``) reads the links and counts the feedback.

Every use case re-checks the editor on every response's service (``can_triage``) and runs in one transaction, the
checks included; linking to an existing proposal or measure holds that target's row lock.
"""

import enum
from collections import Counter
from dataclasses import dataclass

from flask_babel import ngettext
from sqlalchemy import and_, delete, func, select
from sqlalchemy.orm import lazyload, selectinload

from ..catalog.models import Membership, Organisation, Role, Service
from ..database import begin_write
from ..decisions import measures as decision_measures
from ..decisions.models import Measure, MeasureFeedback
from ..errors import DomainError, NotAllowed
from ..extensions import db
from ..notifications.service import notify
from ..proposals import service as proposal_service
from ..proposals.models import OriginKind, Proposal, ProposalOrigin, ProposalState
from ..workshops import topics as workshop_topics
from ..workshops.models import WorkshopTopic, WorkshopTopicResponse
from .errors import (
    MeasureTargetForeign,
    MeasureTargetNotFound,
    OutcomeUnknown,
    ProposalTargetClosed,
    ProposalTargetForeign,
    ProposalTargetNotFound,
    ResponseIsSpam,
    ResponseWithoutVerbatim,
    SelectedResponseNotFound,
    SelectionAcrossOrganisations,
    SelectionAndTag,
    SelectionEmpty,
    SelectionTooLarge,
    TagNotFound,
    TagWithoutResponses,
)
from .models import FeedbackAnswer, FeedbackResponse, IrritantTag, can_triage, feedback_response_tags

VERBATIM_FIELD = "verbatim"  # the free text of the questionnaire's last step (jdma_form.csv, v2_2024_static)
MAX_SELECTED = 500  # responses picked one by one (a tag brings all of its own); SelectionTooLarge says it
QUOTE_MAX = 5000  # the proposals' text limit (proposals.service.TEXT_MAX): a long selection is quoted in part
TITLE_MAX = 200
DEFAULT_TITLE_CHARS = 120  # characters of the first verbatim a title is drawn from when the editor gives none
# A proposal takes more of the users' feedback while it can still change: not once merged, withdrawn or hidden,
# nor someone else's draft.
LINKABLE_STATES = frozenset({ProposalState.awaiting_moderation, ProposalState.published, ProposalState.in_vote,
                             ProposalState.selected, ProposalState.answered})


class Outcome(enum.Enum):
    """What an editor does with the selected responses (the form's ``action`` values)."""

    new_proposal = "new_proposal"
    workshop_topic = "workshop_topic"
    link_proposal = "link_proposal"
    link_measure = "link_measure"


@dataclass
class Selection:
    """Responses an editor may turn into something: of one organisation's services, not spam; their verbatims
    (newest first) and the service most of them are about."""

    ids: list[int]
    verbatims: list[str]
    organisation: Organisation
    service: Service
    tag: IrritantTag | None = None


@dataclass
class Result:
    """What a use case made or linked: ``target`` (a proposal, a measure or a workshop topic), how many responses
    were selected, and how many of them it did not have yet."""

    outcome: Outcome
    target: object
    selected: int
    added: int


# --- the selection -------------------------------------------------------------------------------

def _verbatim_column():
    return FeedbackAnswer.answer_text.label("verbatim")


def _with_verbatim(query):
    """``query`` over responses, with each one's verbatim (or None) as a second column."""
    return query.add_columns(_verbatim_column()).outerjoin(
        FeedbackAnswer, and_(FeedbackAnswer.response_id == FeedbackResponse.id,
                             FeedbackAnswer.field_code == VERBATIM_FIELD))


def _checked(user, rows) -> None:
    """Every response of a service whose feedback ``user`` triages (asked before anything else is said about
    them), all of one organisation."""
    for response, _text in rows:
        if not can_triage(user, response.service):
            raise NotAllowed()
    if len({response.service.organisation_id for response, _text in rows}) > 1:
        raise SelectionAcrossOrganisations()


def _read(query) -> list[tuple[FeedbackResponse, str | None]]:
    return db.session.execute(_with_verbatim(query)
                              .options(lazyload(FeedbackResponse.tags), lazyload(FeedbackResponse.answers))
                              .order_by(FeedbackResponse.created_at.desc(), FeedbackResponse.id.desc())).all()


def _by_ids(user, response_ids) -> tuple[list[tuple[FeedbackResponse, str | None]], None]:
    ids = sorted({int(rid) for rid in response_ids})
    if len(ids) > MAX_SELECTED:
        raise SelectionTooLarge()
    rows = _read(select(FeedbackResponse).where(FeedbackResponse.id.in_(ids)))
    if len(rows) != len(ids):
        raise SelectedResponseNotFound()
    _checked(user, rows)
    for response, text in rows:
        if response.is_spam:
            raise ResponseIsSpam()
        if not (text or "").strip():
            raise ResponseWithoutVerbatim()
    return rows, None


def _by_tag(user, tag_id: int) -> tuple[list[tuple[FeedbackResponse, str | None]], IrritantTag]:
    tag = db.session.get(IrritantTag, tag_id)
    service = db.session.get(Service, tag.service_id) if tag is not None else None
    if tag is None or service is None:
        raise TagNotFound()
    if not can_triage(user, service):
        raise NotAllowed()
    rows = _read(select(FeedbackResponse)
                 .join(feedback_response_tags, feedback_response_tags.c.response_id == FeedbackResponse.id)
                 .where(feedback_response_tags.c.tag_id == tag.id, FeedbackResponse.is_spam.is_(False)))
    if not rows:
        raise TagWithoutResponses()
    _checked(user, rows)
    return rows, tag


def select_responses(user, *, response_ids=(), tag_id: int | None = None) -> Selection:
    """The responses an editor picked one by one (each with a verbatim), or all the non-spam responses of one
    irritant tag; every one of them of a service whose feedback ``user`` triages, all of one organisation."""
    response_ids = list(response_ids or ())
    if response_ids and tag_id:
        raise SelectionAndTag()
    if tag_id:
        rows, tag = _by_tag(user, tag_id)
    elif response_ids:
        rows, tag = _by_ids(user, response_ids)
    else:
        raise SelectionEmpty()
    responses = [response for response, _text in rows]
    texts = {response.id: " ".join((text or "").split()) for response, text in rows}
    counts = Counter(r.service_id for r in responses)
    top = max(counts.values())
    service = min((r.service for r in responses if counts[r.service_id] == top), key=lambda s: s.id)
    return Selection(ids=[r.id for r in responses], organisation=service.organisation, service=service, tag=tag,
                     verbatims=[texts[r.id] for r in responses if texts[r.id]])


def default_title(selection: Selection) -> str:
    """The tag's label, else the start of the newest verbatim."""
    if selection.tag is not None:
        return selection.tag.label
    first = selection.verbatims[0] if selection.verbatims else selection.service.name
    return first if len(first) <= DEFAULT_TITLE_CHARS else first[:DEFAULT_TITLE_CHARS - 1].rstrip() + "…"


def quoted(selection: Selection, limit: int = QUOTE_MAX) -> str:
    """The users' words as a list of quotations, as many as ``limit`` characters hold, then how many more there
    are; for responses without words (a tag's), how many carry the tag."""
    lines: list[str] = []
    used = 0
    for k, text in enumerate(selection.verbatims):
        line = f"- « {text} »"
        rest = len(selection.verbatims) - k - 1
        reserve = 80 if rest else 0  # room for the « and N more » line
        if used + len(line) + 1 + reserve > limit:
            if not lines:  # one long verbatim first: quoted in part
                lines.append(line[:limit - reserve - 4].rstrip() + "… »")
                k += 1
            left = len(selection.verbatims) - k
            if left:
                lines.append(ngettext("… et %(num)d autre avis.", "… et %(num)d autres avis.", left))
            break
        lines.append(line)
        used += len(line) + 1
    silent = len(selection.ids) - len(selection.verbatims)
    if silent and selection.tag is not None:
        lines.append(ngettext("%(num)d avis sans commentaire porte l'irritant « %(label)s ».",
                              "%(num)d avis sans commentaire portent l'irritant « %(label)s ».", silent,
                              label=selection.tag.label))
    return "\n".join(lines)[:limit]


# --- the use cases -------------------------------------------------------------------------------

def _clean_title(title: str | None, selection: Selection) -> str:
    return ((title or "").strip() or default_title(selection))[:TITLE_MAX]


def create_proposal(user, *, response_ids=(), tag_id: int | None = None, title: str = "") -> Result:
    """An editor of the responses' organisation turns them into a draft proposal they write for it: the users'
    words quoted as the problem, each response an origin; they complete the change it proposes, then send it."""
    begin_write()
    try:
        selection = select_responses(user, response_ids=response_ids, tag_id=tag_id)
        proposal = proposal_service.add_draft_from_feedback(
            user, service=selection.service, title=_clean_title(title, selection), problem=quoted(selection),
            response_ids=selection.ids)
    except DomainError:
        db.session.rollback()
        raise
    db.session.commit()
    return Result(Outcome.new_proposal, proposal, len(selection.ids), len(selection.ids))


def propose_workshop_topic(user, *, response_ids=(), tag_id: int | None = None, title: str = "") -> Result:
    """An editor proposes the responses as a workshop topic to their organisation's facilitators, who are told."""
    begin_write()
    try:
        selection = select_responses(user, response_ids=response_ids, tag_id=tag_id)
        topic = workshop_topics.add_topic(
            organisation_id=selection.organisation.id, service_id=selection.service.id,
            title=_clean_title(title, selection), description=quoted(selection, workshop_topics.DESCRIPTION_MAX),
            response_ids=selection.ids, proposed_by_id=user.id)
    except DomainError:
        db.session.rollback()
        raise
    facilitators = db.session.scalars(select(Membership.user_id).where(
        Membership.organisation_id == selection.organisation.id, Membership.role == Role.facilitator))
    notify(facilitators, "workshop_topic_proposed", subject_title=topic.title, url="/ateliers/gestion/sujets",
           actor_id=user.id)
    db.session.commit()
    return Result(Outcome.workshop_topic, topic, len(selection.ids), len(selection.ids))


def _locked(model, target_id: int | None):
    if target_id is None:
        return None
    return db.session.scalar(select(model).where(model.id == target_id).with_for_update(of=model)
                             .execution_options(populate_existing=True))


def link_to_proposal(user, proposal_id: int | None, *, response_ids=(), tag_id: int | None = None) -> Result:
    """An editor adds the responses to the origins of a proposal of the same organisation that can still change
    (not merged, withdrawn or hidden, nor someone else's draft); responses already there are not added twice."""
    begin_write()
    try:
        selection = select_responses(user, response_ids=response_ids, tag_id=tag_id)
        proposal = _locked(Proposal, proposal_id)
        if proposal is None:
            raise ProposalTargetNotFound()
        if proposal.organisation_id != selection.organisation.id:
            raise ProposalTargetForeign()
        own_draft = proposal.state is ProposalState.draft and proposal.author_id == user.id
        if proposal.is_hidden or not (proposal.state in LINKABLE_STATES or own_draft):
            raise ProposalTargetClosed()
        added = proposal_service.add_feedback_origins(proposal.id, selection.ids)
    except DomainError:
        db.session.rollback()
        raise
    db.session.commit()
    return Result(Outcome.link_proposal, proposal, len(selection.ids), added)


def link_to_measure(user, measure_id: int | None, *, response_ids=(), tag_id: int | None = None) -> Result:
    """An editor links the responses to a measure of the same organisation: the measure answers them; responses
    already linked are not added twice."""
    begin_write()
    try:
        selection = select_responses(user, response_ids=response_ids, tag_id=tag_id)
        measure = _locked(Measure, measure_id)
        if measure is None:
            raise MeasureTargetNotFound()
        if measure.organisation_id != selection.organisation.id:
            raise MeasureTargetForeign()
        added = decision_measures.add_feedback_links(measure.id, selection.ids, user.id)
    except DomainError:
        db.session.rollback()
        raise
    db.session.commit()
    return Result(Outcome.link_measure, measure, len(selection.ids), added)


def give_outcome(user, outcome: Outcome | None, *, response_ids=(), tag_id: int | None = None, title: str = "",
                 proposal_id: int | None = None, measure_id: int | None = None) -> Result:
    """The one entry of the editors' form: the chosen outcome with its target."""
    if outcome is Outcome.new_proposal:
        return create_proposal(user, response_ids=response_ids, tag_id=tag_id, title=title)
    if outcome is Outcome.workshop_topic:
        return propose_workshop_topic(user, response_ids=response_ids, tag_id=tag_id, title=title)
    if outcome is Outcome.link_proposal:
        return link_to_proposal(user, proposal_id, response_ids=response_ids, tag_id=tag_id)
    if outcome is Outcome.link_measure:
        return link_to_measure(user, measure_id, response_ids=response_ids, tag_id=tag_id)
    raise OutcomeUnknown()


def forget_links(response_ids) -> None:
    """Remove every trail link of these responses (proposal origins, measure links, workshop topics' responses), in
    the caller's transaction: for responses found to be spam after they were linked."""
    ids = sorted({int(rid) for rid in response_ids})
    if not ids:
        return
    db.session.execute(delete(ProposalOrigin).where(ProposalOrigin.kind == OriginKind.feedback,
                                                    ProposalOrigin.response_id.in_(ids)))
    db.session.execute(delete(MeasureFeedback).where(MeasureFeedback.response_id.in_(ids)))
    db.session.execute(delete(WorkshopTopicResponse).where(WorkshopTopicResponse.response_id.in_(ids)))


# --- what the editors' page shows -----------------------------------------------------------------

def list_verbatims(service: Service, *, page: int = 1, per_page: int = 50) -> tuple[list[tuple], int]:
    """A page of the service's non-spam responses with a verbatim, newest first, as (response, verbatim), and how
    many there are; three queries (the count, the page, its tags)."""
    base = (select(FeedbackResponse.id).join(FeedbackAnswer, and_(FeedbackAnswer.response_id == FeedbackResponse.id,
                                                                 FeedbackAnswer.field_code == VERBATIM_FIELD))
            .where(FeedbackResponse.service_id == service.id, FeedbackResponse.is_spam.is_(False),
                   FeedbackAnswer.answer_text != ""))
    total = db.session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = db.session.execute(
        select(FeedbackResponse, FeedbackAnswer.answer_text)
        .join(FeedbackAnswer, and_(FeedbackAnswer.response_id == FeedbackResponse.id,
                                   FeedbackAnswer.field_code == VERBATIM_FIELD))
        .where(FeedbackResponse.service_id == service.id, FeedbackResponse.is_spam.is_(False),
               FeedbackAnswer.answer_text != "")
        .options(selectinload(FeedbackResponse.tags), lazyload(FeedbackResponse.answers))
        .order_by(FeedbackResponse.created_at.desc(), FeedbackResponse.id.desc())
        .limit(per_page).offset((page - 1) * per_page)).all()
    return [(response, text) for response, text in rows], total


def verbatims_of(response_ids, organisation_id: int) -> list[tuple]:
    """(response, verbatim or None) for those of these ids that are about the organisation's services and not
    spam, newest first; one query, and one for their tags (the responses a list page sent here: each is checked
    again when the form is sent)."""
    ids = sorted({int(rid) for rid in response_ids})[:MAX_SELECTED]
    if not ids:
        return []
    return [(r, t) for r, t in db.session.execute(
        _with_verbatim(select(FeedbackResponse)).join(Service, Service.id == FeedbackResponse.service_id)
        .where(FeedbackResponse.id.in_(ids), Service.organisation_id == organisation_id,
               FeedbackResponse.is_spam.is_(False))
        .options(selectinload(FeedbackResponse.tags), lazyload(FeedbackResponse.answers))
        .order_by(FeedbackResponse.created_at.desc(), FeedbackResponse.id.desc()))]


@dataclass
class LedTo:
    """Where one response already leads: proposals, measures, workshop topics."""

    proposals: list[Proposal]
    measures: list[Measure]
    topics: list[WorkshopTopic]


def led_to(response_ids) -> dict[int, LedTo]:
    """response id -> what it already feeds; three queries whatever the number of responses."""
    ids = sorted(set(response_ids))
    out = {rid: LedTo([], [], []) for rid in ids}
    if not ids:
        return out
    for rid, proposal in db.session.execute(
            select(ProposalOrigin.response_id, Proposal).join(Proposal, Proposal.id == ProposalOrigin.proposal_id)
            .where(ProposalOrigin.response_id.in_(ids)).options(lazyload(Proposal.author))
            .order_by(Proposal.id)):
        out[rid].proposals.append(proposal)
    for rid, measure in db.session.execute(
            select(MeasureFeedback.response_id, Measure).join(Measure, Measure.id == MeasureFeedback.measure_id)
            .where(MeasureFeedback.response_id.in_(ids))
            .options(lazyload(Measure.proposals), lazyload(Measure.milestones), lazyload(Measure.updates))
            .order_by(Measure.id)):
        out[rid].measures.append(measure)
    for rid, topic in db.session.execute(
            select(WorkshopTopicResponse.response_id, WorkshopTopic)
            .join(WorkshopTopic, WorkshopTopic.id == WorkshopTopicResponse.topic_id)
            .where(WorkshopTopicResponse.response_id.in_(ids)).order_by(WorkshopTopic.id)):
        out[rid].topics.append(topic)
    return out


def linkable_proposals(organisation_id: int, user) -> list[Proposal]:
    """The organisation's proposals that can take more feedback (``link_to_proposal``), newest first; one query."""
    return list(db.session.scalars(
        select(Proposal).where(Proposal.organisation_id == organisation_id, Proposal.hidden_at.is_(None),
                               Proposal.state.in_(LINKABLE_STATES)
                               | ((Proposal.state == ProposalState.draft) & (Proposal.author_id == user.id)))
        .options(lazyload(Proposal.author), lazyload(Proposal.service), lazyload(Proposal.life_event),
                 lazyload(Proposal.organisation))
        .order_by(Proposal.id.desc())))


def organisation_measures(organisation_id: int) -> list[Measure]:
    """The organisation's measures, newest first; one query."""
    return list(db.session.scalars(
        select(Measure).where(Measure.organisation_id == organisation_id)
        .options(lazyload(Measure.proposals), lazyload(Measure.milestones), lazyload(Measure.updates),
                 lazyload(Measure.organisation))
        .order_by(Measure.id.desc())))


def organisation_tags(organisation_id: int) -> list[tuple[IrritantTag, Service, int]]:
    """The irritant tags of the organisation's services with how many non-spam responses carry each; one query."""
    count = (select(func.count()).select_from(feedback_response_tags)
             .join(FeedbackResponse, FeedbackResponse.id == feedback_response_tags.c.response_id)
             .where(feedback_response_tags.c.tag_id == IrritantTag.id, FeedbackResponse.is_spam.is_(False))
             .scalar_subquery())
    return [(tag, service, n or 0) for tag, service, n in db.session.execute(
        select(IrritantTag, Service, count).join(Service, Service.id == IrritantTag.service_id)
        .where(Service.organisation_id == organisation_id).order_by(Service.name, IrritantTag.label))]
