"""The one definition of every load-test option.

Three parsers are generated from :data:`OPTIONS`:

* ``python -m loadtests run`` (scope ``run``),
* ``python -m loadtests drill NAME`` (scope ``drill``),
* locust's own parser, through ``events.init_command_line_parser`` (scope ``locust``);

and ``python -m loadtests tune`` takes the input-data options from it (scope ``tune``).

A runner passes the values of ``locust``-scope options on to its locust subprocess
through :func:`locust_arguments`, so a new user option is added here once and is then
reachable from every command. Values that travel to locust workers are
plain ``str``/``int``/``float``/``bool`` (locust sends them with msgpack); paths become
:class:`~pathlib.Path` only in the ``run`` and ``drill`` parsers.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from loadtests.models import DEFAULT_MODEL, PROTOCOLS
from loadtests.scenarios import SCENARIOS
from loadtests.targets import TARGET_NAMES

__all__ = [
    "OPTIONS",
    "Option",
    "Scope",
    "add_options",
    "locust_arguments",
    "option",
    "parse_duration_s",
]

Scope = Literal["run", "drill", "locust", "tune"]
"""Which parser an option belongs to."""

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$")


def parse_duration_s(text: str) -> float:
    """Parse ``30s``, ``2m``, ``1m30s``, ``1h`` or a bare number of seconds.

    Raises:
        ValueError: The text is not a positive duration.
    """
    match = _DURATION.match(text.strip())
    if not text.strip() or match is None:
        raise ValueError(f"duration {text!r} is not like 30s, 2m or 1m30s")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise ValueError(f"duration {text!r} must be > 0")
    return total


def _duration(text: str) -> float:
    try:
        return parse_duration_s(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


_ALL: frozenset[Scope] = frozenset(("run", "drill", "locust"))
_RUN_LOCUST: frozenset[Scope] = frozenset(("run", "locust"))
_RUNNERS: frozenset[Scope] = frozenset(("run", "drill"))
_LOCUST: frozenset[Scope] = frozenset(("locust",))
_DATA: frozenset[Scope] = frozenset(("run", "drill", "locust", "tune"))
_DATA_RUNNERS: frozenset[Scope] = frozenset(("run", "drill", "tune"))


@dataclass(frozen=True)
class Option:
    """One command-line option.

    Attributes:
        flag: The long flag, e.g. ``--top-k``.
        dest: Attribute name in the parsed namespace (and in :class:`RunOptions`).
        help: Help text.
        scopes: Parsers the option appears in.
        type: Converter of the text value; None for a ``store_true`` flag.
        default: Default value in every parser unless ``runner_default`` is set.
        runner_default: Default in the ``run`` and ``drill`` parsers, when it differs.
        choices: Allowed values.
        required: Required in the ``run`` and ``drill`` parsers (never in locust's).
        is_path: The value is a path (a ``Path`` in runners, ``str`` in locust).
        metavar: Placeholder shown in help.
        repeat: The option may be given several times (its value is a list).
    """

    flag: str
    dest: str
    help: str
    scopes: frozenset[Scope]
    type: Callable[[str], Any] | None = str
    default: Any = None
    runner_default: Any = None
    choices: tuple[str, ...] | None = None
    required: bool = False
    is_path: bool = False
    metavar: str | None = None
    repeat: bool = False

    def default_for(self, scope: Scope) -> Any:
        """Return the default of this option in ``scope``."""
        if scope != "locust" and self.runner_default is not None:
            return self.runner_default
        return self.default

    def add_to(self, parser: Any, scope: Scope) -> None:
        """Add the option to an argparse (or locust configargparse) parser."""
        kwargs: dict[str, Any] = {"dest": self.dest, "help": self.help,
                                  "default": self.default_for(scope)}
        if self.type is None:
            kwargs["action"] = "store_true"
        else:
            kwargs["type"] = Path if self.is_path and scope != "locust" else self.type
            if self.choices is not None:
                kwargs["choices"] = self.choices
            if self.metavar is not None:
                kwargs["metavar"] = self.metavar
            if self.repeat:
                kwargs["action"] = "append"
        if self.required and scope != "locust":
            kwargs["required"] = True
            kwargs.pop("default")
        parser.add_argument(self.flag, **kwargs)


def _target_options() -> tuple[Option, ...]:
    return tuple(
        Option(f"--{name.replace('_', '-')}", name, f"override the {name} target of the model",
               _RUN_LOCUST, float, metavar="X")
        for name in TARGET_NAMES
    )


OPTIONS: tuple[Option, ...] = (
    # What the locust users do: every parser, forwarded to locust.
    Option("--model", "model", "any model the server serves (locust default: "
           f"{DEFAULT_MODEL})", _ALL, required=True, metavar="NAME"),
    Option("--protocol", "protocol", "client protocol (locust default: from the --host "
           "scheme)", _ALL, choices=PROTOCOLS, required=True),
    Option("--ready-timeout-s", "ready_timeout_s", "how long each user waits for the model "
           "to be ready, seconds (default %(default)s)", _ALL, _positive_float, 10.0,
           metavar="S"),
    Option("--request-timeout-s", "request_timeout_s", "per-call timeout of the typed "
           "clients, seconds (default %(default)s)", _ALL, _positive_float, 30.0, metavar="S"),
    Option("--top-k", "top_k", "items asked per recommendation call (default %(default)s)", _ALL,
           _positive_int, 10, metavar="K"),
    # Where the inputs come from (any model; the reference models' own calls otherwise).
    Option("--input-data", "input_data", "perf_analyzer --input-data JSON file: a \"data\" "
           "list of entries, used round-robin, with optional \"validation_data\" (default: "
           "inputs generated from the model's metadata)", _DATA, is_path=True, metavar="FILE"),
    Option("--shape", "shapes", "dims of a variable-sized input, without the batch "
           "dimension, e.g. tokens:16 (repeat per input)", _DATA, metavar="NAME:DIMS",
           repeat=True),
    Option("--input-range", "input_ranges", "value range of a generated input, inclusive, "
           "e.g. user_id:0:1999 (repeat per input)", _DATA, metavar="NAME:LOW:HIGH",
           repeat=True),
    Option("--batch-size", "batch_size", "rows per request; each entry's item is repeated "
           "(default %(default)s)", _DATA, _positive_int, 1, metavar="N"),
    Option("--string-length", "string_length", "characters of each generated BYTES element "
           "(default %(default)s)", _DATA, _positive_int, 8, metavar="N"),
    Option("--export-input-data", "export_input_data", "also write the inputs the run used "
           "here, in perf_analyzer's --input-data format", _DATA_RUNNERS, is_path=True,
           metavar="FILE"),
    Option("--max-attempts", "max_attempts", "attempts per call, the first included; a "
           "user backs off and retries a call the server shed or could not take, with the "
           "clients' RetryPolicy (default 1: no retries)", _ALL, _positive_int, 1,
           metavar="N"),
    Option("--stop-grace-s", "stop_grace_s", "seconds a stopping run may take past "
           "--stop-timeout before its watchdog stops it, writes the report with the calls "
           "still in flight and exits 3 (default %(default)s)", _ALL, _positive_float, 15.0,
           metavar="S"),
    Option("--stats-url", "stats_url", "Triton HTTP URL for the statistics extension "
           "(default: --host when it is http)", _ALL, metavar="URL"),
    Option("--metrics-url", "metrics_url", "Triton Prometheus URL, e.g. "
           "http://127.0.0.1:8002/metrics", _ALL, metavar="URL"),
    # The shape and the verdicts of `run`.
    Option("--scenario", "scenario", "steady: fixed users; ramp: four steps up; spike: "
           "baseline, sudden spike, back (default: steady)", _RUN_LOCUST, choices=SCENARIOS,
           default="steady"),
    Option("--targets", "targets", "latency targets TOML (default: loadtests/targets.toml; "
           "drills that judge latency read it too)", _ALL, is_path=True, metavar="FILE"),
    *_target_options(),
    Option("--report-dir", "report_dir", "folder for the reports and locust's HTML and "
           "CSV files (default %(default)s)",
           _ALL, runner_default=".reports/loadtest", is_path=True,
           metavar="DIR"),
    # Set by the runners for the locust subprocess only.
    Option("--records-file", "records_file", "write one JSON line per request here "
           "(local runs; drills read it back)", _LOCUST, is_path=True, metavar="FILE"),
    Option("--stages", "stages", "explicit load schedule, until_s:users[:spawn_rate],... "
           "(replaces --scenario; drills set it)", _LOCUST, metavar="STAGES"),
    Option("--skip-targets", "skip_targets", "do not evaluate latency targets (drills "
           "judge the run themselves)", _LOCUST, None, False),
    # Runner options; their locust counterparts are locust's own -u, -r, -t, -H.
    Option("--users", "users", "(peak) number of users (default %(default)s)", _RUNNERS,
           _positive_int, 4),
    Option("--spawn-rate", "spawn_rate", "users started per second (default %(default)s; "
           "drills start every user at once)", frozenset(("run",)), _positive_float, 4.0),
    Option("--duration", "duration_s", "length of the load, e.g. 30s, 2m, 1m30s (default "
           "%(default)ss)", _RUNNERS, _duration, 30.0, metavar="DURATION"),
    Option("--host", "host", "server URL (http://host:port or grpc://host:port); default: "
           "start the embedded server", _RUNNERS, metavar="URL"),
    Option("--repository", "repository", "model repository for the embedded server "
           "(default %(default)s)", _RUNNERS, default="model_repository", is_path=True,
           metavar="DIR"),
    Option("--grace", "grace_s", "wall-clock slack after --duration before locust is "
           "killed (default %(default)ss)", _RUNNERS, _duration, 45.0, metavar="DURATION"),
    Option("--quiet", "quiet", "hide locust's periodic stats tables", _RUNNERS, None, False),
)
"""Every option, in help order."""


def option(dest: str) -> Option:
    """Return the option stored under ``dest``.

    Raises:
        KeyError: No option has that ``dest``.
    """
    for item in OPTIONS:
        if item.dest == dest:
            return item
    raise KeyError(dest)


def add_options(parser: Any, scope: Scope, *, exclude: Iterable[str] = (),
                defaults: Mapping[str, Any] | None = None) -> None:
    """Add every option of ``scope`` to ``parser``.

    Args:
        parser: An argparse parser, or locust's parser.
        scope: Which parser this is.
        exclude: ``dest`` names to leave out.
        defaults: Per-parser default overrides by ``dest`` (e.g. a drill's report folder).
    """
    skip = set(exclude)
    for item in OPTIONS:
        if scope in item.scopes and item.dest not in skip:
            item.add_to(parser, scope)
    if defaults:
        parser.set_defaults(**defaults)


def locust_arguments(values: Mapping[str, Any]) -> list[str]:
    """Build the locust command-line arguments of every forwarded option that is set.

    Args:
        values: Option values by ``dest`` (None or False leaves an option out).

    Returns:
        Flags and values, e.g. ``["--model", "recommendation", "--top-k", "10"]``.
    """
    arguments: list[str] = []
    for item in OPTIONS:
        if "locust" not in item.scopes or item.dest not in values:
            continue
        value = values[item.dest]
        if value is None or value is False:
            continue
        if item.repeat:
            for each in value:
                arguments += [item.flag, str(each)]
        elif item.type is None:
            arguments.append(item.flag)
        elif isinstance(value, float):
            arguments += [item.flag, repr(value)]
        else:
            arguments += [item.flag, str(value)]
    return arguments
