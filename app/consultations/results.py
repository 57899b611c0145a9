"""Vote results: pure, deterministic functions of the ballots. No database, no clock, no randomness.

Three methods:

- **support**: each ballot approves any number of proposals; score = number of approvals.
- **dots**: each ballot spreads points; score = sum of points.
- **majority judgment** (Balinski & Laraki): each ballot grades proposals on seven grades. A proposal
  left ungraded on a ballot counts as « À rejeter » (the lowest grade), so every proposal is judged by
  every ballot. Proposals are ranked by their *majority value*: the lower median grade (for an even
  number of grades, the lower of the two middle ones), then — to break ties — the lower median once one
  median grade is removed, and so on until the grades differ or run out (this is the "majority value"
  of Balinski & Laraki, also used by Mieux Voter). Two proposals with the same merit profile are ex aequo.

Ranks are shared (competition ranking "1, 1, 3"): tied proposals get the same rank and the next rank
skips. Within a rank, rows are listed by proposal id so the output never depends on input order.

Selection: by threshold (score ≥ threshold; for majority judgment, median grade ≥ the threshold grade)
or top k (every proposal whose rank is ≤ k, so all proposals tied at the cut are selected). A proposal
nobody backed (score 0, or median « À rejeter ») is never selected, and nothing is selected when no
ballot was cast.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

# Grades are integers, higher is better. 0 = « À rejeter », 6 = « Excellent ».
REJECT = 0
EXCELLENT = 6
GRADE_VALUES = tuple(range(EXCELLENT, REJECT - 1, -1))  # best first, as shown on ballots and results
NUM_GRADES = EXCELLENT + 1

SUPPORT = "support"
DOTS = "dots"
MAJORITY = "majority"

THRESHOLD = "threshold"
TOP_K = "top_k"


class InvalidBallot(ValueError):
    """A ballot handed to a tally function breaks the method's shape (unknown proposal, bad value)."""


@dataclass(frozen=True)
class ProposalResult:
    proposal_id: int
    rank: int
    score: int  # support: approvals; dots: points; majority: the median grade
    # Majority judgment: number of each grade, indexed by grade value (0 = À rejeter ... 6 = Excellent).
    # Support / dots: empty.
    profile: tuple[int, ...] = ()
    # Support / dots: ballots that gave this proposal anything. Majority: ballots that graded it explicitly.
    backers: int = 0
    selected: bool = False

    @property
    def median(self) -> int | None:
        return self.score if self.profile else None


@dataclass(frozen=True)
class Tally:
    method: str
    ballots_cast: int
    rows: tuple[ProposalResult, ...] = field(default_factory=tuple)

    def by_proposal(self) -> dict[int, ProposalResult]:
        return {row.proposal_id: row for row in self.rows}

    @property
    def selected_ids(self) -> list[int]:
        return [row.proposal_id for row in self.rows if row.selected]


# --- helpers --------------------------------------------------------------------------------------

def _check_ids(proposal_ids: Sequence[int]) -> list[int]:
    ids = list(proposal_ids)
    if len(set(ids)) != len(ids):
        raise InvalidBallot("duplicate proposal id")
    return sorted(ids)


def _rank(ids: list[int], key: Mapping[int, object]) -> list[tuple[int, int]]:
    """(proposal_id, rank) best first; equal keys share a rank; ties listed by id."""
    # sorted() is stable, also with reverse=True: equal keys keep the ascending id order.
    ordered = sorted(sorted(ids), key=key.__getitem__, reverse=True)
    out: list[tuple[int, int]] = []
    for position, pid in enumerate(ordered, start=1):
        if out and key[pid] == key[out[-1][0]]:
            out.append((pid, out[-1][1]))
        else:
            out.append((pid, position))
    return out


# --- support and dots -----------------------------------------------------------------------------

def tally_support(proposal_ids: Sequence[int], ballots: Iterable[Iterable[int]]) -> Tally:
    """Count approvals. Each ballot is the set of proposal ids it approves (possibly empty)."""
    ids = _check_ids(proposal_ids)
    known = set(ids)
    counts = dict.fromkeys(ids, 0)
    cast = 0
    for ballot in ballots:
        cast += 1
        chosen = set(ballot)
        if not chosen <= known:
            raise InvalidBallot("ballot approves a proposal outside the consultation")
        for pid in chosen:
            counts[pid] += 1
    rows = tuple(ProposalResult(pid, rank, counts[pid], backers=counts[pid])
                 for pid, rank in _rank(ids, counts))
    return Tally(SUPPORT, cast, rows)


def tally_dots(proposal_ids: Sequence[int], ballots: Iterable[Mapping[int, int]]) -> Tally:
    """Sum points. Each ballot maps proposal id -> points (≥ 0; missing = 0)."""
    ids = _check_ids(proposal_ids)
    known = set(ids)
    points = dict.fromkeys(ids, 0)
    backers = dict.fromkeys(ids, 0)
    cast = 0
    for ballot in ballots:
        cast += 1
        if not set(ballot) <= known:
            raise InvalidBallot("ballot gives points to a proposal outside the consultation")
        for pid, value in ballot.items():
            if not isinstance(value, int) or value < 0:
                raise InvalidBallot("points must be non-negative integers")
            points[pid] += value
            backers[pid] += 1 if value else 0
    rows = tuple(ProposalResult(pid, rank, points[pid], backers=backers[pid])
                 for pid, rank in _rank(ids, points))
    return Tally(DOTS, cast, rows)


