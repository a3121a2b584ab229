"""Auto-tune a model's dynamic batching and instance counts to a p99 latency target.

``python -m loadtests tune`` loads candidate configs into a running Triton (explicit
model control, ``config`` override), measures each through the same calls and input
data as ``run`` (any non-ensemble model), and reports
the best throughput that meets the target. The search logic
(:mod:`loadtests.tune.space`, :mod:`loadtests.tune.sweep`, :mod:`loadtests.tune.search`)
is pure; the server I/O is injected. See ``docs/tuning.md``.
"""

from loadtests.tune.checks import CandidateChecker
from loadtests.tune.cli import add_tune_parser, run_tune_command
from loadtests.tune.control import (
    ConfigGuard,
    ModelController,
    apply_candidate,
    candidate_from_config,
)
from loadtests.tune.errors import CandidateError, ModelControlError, TuneError
from loadtests.tune.measure import LoadProbe
from loadtests.tune.patch import SpecPatch, apply_patch, build_patch
from loadtests.tune.report import (
    HeadToHead,
    TuneReport,
    Verification,
    render_markdown,
    write_tune_report,
)
from loadtests.tune.runner import TrialRunner, TuneOptions, run_tune, tune_model
from loadtests.tune.search import (
    SEARCH_STRATEGIES,
    SearchOutcome,
    best_trial,
    brute_search,
    confirm_leaders,
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
    merge_trials,
    summarize_trial,
    sweep_concurrency,
)

__all__ = [
    "DEFAULT_CONCURRENCIES",
    "DEFAULT_QUEUE_DELAYS_US",
    "DIMENSIONS",
    "SEARCH_STRATEGIES",
    "Candidate",
    "CandidateChecker",
    "CandidateError",
    "ConfigGuard",
    "HeadToHead",
    "HostInfo",
    "LoadProbe",
    "ModelControlError",
    "ModelController",
    "SearchOutcome",
    "SearchSpace",
    "SpecPatch",
    "StepResult",
    "TrialResult",
    "TrialRunner",
    "TuneError",
    "TuneOptions",
    "TuneReport",
    "Verification",
    "add_tune_parser",
    "apply_candidate",
    "apply_patch",
    "best_step",
    "best_trial",
    "brute_search",
    "build_patch",
    "candidate_from_config",
    "confirm_leaders",
    "default_quick_budget",
    "detect_host",
    "failed_trial",
    "host_space",
    "improves",
    "merge_trials",
    "pareto_front",
    "pick_winner",
    "quick_search",
    "render_markdown",
    "run_search",
    "run_tune",
    "run_tune_command",
    "summarize_trial",
    "sweep_concurrency",
    "tune_model",
    "write_tune_report",
]
