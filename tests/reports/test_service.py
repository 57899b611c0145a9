"""Report figures on a built data set with known answers (tests/reports/helpers.py), on SQLite and PostgreSQL."""

from datetime import timedelta

import pytest

from app.decisions import service as decisions
from app.decisions.models import AnswerKind, MeasureStatus
from app.reports import service
from app.reports.charts import Bar, bar_chart
from tests.decisions.helpers import World
from tests.queries import recorded_statements
from tests.reports.helpers import build


@pytest.fixture
def data(app):
    return build(World())


def funnel_of(board) -> dict:
    return dict(board.total.stages())


@pytest.mark.both_databases("app.reports.service")
def test_organisation_figures_count_received_answered_adopted_and_overdue(data):
    figures = service.organisation_figures(data.world.organisation.id)
    assert figures.received == 7  # p1-p6, p11: not the hidden, draft or merged ones, nor B's
    assert figures.by_kind == {AnswerKind.adopted: 1, AnswerKind.not_adopted: 1, AnswerKind.partly_adopted: 1,
                               AnswerKind.already_exists: 1}
    assert (figures.answered, figures.adopted, figures.awaiting) == (4, 2, 3)
    assert [item.proposal.title for item in figures.overdue] == ["P4 en retard"]
    assert figures.overdue_count == 1 and figures.deadline_days == 60 and not figures.from_publication


@pytest.mark.both_databases("app.reports.service")
def test_median_answer_time_counts_from_selection_or_else_publication(data):
    """10, 20, 30 and 40 days: the median of an even count is the mean of the middle two."""
    figures = service.organisation_figures(data.world.organisation.id)
    assert figures.median_answer_days == pytest.approx(25.0, abs=1e-6)


@pytest.mark.both_databases("app.reports.service")
def test_median_answer_time_of_an_odd_count_is_the_middle_one(data):
    other = service.organisation_figures(data.world.other_organisation.id)
    assert other.median_answer_days == pytest.approx(1.0, abs=1e-6)  # p10 alone, answered a day after publication
    assert (other.received, other.answered, other.adopted, other.overdue_count) == (1, 1, 1, 0)


@pytest.mark.both_databases("app.reports.service")
def test_counting_from_publication_changes_the_median_and_the_overdue_count(data):
    world = data.world
    decisions.set_settings(world.organisation, world.editor, deadline_days=60, from_publication=True)
    figures = service.organisation_figures(world.organisation.id)
    assert figures.median_answer_days == pytest.approx(30.0, abs=1e-6)  # 20, 20, 40, 40
    assert sorted(item.proposal.title for item in figures.overdue) == ["P4 en retard", "P6"]
    assert figures.from_publication


@pytest.mark.both_databases("app.reports.service")
def test_an_organisation_without_proposals_has_no_median(app):
    world = World()
    figures = service.organisation_figures(world.organisation.id)
    assert (figures.received, figures.answered, figures.median_answer_days, figures.overdue) == (0, 0, None, [])


@pytest.mark.both_databases("app.reports.service")
def test_overdue_figures_reuse_the_decisions_deadline_rule(data):
    """Same proposals as the awaiting-answer page of the decisions area, at any reference time."""
    later = data.now + timedelta(days=60)
    org = data.world.organisation.id
    expected = {item.proposal.id for item in decisions.awaiting_answer(org, later) if item.overdue}
    assert {item.proposal.id for item in service.organisation_figures(org, later).overdue} == expected
    assert expected == {data.proposals["p4"].id, data.proposals["p5"].id}


@pytest.mark.both_databases("app.reports.service")
def test_measures_by_status_and_their_milestones(data):
    org = data.world.organisation.id
    assert service.measure_status_counts(org) == {MeasureStatus.planned: 1, MeasureStatus.in_progress: 1,
                                                  MeasureStatus.implemented: 1, MeasureStatus.abandoned: 1}
    rows = {row.title: row for row in service.list_measures(org)}
    assert set(rows) == {"Mesure prévue", "Mesure en cours", "Mesure réalisée", "Mesure abandonnée"}
    assert (rows["Mesure en cours"].progress, rows["Mesure en cours"].milestones,
            rows["Mesure en cours"].milestones_done) == (40, 2, 1)
    assert [row.title for row in service.list_measures(org, page=2, per_page=3)] == ["Mesure prévue"]


