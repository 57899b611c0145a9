"""Full-text search on both backends: SQLite FTS5 (prefix of a light stem) and PostgreSQL (French stemmer)."""

import json

import pytest
from sqlalchemy import insert, text, update

from app.extensions import db
from app.proposals import moderation, queries, search, service
from app.proposals.models import Proposal, ProposalState
from tests.proposals.helpers import World, propose
from tests.queries import recorded_executions, recorded_statements

pytestmark = pytest.mark.both_databases("app.proposals.search")


@pytest.fixture
def world(app):
    return World()


def titles(items):
    return sorted(p.title for p in items)


def test_search_finds_a_word_in_another_form(world):
    propose(world.citizen, world, title="Je veux déménager sans refaire mes papiers", problem="Trop de papiers.")
    propose(world.citizen, world, title="Horaires des guichets", problem="Fermés le samedi.",
            change="Ouvrir le samedi.")
    items, total = queries.list_proposals(q="déménagement")
    assert total == 1 and titles(items) == ["Je veux déménager sans refaire mes papiers"]


def test_search_without_match_finds_nothing(world):
    propose(world.citizen, world, title="Horaires des guichets", problem="Fermés le samedi.", change="Ouvrir.")
    items, total = queries.list_proposals(q="déménagement")
    assert (items, total) == ([], 0)


def test_search_follows_edits(world):
    proposal = propose(world.citizen, world, title="Horaires des guichets", problem="Fermés.", change="Ouvrir.")
    service.edit_proposal(proposal, world.citizen, title="Déménager plus simplement", problem="p", change="c")
    assert titles(queries.list_proposals(q="déménagement")[0]) == ["Déménager plus simplement"]
    assert queries.list_proposals(q="guichets")[1] == 0


def test_search_skips_withdrawn_and_hidden(world):
    a = propose(world.citizen, world, title="Déménager A")
    b = propose(world.citizen, world, title="Déménager B")
    service.withdraw_proposal(a, world.citizen)
    moderation.hide_proposal(b, world.editor, "Doublon")
    assert queries.list_proposals(q="déménager")[1] == 0
    assert queries.similar_proposals("déménager") == []


def test_similar_matches_any_word(world):
    propose(world.citizen, world, title="Carte grise en ligne", problem="p", change="c")
    propose(world.citizen, world, title="Déménagement et impôts", problem="p", change="c")
    assert titles(queries.similar_proposals("déménagement carte")) == ["Carte grise en ligne",
                                                                       "Déménagement et impôts"]


def test_query_syntax_is_not_interpreted(world):
    propose(world.citizen, world, title="Déménager", problem="p", change="c")
    for q in ['"', "NEAR(", "a* OR", "') --", "déménager)|(", "&&!!"]:
        queries.list_proposals(q=q)
        queries.similar_proposals(q)


def test_search_structures_exist_on_this_backend(app, backend):
    if backend == "sqlite":
        names = set(db.session.scalars(text("SELECT name FROM sqlite_master WHERE name LIKE 'proposals_fts%'")))
        assert {"proposals_fts", "proposals_fts_ai", "proposals_fts_au", "proposals_fts_ad"} <= names
    else:
        assert db.session.scalar(text("SELECT count(*) FROM pg_indexes WHERE indexname = :n"),
                                 {"n": search.PG_INDEX}) == 1


def test_french_stemming_on_postgresql(app, backend):
    if backend != "postgresql":
        pytest.skip("the French stemmer is PostgreSQL's")
    assert db.session.scalar(text("SELECT to_tsvector('french', 'déménager') @@ "
                                  "plainto_tsquery('french', 'déménagement')")) is True


def test_state_changed_elsewhere_is_searchable(world):
    proposal = propose(world.citizen, world, title="Déménager vite")
    db.session.execute(update(Proposal).where(Proposal.id == proposal.id).values(state=ProposalState.in_vote))
    db.session.commit()
    assert queries.list_proposals(q="déménager", state="in_vote")[1] == 1


@pytest.mark.parametrize("sort", ["newest", "relevance", "supported"])
def test_a_search_page_carries_the_number_of_matches_and_reads_them_once(world, sort):
    """The page of a search comes with its total (``count(*) OVER ()``), reading the matches once; past the last
    page, the total is still told (counted apart, as no row carries it)."""
    for k in range(7):
        propose(world.citizen, world, title=f"Déménager sans papiers {k}", problem="Trop de papiers.")
    propose(world.citizen, world, title="Horaires des guichets", problem="Fermés le samedi.")
    with recorded_statements() as statements:
        items, total = queries.list_proposals(q="déménager", sort=sort, page=2, per_page=3)
    assert (len(items), total) == (3, 7)
    assert sum("proposals_fts" in s or "search_fr" in s for s in statements) == 1  # the matches are read once
    assert queries.list_proposals(q="déménager", sort=sort, page=4, per_page=3) == ([], 7)
    assert queries.list_proposals(q="déménager", sort=sort, page=3, per_page=3)[1] == 7


def _plan_nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _plan_nodes(child)


def test_a_postgresql_search_reads_proposals_through_its_index_and_once(world, backend):
    """On a table of a few thousand proposals, a search for a word in 1 of 15 goes through the GIN index (with the
    planner's random page cost of 1.1 that Atelier sets; the server's default of 4 scanned the whole table and
    computed every row's match, 4x slower), and the matches are read in the scan that chooses the page: the table
    is read twice in all (the page, then its rows with their joins), not three times."""
    if backend != "postgresql":
        pytest.skip("the planner's choice is PostgreSQL's")
    filler = ("Il faut remplir le même formulaire à chaque étape et renvoyer des pièces déjà fournies à "
              "l'administration. ") * 4
    db.session.execute(insert(Proposal), [
        {"organisation_id": world.organisation.id, "service_id": world.service.id, "author_id": world.citizen.id,
         "title": f"{'Passeport' if k % 15 == 0 else 'Carte grise'} : démarche {k}", "problem": filler,
         "change": f"Simplifier l'étape {k}.", "benefit": filler, "state": ProposalState.published}
        for k in range(3000)])
    db.session.commit()
    db.session.execute(text("ANALYZE proposals"))
    db.session.commit()
    assert db.session.scalar(text("SHOW random_page_cost")) == "1.1"
    for sort in ("relevance", "newest"):
        with recorded_executions() as executions:
            items, total = queries.list_proposals(q="passeport", sort=sort, page=2)
        assert (len(items), total) == (20, 200)
        statement, parameters = executions[0]
        plan = db.session.connection().exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters).scalar()
        nodes = list(_plan_nodes((plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"]))
        assert any(node.get("Index Name") == search.PG_INDEX for node in nodes), sort
        assert sum(node.get("Relation Name") == "proposals" for node in nodes) == 2, sort
        db.session.rollback()
