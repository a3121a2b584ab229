"""Search strategies over a :class:`SearchSpace`, with the measurement injected.

Both strategies take ``evaluate(candidate) -> TrialResult`` and never touch a server,
so they are tested with synthetic landscapes.

**Objective.** A trial that meets the p99 target beats one that does not; among those
that meet it, higher throughput wins; among those that do not, lower p99 wins (so a
search that starts outside the target walks towards it).

**Brute search** measures every candidate of :meth:`SearchSpace.grid`.

**Quick search** is coordinate descent with a line search, in the spirit of Triton
Model Analyzer's quick mode:

1. start at the grid point nearest the hand-written spec and measure it;
2. for each dimension in turn -- instance count, queue delay, preferred sizes,
   ``max_batch_size``, and batching on/off last (the batcher is tuned before it is
   judged) -- measure the neighbouring value on each side (skipping invalid
   combinations); move to the better neighbour if it beats the current point by more
   than ``min_gain``, then keep stepping the same way while each step still improves;
3. repeat the passes until one makes no move, or the trial budget is spent.

Measurements are memoised by canonical candidate, so points that only differ in knobs
without effect (queue delay with batching off) cost nothing. The default budget is half
the grid, so quick search never uses more than half the trials of brute search.

**Confirmation.** Both strategies end by measuring their two leading candidates a
second time (out of their budget, at most a quarter of it) and pick the best on the
mean, so one lucky measurement does not decide alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from loadtests.tune.errors import TuneError
from loadtests.tune.space import DIMENSIONS, Candidate, Point, SearchSpace
from loadtests.tune.sweep import TrialResult, merge_trials

__all__ = [
    "DEFAULT_CONFIRMATIONS",
    "SEARCH_STRATEGIES",
    "SearchOutcome",
    "best_trial",
    "brute_search",
    "confirm_leaders",
    "default_quick_budget",
    "improves",
    "pareto_front",
    "pick_winner",
    "quick_search",
    "run_search",
]

SEARCH_STRATEGIES: tuple[str, ...] = ("quick", "brute")
"""The strategies :func:`run_search` knows."""

Evaluate = Callable[[Candidate], TrialResult]


@dataclass(frozen=True)
class SearchOutcome:
    """What a search measured and found.

    Attributes:
        strategy: ``quick`` or ``brute``.
        trials: Every trial, in the order measured.
        best: The best trial that meets the target, or None.
        grid_size: Candidates in the full grid.
        budget: Most trials the search was allowed.
        budget_exhausted: True when the search stopped for lack of budget.
        moves: Quick search's accepted moves, as ``"dimension: from -> to"`` lines.
        confirmations: Second measurements of the leading candidates; ``best`` is
            chosen on the mean of both measurements.
    """

    strategy: str
    trials: tuple[TrialResult, ...]
    best: TrialResult | None
    grid_size: int
    budget: int
    budget_exhausted: bool = False
    moves: tuple[str, ...] = field(default=())
    confirmations: tuple[TrialResult, ...] = field(default=())

    @property
    def trial_count(self) -> int:
        """Measurements made: trials plus confirmations."""
        return len(self.trials) + len(self.confirmations)

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready summary (trials are listed elsewhere in the report)."""
        return {
            "strategy": self.strategy,
            "trial_count": self.trial_count,
            "candidates_measured": len(self.trials),
            "confirmations": [t.as_dict() for t in self.confirmations],
            "grid_size": self.grid_size,
            "budget": self.budget,
            "budget_exhausted": self.budget_exhausted,
            "best": None if self.best is None else self.best.as_dict(),
            "moves": list(self.moves),
        }


def _p99_or_inf(trial: TrialResult) -> float:
    return math.inf if trial.p99_ms is None else trial.p99_ms


def improves(challenger: TrialResult, incumbent: TrialResult, min_gain: float = 0.0) -> bool:
    """Whether ``challenger`` beats ``incumbent`` by more than ``min_gain`` (relative)."""
    if challenger.feasible != incumbent.feasible:
        return challenger.feasible
    if challenger.feasible:
        return challenger.throughput_rps > incumbent.throughput_rps * (1.0 + min_gain)
    return _p99_or_inf(challenger) < _p99_or_inf(incumbent) * (1.0 - min_gain)


