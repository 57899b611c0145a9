"""Reading public proposals: the filtered, searched, sorted and paged list, duplicate hints while typing
(``similar_proposals``) and a person's own proposals. Reads only; the full-text match comes from ``search``."""

from sqlalchemy import func, select

from ..accounts.models import User
from ..extensions import db
from . import search
from .models import PUBLIC_STATES, Proposal, ProposalState

SORTS = ("newest", "supported")
PER_PAGE = 20


def list_proposals(*, organisation_id=None, service_id=None, life_event_id=None, state=None, q: str = "",
                   sort: str = "newest", page: int = 1, per_page: int = PER_PAGE) -> tuple[list[Proposal], int]:
    """Public proposals with filters, full-text search, a sort and a page; a constant number of queries."""
    conditions = [Proposal.state.in_(PUBLIC_STATES - {ProposalState.merged}), Proposal.hidden_at.is_(None)]
    if state is not None:
        state = state if isinstance(state, ProposalState) else ProposalState(state)
        conditions = [Proposal.state == state, Proposal.hidden_at.is_(None)]
        if state not in PUBLIC_STATES:
            return [], 0
    if organisation_id:
        conditions.append(Proposal.organisation_id == organisation_id)
    if service_id:
        conditions.append(Proposal.service_id == service_id)
    if life_event_id:
        conditions.append(Proposal.life_event_id == life_event_id)
    matches = search.matching(q) if q else None
    base = select(Proposal).where(*conditions)
    if matches is not None:
        base = matches.apply(base)
    if sort == "supported":
        keys = [(Proposal.support_count, True), (Proposal.id, True)]
    elif matches is not None and sort == "relevance":
        keys = [(matches.rank, False), (Proposal.id, True)]
    else:
        keys = [(func.coalesce(Proposal.published_at, Proposal.created_at), True), (Proposal.id, True)]
    page = max(1, page)
    # The page's ids are chosen on narrow rows (id and sort keys), then only those rows are loaded with their
    # joined organisation, service, life event and author: sorting every matching row joined and in full
    # costs ~5x more with 10,000 proposals (bench/proposals.py). Still one query.
    # A search reads and sorts every match anyway: the page carries their number (``count(*) OVER ()``) instead of a
    # second pass over the matches (on PostgreSQL, ranking « passeport » was 14 ms and counting it again 11 ms).
    # Without a search the count reads one index, and the page stops at its last row: two queries stay cheaper.
    columns = [key.label(f"k{i}") for i, (key, _) in enumerate(keys)]
    if matches is None:
        narrow = base.with_only_columns(Proposal.id.label("id"), *columns)
        counted = []
    else:
        # The matches are gathered first (a materialised CTE), then counted and sorted: left to itself, PostgreSQL
        # walked the whole « newest » index to avoid a sort, testing every row's text on the way (8.8 ms instead
        # of 1.0 for « passeport » on 10,000 proposals), though a count of the matches must read them all anyway.
        gathered = base.with_only_columns(Proposal.id.label("id"), *columns).cte("matched").prefix_with("MATERIALIZED")
        columns = [gathered.c[f"k{i}"] for i in range(len(keys))]
        narrow = select(gathered.c.id, *columns)
        counted = [func.count().over().label("total")]
    chosen = (narrow.add_columns(*counted)
              .order_by(*[c.desc() if desc else c.asc() for c, (_, desc) in zip(columns, keys, strict=True)])
              .offset((page - 1) * per_page).limit(per_page).subquery())
    outer = [chosen.c[f"k{i}"].desc() if desc else chosen.c[f"k{i}"].asc() for i, (_, desc) in enumerate(keys)]
    if matches is None:
        total = db.session.scalar(select(func.count()).select_from(base.order_by(None).subquery()))
        items = db.session.scalars(select(Proposal).join(chosen, chosen.c.id == Proposal.id).order_by(*outer))
        return list(items), total
    rows = db.session.execute(select(Proposal, chosen.c.total).join(chosen, chosen.c.id == Proposal.id)
                              .order_by(*outer)).all()
    if rows:
        return [proposal for proposal, _ in rows], rows[0][1]
    # Past the last page: no row carries the number.
    return [], db.session.scalar(select(func.count()).select_from(base.order_by(None).subquery()))


def similar_proposals(q: str, *, organisation_id=None, exclude_id=None, limit: int = 5) -> list[Proposal]:
    """Public proposals sharing words with ``q`` (any word), best match first: duplicate hints."""
    matches = search.matching(q, any_word=True)
    if matches is None:
        return []
    stmt = (matches.apply(select(Proposal))
            .where(Proposal.state.in_(PUBLIC_STATES - {ProposalState.merged}), Proposal.hidden_at.is_(None)))
    if organisation_id:
        stmt = stmt.where(Proposal.organisation_id == organisation_id)
    if exclude_id:
        stmt = stmt.where(Proposal.id != exclude_id)
    return list(db.session.scalars(stmt.order_by(matches.rank, Proposal.support_count.desc()).limit(limit)))


def list_mine(user: User) -> list[Proposal]:
    return list(db.session.scalars(select(Proposal).where(Proposal.author_id == user.id)
                                   .order_by(Proposal.created_at.desc())))
