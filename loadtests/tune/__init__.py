"""Auto-tune a model's dynamic batching and instance counts to a p99 latency target.

``python -m loadtests tune`` loads candidate configs into a running Triton (explicit
model control, ``config`` override), measures each with the typed clients, and reports
the best throughput that meets the target. The search logic
(:mod:`loadtests.tune.space`, :mod:`loadtests.tune.sweep`, :mod:`loadtests.tune.search`)
is pure; the server I/O is injected. See ``docs/tuning.md``.
"""

from loadtests.tune.errors import CandidateError, ModelControlError, TuneError
from loadtests.tune.search import (
    SEARCH_STRATEGIES,
    SearchOutcome,
    best_trial,
    brute_search,
    default_quick_budget,
    improves,
    pareto_front,
    pick_winner,
    quick_search,
    run_search,
)
from loadtests.tune.space import (
    DEFAULT_QUEUE_DELAYS_US,
    DIMENSIONS,
    Candidate,
    HostInfo,
    SearchSpace,
    detect_host,
    host_space,
)
from loadtests.tune.sweep import (
    DEFAULT_CONCURRENCIES,
    StepResult,
    TrialResult,
    best_step,
    failed_trial,
    summarize_trial,
    sweep_concurrency,
)

__all__ = [
    "DEFAULT_CONCURRENCIES",
    "DEFAULT_QUEUE_DELAYS_US",
    "DIMENSIONS",
    "SEARCH_STRATEGIES",
    "Candidate",
    "CandidateError",
    "HostInfo",
    "ModelControlError",
    "SearchOutcome",
    "SearchSpace",
    "StepResult",
    "TrialResult",
    "TuneError",
    "best_step",
    "best_trial",
    "brute_search",
    "default_quick_budget",
    "detect_host",
    "failed_trial",
    "host_space",
    "improves",
    "pareto_front",
    "pick_winner",
    "quick_search",
    "run_search",
    "summarize_trial",
    "sweep_concurrency",
]