def best_trial(trials: Sequence[TrialResult]) -> TrialResult | None:
    """The feasible trial with the highest throughput (lower p99 breaks ties), or None."""
    feasible = [t for t in trials if t.feasible]
    if not feasible:
        return None
    return max(feasible, key=lambda t: (t.throughput_rps, -_p99_or_inf(t)))


def pick_winner(baseline: TrialResult | None, trials: Sequence[TrialResult]) -> TrialResult | None:
    """The best feasible trial, the baseline included: a search never recommends worse."""
    contenders = [*trials, *([baseline] if baseline is not None else [])]
    return best_trial(contenders)


def pareto_front(trials: Sequence[TrialResult]) -> list[TrialResult]:
    """Trials no other trial beats on both throughput and p99, by ascending p99."""
    points = [t for t in trials if t.p99_ms is not None and t.throughput_rps > 0]
    front = [
        t for t in points
        if not any(
            o is not t and o.throughput_rps >= t.throughput_rps
            and _p99_or_inf(o) <= _p99_or_inf(t)
            and (o.throughput_rps > t.throughput_rps or _p99_or_inf(o) < _p99_or_inf(t))
            for o in points
        )
    ]
    return sorted(front, key=lambda t: (_p99_or_inf(t), -t.throughput_rps))


DEFAULT_CONFIRMATIONS = 2
"""Leading candidates measured a second time at the end of a search."""


