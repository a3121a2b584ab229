"""Per-request records: what each call of a locust user did, one JSON line per call.

The locust plugin writes them (``--records-file``) in the locust process; drills read
them back in their own process and cut them into phases. Times are wall-clock seconds
since the epoch, so both processes share one clock.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path
from typing import Any, TextIO

from clients.errors import ServerUnavailableError
from loadtests.errors import LoadTestError

__all__ = [
    "Outcome",
    "RecordWriter",
    "RequestRecord",
    "classify",
    "count_lines",
    "read_records",
    "write_all",
]


class Outcome(str, Enum):
    """How one call ended, as the user saw it."""

    OK = "ok"
    """The model answered."""
    FAILED = "failed"
    """An error: the call failed for a reason other than load shedding."""
    SHED = "shed"
    """The server refused the work (queue full: HTTP 503, gRPC UNAVAILABLE), or could not
    be reached, after every attempt: the clients raise ``QueueFullError`` or
    ``ServerUnavailableError``."""
    UNFINISHED = "unfinished"
    """The run stopped while the call still waited for its answer: the server held it past
    the stop timeout (a frozen or stalled server), so locust stopped the user mid-call."""


def classify(exception: BaseException | None) -> Outcome:
    """Return the outcome of a call that raised ``exception`` (None: it succeeded)."""
    if exception is None:
        return Outcome.OK
    if isinstance(exception, ServerUnavailableError):
        return Outcome.SHED
    return Outcome.FAILED


@dataclass(frozen=True)
class RequestRecord:
    """One call of a locust user.

    Attributes:
        started_at_s: When the call started, seconds since the epoch.
        latency_ms: How long it took, retries and back-off included, milliseconds.
        outcome: ok, failed or shed.
        retries: Attempts after the first.
        version: Model version that answered (None when it failed or is unknown).
        error: Exception class and message of a failed or shed call.
    """

    started_at_s: float
    latency_ms: float
    outcome: Outcome
    retries: int = 0
    version: str | None = None
    error: str | None = None

    def to_json(self) -> str:
        """Return the record as one JSON line (without the newline)."""
        data = asdict(self)
        data["outcome"] = self.outcome.value
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RequestRecord:
        """Build a record from its JSON object.

        Raises:
            LoadTestError: A field is missing or has the wrong type (names the field).
        """
        try:
            return cls(
                started_at_s=float(data["started_at_s"]),
                latency_ms=float(data["latency_ms"]),
                outcome=Outcome(data["outcome"]),
                retries=int(data.get("retries", 0)),
                version=None if data.get("version") is None else str(data["version"]),
                error=None if data.get("error") is None else str(data["error"]),
            )
        except KeyError as exc:
            raise LoadTestError(f"request record: field {exc.args[0]!r} is missing") from exc
        except (TypeError, ValueError) as exc:
            raise LoadTestError(f"request record: {exc}") from exc


class RecordWriter:
    """Appends records to a JSON-lines file, one line per call, flushed per line.

    Args:
        path: The file; it is created (and truncated) on open.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file: TextIO | None = path.open("w", encoding="utf-8", buffering=1)

    def write(self, record: RequestRecord) -> None:
        """Append one record (ignored after :meth:`close`)."""
        if self._file is not None:
            self._file.write(record.to_json() + "\n")

    def close(self) -> None:
        """Close the file; later writes are ignored."""
        file, self._file = self._file, None
        if file is not None:
            file.close()


def read_records(path: Path) -> list[RequestRecord]:
    """Read a records file written by :class:`RecordWriter`.

    A last line cut short (the writer was killed mid-line) is skipped.

    Raises:
        LoadTestError: The file cannot be read or a complete line is malformed.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise LoadTestError(f"records file {path}: {exc}") from exc
    records: list[RequestRecord] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            if number == len(lines):
                break
            raise LoadTestError(f"{path}:{number}: not a JSON record: {exc}") from exc
        records.append(RequestRecord.from_dict(data))
    return records


def count_lines(path: Path) -> int:
    """Return how many complete records a file holds so far (0 when it is missing)."""
    try:
        with path.open("rb") as file:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: file.read(1 << 16), b""))
    except FileNotFoundError:
        return 0


def write_all(path: Path, records: Iterable[RequestRecord]) -> None:
    """Write ``records`` to ``path`` (tests and re-analysis)."""
    writer = RecordWriter(path)
    try:
        for record in records:
            writer.write(record)
    finally:
        writer.close()
