"""Prometheus text pages read with ``prometheus_client``'s own parser.

:func:`parse_prometheus_text` flattens the metric families into samples and names the
line at fault when the page is malformed; :func:`sum_samples` adds up a metric over
the label values a caller selects (e.g. every ``reason`` of a failure counter).

Counter samples keep the name written on the page: ``prometheus_client`` appends the
OpenMetrics ``_total`` suffix to counters, and it is taken off again here.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client.parser import text_fd_to_metric_families

from loadtests.errors import LoadTestError

__all__ = ["MetricSample", "PrometheusParseError", "parse_prometheus_text", "sum_samples"]

_TOTAL = "_total"


class PrometheusParseError(LoadTestError, ValueError):
    """The exposition text is malformed (the message names the line)."""


@dataclass(frozen=True)
class MetricSample:
    """One sample of a page.

    Attributes:
        name: Metric name as written on the page, e.g. ``nv_inference_count``.
        labels: Label names to values.
        value: The sample value (may be NaN or infinite).
    """

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    value: float = 0.0


class _CountingLines(io.StringIO):
    """A text stream that remembers the number of the last line read."""

    line_number = 0

    def __next__(self) -> str:  # type: ignore[override]
        line = super().__next__()
        self.line_number += 1
        return line


def parse_prometheus_text(text: str) -> list[MetricSample]:
    """Parse a Prometheus text page (format 0.0.4) into samples, in page order.

    Args:
        text: The page, e.g. the body of Triton's ``/metrics``.

    Raises:
        PrometheusParseError: A line is malformed.
    """
    stream = _CountingLines(text)
    samples: list[MetricSample] = []
    try:
        for family in text_fd_to_metric_families(stream):
            for sample in family.samples:
                name = sample.name
                if family.type == "counter" and name == family.name + _TOTAL:
                    name = family.name
                samples.append(MetricSample(name, dict(sample.labels), float(sample.value)))
    except ValueError as exc:
        raise PrometheusParseError(
            f"line {stream.line_number}: not a valid Prometheus text line ({exc})") from exc
    return samples


def sum_samples(samples: Iterable[MetricSample], name: str, **labels: str) -> float:
    """Sum the values of every sample named ``name`` whose labels include ``labels``.

    Args:
        samples: Parsed samples.
        name: Metric name; ``x`` and ``x_total`` name the same counter.
        **labels: Label values a sample must have, e.g. ``model="recommendation"``.

    Returns:
        The sum (0.0 when nothing matched).
    """
    names = {name, name.removesuffix(_TOTAL)}
    return sum(
        (s.value for s in samples
         if s.name in names and all(s.labels.get(k) == v for k, v in labels.items())),
        0.0,
    )