def _confirmations(budget: int, wanted: int) -> int:
    return max(0, min(wanted, budget // 4))


def confirm_leaders(trials: Sequence[TrialResult], evaluate: Evaluate,
                    count: int) -> tuple[list[TrialResult], TrialResult | None]:
    """Measure the ``count`` best distinct candidates again; pick the best on the means.

    One trial is one noisy measurement, and the best of many is biased upwards; a second
    look at the leaders keeps a lucky measurement from deciding alone.

    Returns:
        The new measurements, and the best candidate after merging (see
        :func:`~loadtests.tune.sweep.merge_trials`), or the best single trial when
        ``count`` is 0.
    """
    leaders: dict[Candidate, TrialResult] = {}
    for trial in sorted((t for t in trials if t.feasible),
                        key=lambda t: (-t.throughput_rps, _p99_or_inf(t))):
        leaders.setdefault(trial.candidate, trial)
    chosen = list(leaders.values())[:count]
    if not chosen:
        return [], best_trial(trials)
    extra = [evaluate(t.candidate) for t in chosen]
    merged = [merge_trials([t for t in [*trials, *extra] if t.candidate == c.candidate])
              for c in chosen]
    return extra, best_trial(merged)


def default_quick_budget(grid_size: int) -> int:
    """Half the grid (at least one trial): quick search's default trial budget."""
    return max(1, grid_size // 2)


def brute_search(space: SearchSpace, evaluate: Evaluate, max_trials: int | None = None,
                 confirmations: int = DEFAULT_CONFIRMATIONS) -> SearchOutcome:
    """Measure every candidate of the grid in grid order, then confirm the leaders.

    Args:
        space: The search space.
        evaluate: Measures one candidate.
        max_trials: Measurement budget (default: the grid plus the confirmations).
        confirmations: Leaders measured a second time (at most a quarter of the budget).

    Raises:
        TuneError: ``max_trials`` is below 1.
    """
    grid = space.grid()
    budget = len(grid) + confirmations if max_trials is None else max_trials
    if budget < 1:
        raise TuneError(f"max_trials: must be >= 1, got {budget}")
    confirm = _confirmations(budget, confirmations)
    trials = tuple(evaluate(candidate) for candidate in grid[:budget - confirm])
    extra, best = confirm_leaders(trials, evaluate, confirm)
    return SearchOutcome("brute", trials, best, len(grid), budget,
                         budget_exhausted=budget - confirm < len(grid),
                         confirmations=tuple(extra))


_VISIT_ORDER = tuple(DIMENSIONS.index(name) for name in (
    "instance_count", "max_queue_delay_us", "preferred_batch_sizes", "max_batch_size",
    "queue_policy", "dynamic_batching"))
"""Quick search tunes the batcher (its queue policy last) before it tries switching the
batcher off."""


class _BudgetSpent(Exception):
    pass


def _neighbour(space: SearchSpace, point: Point, dimension: int, direction: int) -> Point | None:
    """The nearest valid point from ``point`` along one dimension in one direction."""
    index = point[dimension] + direction
    while 0 <= index < space.shape[dimension]:
        moved = (*point[:dimension], index, *point[dimension + 1:])
        if space.candidate(moved) is not None:
            return moved
        index += direction
    return None


def _valid_start(space: SearchSpace, start: Candidate) -> Point:
    nearest = space.nearest_point(start)
    if space.candidate(nearest) is not None:
        return nearest

    def distance(point: Point) -> tuple[int, Point]:
        return sum(abs(a - b) for a, b in zip(point, nearest, strict=True)), point

    valid: Iterator[Point] = (p for p in space.points() if space.candidate(p) is not None)
    try:
        return min(valid, key=distance)
    except ValueError:
        raise TuneError("search space: no valid candidate (every preferred batch size "
                        "exceeds every max_batch_size cap)") from None


def quick_search(space: SearchSpace, evaluate: Evaluate, start: Candidate, *,
                 max_trials: int | None = None, min_gain: float = 0.01,
                 confirmations: int = DEFAULT_CONFIRMATIONS) -> SearchOutcome:
    """Coordinate descent with a line search from ``start`` (see the module docs).

    Args:
        space: The search space.
        evaluate: Measures one candidate.
        start: Where to start, usually the hand-written spec's configuration.
        max_trials: Measurement budget; default :func:`default_quick_budget` of the grid.
        min_gain: Relative improvement a move needs (guards against noise).
        confirmations: Leaders measured a second time at the end, out of the budget
            (at most a quarter of it).

    Raises:
        TuneError: ``max_trials`` is below 1 or the space has no valid candidate.
    """
    grid_size = len(space.grid())
    budget = default_quick_budget(grid_size) if max_trials is None else max_trials
    if budget < 1:
        raise TuneError(f"max_trials: must be >= 1, got {budget}")
    confirm = _confirmations(budget, confirmations)
    memo: dict[Candidate, TrialResult] = {}
    trials: list[TrialResult] = []
    moves: list[str] = []

    def measure(point: Point) -> TrialResult:
        candidate = space.candidate(point)
        assert candidate is not None  # callers pass valid points only
        if candidate not in memo:
            if len(trials) >= budget - confirm:
                raise _BudgetSpent
            memo[candidate] = evaluate(candidate)
            trials.append(memo[candidate])
        return memo[candidate]

    def describe(dimension: int, old: Point, new: Point) -> str:
        values = space.values(DIMENSIONS[dimension])
        return f"{DIMENSIONS[dimension]}: {values[old[dimension]]!r} -> " \
               f"{values[new[dimension]]!r}"

    exhausted = False
    current = _valid_start(space, start)
    try:
        incumbent = measure(current)
        moved = True
        while moved:
            moved = False
            for dimension in _VISIT_ORDER:
                choice: tuple[Point, TrialResult, int] | None = None
                for direction in (1, -1):
                    neighbour = _neighbour(space, current, dimension, direction)
                    if neighbour is None:
                        continue
                    result = measure(neighbour)
                    if improves(result, choice[1] if choice else incumbent, min_gain):
                        choice = (neighbour, result, direction)
                if choice is None:
                    continue
                moves.append(describe(dimension, current, choice[0]))
                current, incumbent, direction = choice
                moved = True
                while (step := _neighbour(space, current, dimension, direction)) is not None:
                    result = measure(step)
                    if not improves(result, incumbent, min_gain):
                        break
                    moves.append(describe(dimension, current, step))
                    current, incumbent = step, result
    except _BudgetSpent:
        exhausted = True
    extra, best = confirm_leaders(trials, evaluate, confirm)
    return SearchOutcome("quick", tuple(trials), best, grid_size, budget,
                         budget_exhausted=exhausted, moves=tuple(moves),
                         confirmations=tuple(extra))


def run_search(strategy: str, space: SearchSpace, evaluate: Evaluate, start: Candidate,
               max_trials: int | None = None) -> SearchOutcome:
    """Run the named strategy (``quick`` or ``brute``).

    Raises:
        TuneError: Unknown strategy or bad budget.
    """
    if strategy == "quick":
        return quick_search(space, evaluate, start, max_trials=max_trials)
    if strategy == "brute":
        return brute_search(space, evaluate, max_trials=max_trials)
    raise TuneError(f"search: unknown strategy {strategy!r}; expected one of {SEARCH_STRATEGIES}")
