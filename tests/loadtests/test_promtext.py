"""Unit tests of reading Prometheus pages through prometheus_client's parser."""

from __future__ import annotations

import math

import pytest

from loadtests import PrometheusParseError, parse_prometheus_text, sum_samples

PAGE = """\
# HELP nv_inference_count Number of inferences performed
# TYPE nv_inference_count counter
nv_inference_count{model="recommendation",version="1"} 2938
nv_inference_count{model="image_diagnosis",version="1"} 12
nv_inference_request_failure{model="recommendation",reason="BACKEND",version="1"} 2
nv_inference_request_failure{model="recommendation",reason="REJECTED",version="1"} 3
nv_cpu_utilization 0.25
odd_label{path="C:\\\\tmp",quote="say \\"hi\\"",nl="a\\nb"} 1 1700000000000
inf_value{model="x"} +Inf
"""


def test_parse_prometheus_text_reads_labels_and_values_when_page_is_from_triton() -> None:
    samples = parse_prometheus_text(PAGE)
    first = samples[0]
    assert first.name == "nv_inference_count"
    assert first.labels == {"model": "recommendation", "version": "1"}
    assert first.value == 2938.0


def test_parse_prometheus_text_unescapes_label_values_when_they_hold_quotes() -> None:
    odd = next(s for s in parse_prometheus_text(PAGE) if s.name == "odd_label")
    assert odd.labels == {"path": "C:\\tmp", "quote": 'say "hi"', "nl": "a\nb"}
    assert odd.value == 1.0


def test_parse_prometheus_text_reads_unlabelled_and_infinite_samples() -> None:
    samples = {s.name: s for s in parse_prometheus_text(PAGE)}
    assert samples["nv_cpu_utilization"].value == 0.25
    assert math.isinf(samples["inf_value"].value)


def test_sum_samples_adds_every_reason_when_filtering_by_model() -> None:
    samples = parse_prometheus_text(PAGE)
    assert sum_samples(samples, "nv_inference_request_failure", model="recommendation") == 5.0
    assert sum_samples(samples, "nv_inference_count", model="missing") == 0.0


def test_parse_prometheus_text_raises_naming_the_line_when_value_is_not_a_number() -> None:
    with pytest.raises(PrometheusParseError, match="line 2"):
        parse_prometheus_text('ok 1\nbad{model="m"} twelve\n')


def test_parse_prometheus_text_raises_naming_the_line_when_a_label_value_is_unterminated(
) -> None:
    with pytest.raises(PrometheusParseError, match="line 3"):
        parse_prometheus_text('# TYPE m counter\nm{model="y"} 1\nm{model="x} 1\n')


def test_parse_prometheus_text_keeps_page_names_when_counters_are_typed() -> None:
    samples = parse_prometheus_text(PAGE)
    assert {s.name for s in samples if s.labels.get("version") == "1"} == {
        "nv_inference_count", "nv_inference_request_failure"}
    assert sum_samples(samples, "nv_inference_count_total", model="recommendation") == 2938.0
