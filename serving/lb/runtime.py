"""HAProxy's runtime API over its unix stats socket: server state and statistics."""

from __future__ import annotations

import csv
import enum
import io
import socket
from dataclasses import dataclass
from pathlib import Path

from serving.lb.errors import RuntimeApiError

__all__ = ["RuntimeApi", "ServerStat", "ServerState"]

_READ_CHUNK_BYTES = 65536


class ServerState(str, enum.Enum):
    """Administrative states of a server (``set server B/S state ...``)."""

    READY = "ready"
    DRAIN = "drain"
    MAINT = "maint"


@dataclass(frozen=True)
class ServerStat:
    """One server line of ``show stat``.

    Attributes:
        backend: Backend name.
        server: Server (replica) name.
        status: ``UP``, ``DOWN``, ``DRAIN``, ``MAINT``, ``UP 1/2`` (going down), ...
        current_sessions: Requests in flight to this server now.
        total_sessions: Requests sent to this server so far.
        selected_total: Times the balancing algorithm picked this server.
        retries: Requests retried on this server after a failure.
        redispatches: Requests moved from this server to another one.
        connection_errors: Failed connection attempts.
        response_errors: Responses that failed (aborted, empty, ...).
        check_status: Result of the last health check (``L7OK``, ``L4CON``, ...).
        weight: The server's current weight (``set server B/S weight N``).
    """

    backend: str
    server: str
    status: str
    current_sessions: int
    total_sessions: int
    selected_total: int
    retries: int
    redispatches: int
    connection_errors: int
    response_errors: int
    check_status: str
    weight: int = 1

    @property
    def is_up(self) -> bool:
        """True when health checks pass (also while draining); False while in transition."""
        return self.status in ("UP", "DRAIN", "NOLB")


def _int(row: dict[str, str], key: str) -> int:
    value = row.get(key) or "0"
    return int(value) if value.isdigit() else 0


class RuntimeApi:
    """Commands to a running HAProxy through its ``stats socket ... level admin``.

    Args:
        socket_path: The unix socket named in ``haproxy.cfg``.
        timeout_s: Bound on each command.
    """

    def __init__(self, socket_path: Path, timeout_s: float = 5.0) -> None:
        self.socket_path = Path(socket_path)
        self.timeout_s = timeout_s

    def command(self, line: str) -> str:
        """Send one command and return HAProxy's answer.

        Args:
            line: The command, e.g. ``show stat``; it must be a single line.

        Raises:
            RuntimeApiError: The socket cannot be reached or the line is not one command.
        """
        if "\n" in line or ";" in line:
            raise RuntimeApiError(f"command must be one line without ';': {line!r}")
        chunks: list[bytes] = []
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout_s)
                sock.connect(str(self.socket_path))
                sock.sendall(line.encode("ascii") + b"\n")
                while chunk := sock.recv(_READ_CHUNK_BYTES):
                    chunks.append(chunk)
        except OSError as error:
            raise RuntimeApiError(
                f"runtime API {self.socket_path}: {line!r} failed: {error}") from error
        return b"".join(chunks).decode("utf-8", errors="replace")

    def set_state(self, backend: str, server: str, state: ServerState) -> None:
        """Set a server's administrative state (``ready``, ``drain`` or ``maint``).

        Raises:
            RuntimeApiError: HAProxy refused (unknown backend or server, for example).
        """
        answer = self.command(f"set server {backend}/{server} state {ServerState(state).value}")
        if answer.strip():
            raise RuntimeApiError(f"set server {backend}/{server} state {state.value}: "
                                  f"{answer.strip()}")

    def set_weight(self, backend: str, server: str, weight: int) -> None:
        """Set a server's weight, 0-256 (0: no new request goes to it).

        Raises:
            RuntimeApiError: Bad weight, or HAProxy refused (unknown backend or server).
        """
        if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 256:
            raise RuntimeApiError(f"set server {backend}/{server} weight: must be 0-256, "
                                  f"got {weight!r}")
        answer = self.command(f"set server {backend}/{server} weight {weight}")
        if answer.strip():
            raise RuntimeApiError(f"set server {backend}/{server} weight {weight}: "
                                  f"{answer.strip()}")

    def server_stats(self) -> list[ServerStat]:
        """Every server line of ``show stat`` (frontend and backend totals left out)."""
        text = self.command("show stat")
        if not text.startswith("# "):
            raise RuntimeApiError(f"unexpected answer to 'show stat': {text[:200]!r}")
        rows = csv.DictReader(io.StringIO(text[2:]))
        stats = []
        for row in rows:
            if row.get("svname") in ("FRONTEND", "BACKEND", None) or row.get("type") != "2":
                continue
            stats.append(ServerStat(
                backend=row["pxname"], server=row["svname"], status=row.get("status", ""),
                current_sessions=_int(row, "scur"), total_sessions=_int(row, "stot"),
                selected_total=_int(row, "lbtot"), retries=_int(row, "wretr"),
                redispatches=_int(row, "wredis"), connection_errors=_int(row, "econ"),
                response_errors=_int(row, "eresp"), check_status=row.get("check_status", ""),
                weight=_int(row, "weight"),
            ))
        return stats
