"""One options definition feeds `run`, `drill` and locust's parser (pure, no locust import)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from loadtests.cli import build_parser
from loadtests.options import OPTIONS, add_options
from loadtests.runner import Endpoints, RunOptions, locust_command


def _locust_side_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_options(parser, "locust")
    for flag in ("--headless",):
        parser.add_argument(flag, action="store_true")
    for flag in ("--host", "--users", "--spawn-rate", "--run-time", "--stop-timeout",
                 "--html", "--csv", "-f"):
        parser.add_argument(flag)
    return parser


def test_run_parser_reaches_top_k_and_request_timeout_when_given_on_the_command_line() -> None:
    args = build_parser().parse_args([
        "run", "--model", "recommendation", "--protocol", "grpc", "--top-k", "5",
        "--request-timeout-s", "2.5", "--max-attempts", "3", "--max-shed-ratio", "0.2"])
    assert (args.top_k, args.request_timeout_s, args.max_attempts) == (5, 2.5, 3)
    assert args.max_shed_ratio == 0.2
    assert args.report_dir == Path(".reports/loadtest")


def test_locust_command_forwards_every_set_option_so_locusts_parser_reads_the_same_values(
) -> None:
    options = RunOptions(model="recommendation", protocol="grpc", top_k=7,
                         request_timeout_s=3.0, ready_timeout_s=4.0, max_attempts=2,
                         targets=Path("t.toml"), overrides={"p95_ms": 12.5},
                         report_dir=Path("out"))
    command = locust_command(options, Endpoints("grpc://127.0.0.1:1", "http://127.0.0.1:2"))
    parsed = _locust_side_parser().parse_args(command[command.index("--headless"):])
    assert (parsed.model, parsed.protocol, parsed.top_k) == ("recommendation", "grpc", 7)
    assert (parsed.request_timeout_s, parsed.ready_timeout_s, parsed.max_attempts) == (
        3.0, 4.0, 2)
    assert (parsed.targets, parsed.p95_ms, parsed.report_dir) == ("t.toml", 12.5, "out")
    assert parsed.stats_url == "http://127.0.0.1:2"
    assert parsed.p50_ms is None and parsed.skip_targets is False


def test_every_option_has_a_unique_flag_and_dest() -> None:
    assert len({o.flag for o in OPTIONS}) == len(OPTIONS)
    assert len({o.dest for o in OPTIONS}) == len(OPTIONS)


@pytest.mark.parametrize("argv", [["--top-k", "0"], ["--request-timeout-s", "-1"],
                                  ["--duration", "ten"]])
def test_run_parser_rejects_naming_the_option_when_a_value_is_out_of_range(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--model", "recommendation", "--protocol", "http",
                                   *argv])
    assert argv[0] in capsys.readouterr().err