@pytest.mark.both_databases("app.reports.service")
def test_funnel_in_total_and_per_organisation(data):
    board = service.dashboard(service.Filters())
    assert funnel_of(board) == {"ideas": 5, "proposals": 8, "selected": 4, "adopted": 3, "implemented": 2}
    per_org = {org.id: dict(f.stages()) for org, f in board.by_organisation}
    assert per_org[data.world.organisation.id] == {"ideas": 3, "proposals": 7, "selected": 4, "adopted": 2,
                                                   "implemented": 1}
    assert per_org[data.world.other_organisation.id] == {"ideas": 2, "proposals": 1, "selected": 0, "adopted": 1,
                                                         "implemented": 1}
    assert board.measures == {MeasureStatus.planned: 1, MeasureStatus.in_progress: 1,
                              MeasureStatus.implemented: 2, MeasureStatus.abandoned: 1}
    assert board.total.share("adopted") == pytest.approx(3 / 8)


@pytest.mark.both_databases("app.reports.service")
def test_funnel_filtered_by_organisation(data):
    board = service.dashboard(service.Filters(organisation_id=data.world.other_organisation.id))
    assert funnel_of(board) == {"ideas": 2, "proposals": 1, "selected": 0, "adopted": 1, "implemented": 1}
    assert [org.id for org, _f in board.by_organisation] == [data.world.other_organisation.id]
    assert board.measures[MeasureStatus.implemented] == 1 and sum(board.measures.values()) == 1


@pytest.mark.both_databases("app.reports.service")
def test_funnel_filtered_by_life_event(data):
    """Proposals about the life event; ideas from boards of workshops about it; measures fed by such proposals."""
    board = service.dashboard(service.Filters(life_event_id=data.life_event.id))
    assert funnel_of(board) == {"ideas": 3, "proposals": 3, "selected": 2, "adopted": 1, "implemented": 1}
    assert board.measures == {MeasureStatus.planned: 0, MeasureStatus.in_progress: 0,
                              MeasureStatus.implemented: 1, MeasureStatus.abandoned: 0}


@pytest.mark.both_databases("app.reports.service")
def test_funnel_filtered_by_period(data):
    since, until = (data.now - timedelta(days=15)).date(), (data.now - timedelta(days=2)).date()
    board = service.dashboard(service.Filters(since=since, until=until))
    # p5 (-5 d) and p10 (-10 d); the ideas were posted today, after the period.
    assert funnel_of(board) == {"ideas": 0, "proposals": 2, "selected": 1, "adopted": 1, "implemented": 1}
    assert board.measures == {MeasureStatus.planned: 0, MeasureStatus.in_progress: 0,
                              MeasureStatus.implemented: 2, MeasureStatus.abandoned: 1}


def test_a_period_ending_before_it_starts_is_refused(data):
    with pytest.raises(service.PeriodInverted):
        service.Filters(since=data.now.date(), until=(data.now - timedelta(days=1)).date())
    assert service.Filters(since=data.now.date(), until=data.now.date()).until == data.now.date()  # one day: fine


@pytest.mark.both_databases("app.reports.service")
def test_dashboard_issues_a_fixed_number_of_queries_and_keeps_its_proposal_figures_until_the_data_changes(data):
    organisations, filters = service.list_organisations(), service.Filters(life_event_id=data.life_event.id)
    with recorded_statements() as statements:
        first = service.dashboard(filters, organisations)
        computed = len(statements)
        again = service.dashboard(filters, organisations)
    # the data version, proposals per organisation, ideas per organisation, measures by status
    assert computed == 4
    # kept: the data version and the ideas (counted on every view), and the same figures
    assert len(statements) - computed == 2 and "data_versions" in statements[computed]
    assert again == first


def test_chart_is_an_accessible_image_with_escaped_labels():
    svg = str(bar_chart([Bar("<b>Idées</b>", 4), Bar("Propositions", 2, tone="chart-bar-muted")],
                        chart_id="c1", title="Titre & co", desc="4 idées, 2 propositions"))
    assert svg.startswith('<svg class="chart" id="c1" role="img"') and 'aria-labelledby="c1-title c1-desc"' in svg
    assert '<title id="c1-title">Titre &amp; co</title>' in svg and '<desc id="c1-desc">4 idées' in svg
    assert "&lt;b&gt;Idées&lt;/b&gt;" in svg and "<b>" not in svg and "style=" not in svg
    assert 'class="chart-bar chart-bar-muted"' in svg
    # bars are scaled to the largest value; an all-zero chart divides by nothing
    assert 'width="340.0"' in svg and 'width="170.0"' in svg
    assert 'width="0.0"' in str(bar_chart([Bar("Rien", 0)], chart_id="c2", title="t", desc="d"))