# --- majority judgment ----------------------------------------------------------------------------

def lower_median(profile: Sequence[int]) -> int:
    """The lower median grade of a merit profile (counts indexed by grade). Empty profile: « À rejeter »."""
    total = sum(profile)
    if total == 0:
        return REJECT
    target = (total - 1) // 2  # 0-based position of the lower median in ascending order
    seen = 0
    for grade, count in enumerate(profile):
        seen += count
        if seen > target:
            return grade
    raise AssertionError("unreachable")


def majority_value(profile: Sequence[int]) -> tuple[int, ...]:
    """The sequence of lower medians obtained by removing one median grade at a time.

    Comparing these sequences lexicographically is the Balinski–Laraki tie-break: the first median that
    differs decides; identical sequences mean identical profiles (ex aequo). Its length is the number
    of grades in the profile.
    """
    grades: list[int] = []
    for grade, count in enumerate(profile):
        grades.extend([grade] * count)
    # Removed medians always form a contiguous window of the sorted grades: keep what is left on either
    # side of it. The lower median of what remains is the last of the left part or the first of the right.
    n = len(grades)
    if n == 0:
        return ()
    middle = (n - 1) // 2
    lo, hi = middle, middle  # window [lo, hi] removed so far, after the first removal
    out = [grades[middle]]
    while len(out) < n:
        left = lo            # elements before the window
        right = n - hi - 1   # elements after it
        position = (left + right - 1) // 2
        if position < left:
            lo -= 1
            out.append(grades[lo])
        else:
            hi += 1
            out.append(grades[hi])
    return tuple(out)


def merit_profiles(proposal_ids: Sequence[int], ballots: Iterable[Mapping[int, int]]
                   ) -> tuple[int, dict[int, list[int]], dict[int, int]]:
    """(ballots cast, profile per proposal, explicit grades per proposal); ungraded = « À rejeter »."""
    ids = _check_ids(proposal_ids)
    known = set(ids)
    profiles = {pid: [0] * NUM_GRADES for pid in ids}
    graded = dict.fromkeys(ids, 0)
    cast = 0
    for ballot in ballots:
        cast += 1
        if not set(ballot) <= known:
            raise InvalidBallot("ballot grades a proposal outside the consultation")
        for pid in ids:
            grade = ballot.get(pid)
            if grade is None:
                grade = REJECT
            else:
                if not isinstance(grade, int) or not REJECT <= grade <= EXCELLENT:
                    raise InvalidBallot("grade out of range")
                graded[pid] += 1
            profiles[pid][grade] += 1
    return cast, profiles, graded


def tally_majority(proposal_ids: Sequence[int], ballots: Iterable[Mapping[int, int]]) -> Tally:
    """Majority judgment. Each ballot maps proposal id -> grade (0..6); a missing proposal is « À rejeter »."""
    cast, profiles, graded = merit_profiles(proposal_ids, ballots)
    ids = sorted(profiles)
    keys = {pid: majority_value(profiles[pid]) for pid in ids}
    rows = tuple(ProposalResult(pid, rank, lower_median(profiles[pid]), profile=tuple(profiles[pid]),
                                backers=graded[pid])
                 for pid, rank in _rank(ids, keys))
    return Tally(MAJORITY, cast, rows)


# --- selection ------------------------------------------------------------------------------------

def select(tally: Tally, rule: str, value: int | None) -> Tally:
    """Mark the selected rows. ``rule`` is ``threshold`` (value = minimum score / median grade) or
    ``top_k`` (value = k; every proposal ranked ≤ k, so ties at the cut are all in). ``value`` None:
    nothing is selected (a support vote without a threshold is only a ranking)."""
    if rule not in (THRESHOLD, TOP_K):
        raise ValueError(f"unknown selection rule {rule!r}")
    rows = []
    for row in tally.rows:
        backed = tally.ballots_cast > 0 and row.score > 0
        if value is None or not backed:
            chosen = False
        elif rule == THRESHOLD:
            chosen = row.score >= value
        else:
            chosen = row.rank <= value
        rows.append(ProposalResult(row.proposal_id, row.rank, row.score, row.profile, row.backers, chosen))
    return Tally(tally.method, tally.ballots_cast, tuple(rows))


def compute(method: str, proposal_ids: Sequence[int], ballots: Iterable, rule: str, value: int | None) -> Tally:
    """Tally then select: the one entry point used when a consultation closes."""
    if method == SUPPORT:
        tally = tally_support(proposal_ids, ballots)
    elif method == DOTS:
        tally = tally_dots(proposal_ids, ballots)
    elif method == MAJORITY:
        tally = tally_majority(proposal_ids, ballots)
    else:
        raise ValueError(f"unknown method {method!r}")
    return select(tally, rule, value)
