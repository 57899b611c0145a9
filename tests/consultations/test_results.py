"""Reference cases and properties for the pure result functions (no database)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.consultations import results as R
from app.consultations.results import (
    InvalidBallot,
    compute,
    lower_median,
    majority_value,
    select,
    tally_dots,
    tally_majority,
    tally_support,
)

EXC, TB, B, AB, P, INS, REJ = 6, 5, 4, 3, 2, 1, 0


def ranks(tally):
    return {row.proposal_id: row.rank for row in tally.rows}


def naive_majority_value(grades):
    """Oracle: literally remove the lower median grade, one at a time."""
    remaining = sorted(grades)
    out = []
    while remaining:
        out.append(remaining.pop((len(remaining) - 1) // 2))
    return tuple(out)


# --- support -------------------------------------------------------------------------------------

def test_support_counts_and_ranks_with_shared_ranks():
    tally = tally_support([1, 2, 3, 4], [{1, 2}, {1}, {2, 3}, set()])
    assert tally.ballots_cast == 4
    assert [(r.proposal_id, r.rank, r.score) for r in tally.rows] == [(1, 1, 2), (2, 1, 2), (3, 3, 1), (4, 4, 0)]


def test_support_refuses_a_proposal_outside_the_consultation():
    with pytest.raises(InvalidBallot):
        tally_support([1, 2], [{1, 3}])


def test_support_threshold_selects_at_or_above():
    tally = select(tally_support([1, 2, 3], [{1, 2}, {1}, {1, 3}]), R.THRESHOLD, 2)
    assert tally.selected_ids == [1]
    tally = select(tally_support([1, 2, 3], [{1, 2}, {1}, {1, 3}]), R.THRESHOLD, 1)
    assert tally.selected_ids == [1, 2, 3]


def test_support_without_threshold_selects_nothing():
    assert select(tally_support([1, 2], [{1}]), R.THRESHOLD, None).selected_ids == []


def test_top_k_selects_every_proposal_tied_at_the_cut():
    # 1 has 3, 2 and 3 have 2 each, 4 has 1: top 2 takes 1, 2 and 3.
    ballots = [{1, 2, 3}, {1, 2, 3, 4}, {1}]
    assert select(tally_support([1, 2, 3, 4], ballots), R.TOP_K, 2).selected_ids == [1, 2, 3]
    assert select(tally_support([1, 2, 3, 4], ballots), R.TOP_K, 1).selected_ids == [1]


def test_unbacked_proposal_is_never_selected_by_top_k():
    assert select(tally_support([1, 2, 3], [{1}]), R.TOP_K, 3).selected_ids == [1]


def test_zero_ballots_rank_everyone_equal_and_select_nothing():
    for method in (R.SUPPORT, R.DOTS, R.MAJORITY):
        tally = compute(method, [5, 6], [], R.TOP_K, 1)
        assert tally.ballots_cast == 0
        assert ranks(tally) == {5: 1, 6: 1}
        assert tally.selected_ids == []


def test_empty_support_ballots_count_as_participation_only():
    tally = tally_support([1, 2], [set(), set(), {2}])
    assert tally.ballots_cast == 3
    assert tally.by_proposal()[2].score == 1 and tally.by_proposal()[1].score == 0


# --- dots ----------------------------------------------------------------------------------------

def test_dots_sum_and_rank():
    tally = tally_dots([1, 2, 3], [{1: 3, 2: 2}, {2: 4}, {3: 1, 1: 0}])
    assert [(r.proposal_id, r.rank, r.score, r.backers) for r in tally.rows] == [
        (2, 1, 6, 2), (1, 2, 3, 1), (3, 3, 1, 1)]


def test_dots_refuse_negative_points():
    with pytest.raises(InvalidBallot):
        tally_dots([1], [{1: -1}])


def test_dots_threshold():
    tally = select(tally_dots([1, 2], [{1: 3, 2: 2}, {1: 1}]), R.THRESHOLD, 4)
    assert tally.selected_ids == [1]


# --- majority judgment ---------------------------------------------------------------------------

def test_lower_median_for_even_counts():
    assert lower_median([1, 0, 0, 0, 0, 0, 1]) == REJ  # {À rejeter, Excellent}: the lower one
    assert lower_median([0, 0, 0, 2, 0, 0, 0]) == AB
    assert lower_median([0] * 7) == REJ


def test_lower_median_decides_where_the_upper_median_would_not():
    # A = {Passable, Très bien}: lower median Passable. B = {Assez bien, Assez bien}: Assez bien. B wins.
    tally = tally_majority([1, 2], [{1: P, 2: AB}, {1: TB, 2: AB}])
    assert ranks(tally) == {2: 1, 1: 2}
    assert tally.by_proposal()[1].median == P


def test_majority_tie_break_by_removing_median_grades():
    # Both have median « Bien ». Removing one « Bien » leaves A's lower median « Assez bien » and
    # B's « Passable »: A is ahead although B has more « Très bien » and fewer low grades overall.
    a = [EXC, B, B, AB, INS]
    b = [TB, B, B, P, P]
    ballots = [{1: ga, 2: gb} for ga, gb in zip(a, b, strict=True)]
    tally = tally_majority([1, 2], ballots)
    assert tally.by_proposal()[1].median == tally.by_proposal()[2].median == B
    assert majority_value([a.count(g) for g in range(7)]) == (B, AB, B, INS, EXC)
    assert majority_value([b.count(g) for g in range(7)]) == (B, P, B, P, TB)
    assert ranks(tally) == {1: 1, 2: 2}


def test_majority_tie_break_several_rounds_deep():
    # Same median and same second median; the third removal decides.
    a = [B, B, B, AB, TB, EXC]
    b = [B, B, B, AB, TB, TB]
    va = majority_value([a.count(g) for g in range(7)])
    vb = majority_value([b.count(g) for g in range(7)])
    assert va[:5] == vb[:5] and va > vb  # only the last grade differs
    tally = tally_majority([1, 2], [{1: x, 2: y} for x, y in zip(a, b, strict=True)])
    assert ranks(tally) == {1: 1, 2: 2}


def test_equal_profiles_are_ex_aequo_whatever_the_ballots():
    # A and B get the same grades from different people: same profile, same rank; C below.
    ballots = [{1: EXC, 2: P, 3: P}, {1: P, 2: EXC, 3: P}, {1: B, 2: B, 3: P}]
    tally = tally_majority([1, 2, 3], ballots)
    assert ranks(tally) == {1: 1, 2: 1, 3: 3}
    assert tally.by_proposal()[1].profile == tally.by_proposal()[2].profile


def test_ungraded_counts_as_reject_and_empty_ballots_count():
    tally = tally_majority([1, 2], [{1: EXC}, {}, {1: EXC, 2: EXC}])
    row1, row2 = tally.by_proposal()[1], tally.by_proposal()[2]
    assert tally.ballots_cast == 3
    assert row1.profile[EXC] == 2 and row1.profile[REJ] == 1 and row1.median == EXC
    assert row2.profile[EXC] == 1 and row2.profile[REJ] == 2 and row2.median == REJ
    assert (row1.backers, row2.backers) == (2, 1)


def test_majority_refuses_grade_out_of_range():
    for bad in (-1, 7):
        with pytest.raises(InvalidBallot):
            tally_majority([1], [{1: bad}])


def test_majority_threshold_is_a_minimum_median_grade():
    ballots = [{1: B, 2: AB}, {1: TB, 2: P}, {1: B, 2: B}]
    assert select(tally_majority([1, 2], ballots), R.THRESHOLD, B).selected_ids == [1]
    assert select(tally_majority([1, 2], ballots), R.THRESHOLD, AB).selected_ids == [1, 2]


def test_median_reject_is_never_selected():
    assert select(tally_majority([1], [{}, {}]), R.TOP_K, 1).selected_ids == []


def test_duplicate_proposal_ids_refused():
    with pytest.raises(InvalidBallot):
        tally_support([1, 1], [])


# --- properties ----------------------------------------------------------------------------------

IDS = [11, 12, 13, 14]
grades = st.integers(min_value=REJ, max_value=EXC)
mj_ballot = st.dictionaries(st.sampled_from(IDS), grades)
support_ballot = st.sets(st.sampled_from(IDS))
dots_ballot = st.dictionaries(st.sampled_from(IDS), st.integers(min_value=0, max_value=5))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=REJ, max_value=EXC), max_size=15))
def test_majority_value_matches_removing_medians_one_by_one(grade_list):
    assert majority_value([grade_list.count(g) for g in range(7)]) == naive_majority_value(grade_list)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([(R.SUPPORT, support_ballot), (R.DOTS, dots_ballot), (R.MAJORITY, mj_ballot)])
       .flatmap(lambda m: st.tuples(st.just(m[0]), st.lists(m[1], max_size=12))), st.randoms(),
       st.sampled_from([R.THRESHOLD, R.TOP_K]), st.integers(min_value=1, max_value=6))
def test_permuting_ballots_or_proposals_never_changes_the_result(method_ballots, rnd, rule, value):
    method, ballots = method_ballots
    shuffled = list(ballots)
    rnd.shuffle(shuffled)
    ids = list(IDS)
    rnd.shuffle(ids)
    assert compute(method, IDS, ballots, rule, value) == compute(method, ids, shuffled, rule, value)


@settings(max_examples=300, deadline=None)
@given(st.lists(mj_ballot, max_size=10), st.sampled_from(IDS), st.sampled_from(IDS))
def test_majority_one_ballot_with_a_excellent_and_b_rejected_never_puts_b_above_a(ballots, a, b):
    if a == b:
        return
    before = ranks(tally_majority(IDS, ballots))
    after = ranks(tally_majority(IDS, [*ballots, {a: EXC, b: REJ}]))
    if before[a] <= before[b]:
        assert after[a] <= after[b]
    if before[a] < before[b]:
        assert after[a] < after[b]


def test_majority_a_mild_preference_can_reverse_an_order():
    """Why the property above uses Excellent / À rejeter: with milder grades it is false for majority judgment
    (medians move with the number of ballots). A = {P, P} beats B = {REJ, TB}; adding {A: EXC, B: TB}
    gives A = {P, P, EXC} (median P) and B = {REJ, TB, TB} (median TB)."""
    ballots = [{1: P, 2: REJ}, {1: P, 2: TB}]
    assert ranks(tally_majority([1, 2], ballots)) == {1: 1, 2: 2}
    assert ranks(tally_majority([1, 2], [*ballots, {1: EXC, 2: TB}])) == {2: 1, 1: 2}


@settings(max_examples=300, deadline=None)
@given(st.lists(mj_ballot, min_size=1, max_size=10), st.sampled_from(IDS), st.data())
def test_majority_raising_a_grade_never_lowers_that_proposal(ballots, a, data):
    index = data.draw(st.integers(min_value=0, max_value=len(ballots) - 1))
    current = ballots[index].get(a, REJ)
    raised = data.draw(st.integers(min_value=current, max_value=EXC))
    better = [dict(bal) for bal in ballots]
    better[index][a] = raised
    before, after = ranks(tally_majority(IDS, ballots)), ranks(tally_majority(IDS, better))
    for other in IDS:
        if before[a] <= before[other]:
            assert after[a] <= after[other]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([R.SUPPORT, R.DOTS]), st.lists(dots_ballot, max_size=10), st.sampled_from(IDS),
       st.sampled_from(IDS), st.integers(min_value=0, max_value=4), st.integers(min_value=1, max_value=5))
def test_support_and_dots_a_ballot_preferring_a_never_puts_b_above_a(method, ballots, a, b, low, gap):
    if a == b:
        return
    if method == R.SUPPORT:
        ballots = [{pid for pid, v in bal.items() if v} for bal in ballots]
        extra = {a}
    else:
        extra = {a: low + gap, b: low}
    before = ranks(compute(method, IDS, ballots, R.TOP_K, 1))
    after = ranks(compute(method, IDS, [*ballots, extra], R.TOP_K, 1))
    if before[a] <= before[b]:
        assert after[a] < after[b]
