"""The Prometheus config and rules: promtool checks them, runs their unit tests, and every
metric they name is one the real Triton 2.51 exports, with its real type and labels
(``deploy/prometheus/tests/triton-2.51-metrics.prom``, from scripts/capture_triton_metrics.py).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from loadtests.promtext import parse_prometheus_text

PROMETHEUS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
RULES = PROMETHEUS / "rules"
TESTS = PROMETHEUS / "tests"
CAPTURE = TESTS / "triton-2.51-metrics.prom"
FAMILY_TYPE = re.compile(r"^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)$", re.M)
SERIES = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)\{(?P<labels>[^}]*)\}$")
NV_NAME = re.compile(r"\bnv_[a-z0-9_]+\b")
RATE_OF = re.compile(r"\b(?:rate|increase|irate)\((nv_[a-z0-9_]+)")
#: A counter may be read without rate() only to ask whether its series exist.
PRESENCE_OF = re.compile(r"(?:count by \([^)]*\) \(|unless on \([^)]*\) )(nv_[a-z0-9_]+)")
LABELS_PROMETHEUS_ADDS = {"job", "instance"}


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def _types() -> dict[str, str]:
    return dict(FAMILY_TYPE.findall(CAPTURE.read_text(encoding="utf-8")))


def _captured_label_keys() -> dict[str, set[frozenset[str]]]:
    keys: dict[str, set[frozenset[str]]] = {}
    for sample in parse_prometheus_text(CAPTURE.read_text(encoding="utf-8")):
        keys.setdefault(sample.name, set()).add(frozenset(sample.labels))
    return keys


def _rule_exprs() -> list[str]:
    exprs = []
    for path in sorted(RULES.glob("*.rules.yml")):
        data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
        exprs += [rule["expr"] for group in data["groups"] for rule in group["rules"]]
    return exprs


def _test_series() -> list[tuple[str, dict[str, str]]]:
    series = []
    for path in sorted(TESTS.glob("*.test.yml")):
        data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
        for case in data["tests"]:
            for item in case["input_series"]:
                match = SERIES.match(item["series"])
                assert match, item["series"]
                labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"]))
                series.append((match["name"], labels))
    return series


def test_promtool_check_rules_accepts_every_rule_file(require_tool: Callable[[str], str]) -> None:
    files = sorted(str(p) for p in RULES.glob("*.rules.yml"))
    assert len(files) >= 3
    result = _run([require_tool("promtool"), "check", "rules", *files])
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_check_config_accepts_compose_config_with_its_rules_mounted(
    require_tool: Callable[[str], str], tmp_path: Path,
) -> None:
    config: dict[str, Any] = yaml.safe_load(
        (PROMETHEUS / "prometheus.yml").read_text(encoding="utf-8"))
    assert config["rule_files"] == ["/etc/prometheus/rules/*.rules.yml"]
    # Where compose mounts deploy/prometheus/rules, so check config loads the real files.
    config["rule_files"] = [str(RULES / "*.rules.yml")]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = _run([require_tool("promtool"), "check", "config", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 3 rule files found" in result.stdout + result.stderr


def test_promtool_unit_tests_of_rules_pass(require_tool: Callable[[str], str]) -> None:
    files = sorted(str(p) for p in TESTS.glob("*.test.yml"))
    assert files
    result = _run([require_tool("promtool"), "test", "rules", *files])
    assert result.returncode == 0, result.stdout + result.stderr


def test_capture_is_from_triton_2_51_with_summaries_and_failures() -> None:
    types = _types()
    assert types["nv_inference_request_success"] == "counter"
    assert types["nv_inference_request_summary_us"] == "summary"
    samples = parse_prometheus_text(CAPTURE.read_text(encoding="utf-8"))
    failures = sum(s.value for s in samples if s.name == "nv_inference_request_failure")
    assert failures > 0
    assert {s.labels.get("model") for s in samples if s.name == "nv_inference_count"} >= {
        "recommendation", "image_diagnosis"}


def test_rules_name_only_metrics_the_capture_holds() -> None:
    exported = set(_types()) | {name for name in _captured_label_keys()}
    used = {name for expr in _rule_exprs() for name in NV_NAME.findall(expr)}
    assert used, "the rules should read Triton metrics"
    assert used <= exported, sorted(used - exported)


def test_rules_take_rate_only_of_counters_and_read_gauges_directly() -> None:
    types = _types()
    for expr in _rule_exprs():
        for name in RATE_OF.findall(expr):
            assert types.get(name) == "counter", f"rate() of {name} ({types.get(name)})"
        direct = set(NV_NAME.findall(expr)) - set(RATE_OF.findall(expr))
        for name in direct - set(PRESENCE_OF.findall(expr)):
            assert types.get(name) in ("gauge", "summary"), f"{name} read without rate()"


def test_promtool_test_series_have_the_names_labels_and_values_of_the_capture() -> None:
    captured = _captured_label_keys()
    types = _types()
    series = _test_series()
    assert any(name.startswith("nv_") for name, _ in series)
    for name, labels in series:
        if name == "up":
            assert set(labels) == LABELS_PROMETHEUS_ADDS
            continue
        if name.startswith("triton:model_"):  # a model fact recorded from specs/, given as input
            continue
        assert name in captured, f"{name} is not exported by Triton 2.51"
        keys = frozenset(labels) - LABELS_PROMETHEUS_ADDS
        assert keys in captured[name], f"{name}{sorted(keys)}: captured {captured[name]}"
        if types.get(name) == "summary":
            assert labels["quantile"] in {"0.5", "0.9", "0.95", "0.99", "0.999"}


@pytest.mark.parametrize("bad_rule", [
    "expr: up{job=\"triton\"",     # unbalanced brace
    "expr: rate(nv_inference_count)",  # range vector missing
])
def test_promtool_check_rules_refuses_a_broken_expression_when_rules_are_wrong(
    require_tool: Callable[[str], str], tmp_path: Path, bad_rule: str,
) -> None:
    path = tmp_path / "bad.rules.yml"
    text = f"groups:\n  - name: bad\n    rules:\n      - record: x:y\n        {bad_rule}\n"
    path.write_text(text, encoding="utf-8")
    result = _run([require_tool("promtool"), "check", "rules", str(path)])
    assert result.returncode != 0


def test_capture_script_reproduces_the_committed_families_labels_and_types(
    tmp_path: Path,
) -> None:
    out = tmp_path / "capture.prom"
    script = Path(__file__).resolve().parents[2] / "scripts" / "capture_triton_metrics.py"
    result = subprocess.run([sys.executable, str(script), "--out", str(out)],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    fresh = out.read_text(encoding="utf-8")
    assert dict(FAMILY_TYPE.findall(fresh)) == _types()
    fresh_keys: dict[str, set[frozenset[str]]] = {}
    for sample in parse_prometheus_text(fresh):
        fresh_keys.setdefault(sample.name, set()).add(frozenset(sample.labels))
    assert fresh_keys == _captured_label_keys()
