"""One child process on loopback ports: launch, retry on port races, stop, log.

:class:`~serving.server.TritonServer` and :class:`~serving.lb.Balancer` each run one
child (``tritonserver``, ``haproxy``) in the same way: the ports it listens on are
picked free just before the launch (and picked again when another process took one
first), the child leads its own session and dies with its parent, and a stop is a
bounded graceful one followed by SIGKILL.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from serving.ports import free_ports

__all__ = ["PORT_RETRIES", "ChildProcess", "die_with_parent", "read_log", "start_on_free_ports"]

#: How many times a launch on automatically picked ports is tried before giving up.
PORT_RETRIES = 3
_PR_SET_PDEATHSIG = 1

_Error = TypeVar("_Error", bound=BaseException)


def die_with_parent() -> None:
    """Ask Linux to SIGKILL the child when the thread that spawned it dies."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def read_log(path: Path | None) -> str:
    """Return the text of a child's log, or ``""`` when there is none (yet).

    Args:
        path: The log file, or None when the child has no log folder.

    Returns:
        The log's text, undecodable bytes replaced.
    """
    if path is None:
        return ""
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def start_on_free_ports(
    requested: Sequence[int | None],
    attempt: Callable[[tuple[int, ...]], None],
    error_type: type[_Error],
    is_bind_race: Callable[[_Error], bool],
    *,
    retries: int = PORT_RETRIES,
) -> None:
    """Run ``attempt`` on the requested ports, free ones picked for each None.

    A port picked free may be taken by another process before the child binds it. When
    ``attempt`` fails with ``error_type`` and ``is_bind_race`` says the child could not
    bind, the attempt is made again on newly picked ports (only when some port was
    picked, at most ``retries`` attempts in all). ``attempt`` cleans up after itself
    before it raises.

    Args:
        requested: The ports asked for; None where any free port will do.
        attempt: Launches the child on the given ports (in the order of ``requested``)
            and waits until it is ready.
        error_type: The start error of ``attempt`` that may be a bind race.
        is_bind_race: Whether such an error says a port was taken.
        retries: How many attempts at the most.

    Raises:
        _Error: The last attempt's error, or the first one that is not a bind race.
    """
    auto = any(port is None for port in requested)
    for number in range(retries):
        picked = iter(free_ports(len(requested)))
        ports = tuple(port if port is not None else next(picked) for port in requested)
        try:
            attempt(ports)
            return
        except error_type as error:
            if not (auto and is_bind_race(error)) or number == retries - 1:
                raise


class ChildProcess:
    """A child process writing to a log file, in its own session, dying with its parent.

    Its owner launches it, polls :attr:`popen` while it starts, and stops it; the
    object can be launched again once stopped.
    """

    def __init__(self) -> None:
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """Process id of the child, or None when it is not launched."""
        return None if self.popen is None else self.popen.pid

    @property
    def is_running(self) -> bool:
        """True while the child is alive."""
        return self.popen is not None and self.popen.poll() is None

    def launch(self, command: Sequence[str], log_path: Path, *,
               env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start ``command`` with stdout and stderr appended to ``log_path``.

        The child leads a new session (so its whole process group can be killed) and,
        when launched from the main thread on Linux, gets SIGKILL if its parent dies
        (``preexec_fn`` is not safe from other threads).

        Args:
            command: The program and its arguments.
            log_path: The log file (appended to).
            env: The child's environment; this process's when None.

        Returns:
            The new process (also in :attr:`popen`).
        """
        preexec: Callable[[], None] | None = None
        on_main_thread = threading.current_thread() is threading.main_thread()
        if sys.platform.startswith("linux") and on_main_thread:
            preexec = die_with_parent
        with open(log_path, "ab") as log:
            self.popen = subprocess.Popen(
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=None if env is None else dict(env),
                start_new_session=True,
                preexec_fn=preexec,
            )
        return self.popen

    def stop(self, graceful: signal.Signals | None, timeout_s: float, *,
             whole_group: bool) -> None:
        """Stop the child: ``graceful``, a bounded wait, then SIGKILL; reap it.

        Safe to call when the child is not launched or has already exited.

        Args:
            graceful: The signal asking for a graceful stop; None kills at once.
            timeout_s: How long to wait after ``graceful`` before SIGKILL.
            whole_group: Send SIGKILL to the child's process group (its own children,
                e.g. Triton's python backend stubs) rather than to the child alone.
        """
        process, self.popen = self.popen, None
        if process is None:
            return
        if graceful is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(graceful)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=timeout_s)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if whole_group:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
        process.wait()
