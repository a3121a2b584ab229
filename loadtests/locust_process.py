"""Locust as a bounded subprocess: its own process group, output streamed, killed late.

Locust runs in its own process (``python -m locust -f loadtests/locustfile.py``) so
gevent's monkey-patching never touches the caller. If it outlives its wall-clock
bound, its whole process group is stopped (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

__all__ = ["EXIT_WALL_CLOCK", "LOCUSTFILE", "LocustProcess", "locust_base_command"]

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
"""The locustfile every runner starts."""

EXIT_WALL_CLOCK = 3
"""Exit code when locust had to be killed after exceeding its wall-clock bound."""

_PROJECT_ROOT = Path(__file__).resolve().parent.parent


def locust_base_command() -> list[str]:
    """Return ``python -m locust -f loadtests/locustfile.py --headless``."""
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless"]


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    existing = env.get("PYTHONPATH")
    env["PYTHONPATH"] = os.pathsep.join(
        [str(_PROJECT_ROOT), existing] if existing else [str(_PROJECT_ROOT)]
    )
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _pump(stream: TextIO, out: TextIO) -> None:
    for line in stream:
        out.write(line)
        out.flush()


class LocustProcess:
    """A running locust subprocess whose output is copied to ``out``.

    Args:
        command: The full command line.
        bound_s: Wall-clock seconds after which :meth:`wait` kills it.
        out: Where locust's output goes.
    """

    def __init__(self, command: Sequence[str], bound_s: float, out: TextIO = sys.stdout
                 ) -> None:
        self.command = list(command)
        self.started_at = time.monotonic()
        self.deadline = self.started_at + bound_s
        self._out = out
        self._process = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=_child_env(), start_new_session=True,
        )
        assert self._process.stdout is not None
        self._pump = threading.Thread(target=_pump, args=(self._process.stdout, out),
                                      daemon=True)
        self._pump.start()

    @property
    def pid(self) -> int:
        """The locust process id."""
        return self._process.pid

    def poll(self) -> int | None:
        """Return the exit code, or None while locust runs."""
        return self._process.poll()

    def wait_exit(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for locust to exit by itself; True when it has."""
        try:
            self._process.wait(timeout=max(0.0, timeout_s))
            return True
        except subprocess.TimeoutExpired:
            return False

    def wait(self, progress: Callable[[float], None] | None = None,
             every_s: float = 5.0) -> int:
        """Wait until locust exits or its bound passes, then return its exit code.

        Args:
            progress: Called with the elapsed seconds every ``every_s`` while waiting.
            every_s: Interval between progress calls.

        Returns:
            Locust's exit code, or :data:`EXIT_WALL_CLOCK` when it had to be killed.
        """
        code: int | None = None
        try:
            while code is None:
                remaining = self.deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    code = self._process.wait(timeout=min(every_s, remaining))
                except subprocess.TimeoutExpired:
                    if progress is not None:
                        progress(time.monotonic() - self.started_at)
        finally:
            if code is None:
                self.kill()
        self._pump.join(timeout=5.0)
        return EXIT_WALL_CLOCK if code is None else code

    def kill(self) -> None:
        """Stop locust's whole process group: SIGTERM, then SIGKILL (bounded waits)."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self._process.pid, sig)
            except ProcessLookupError:
                return
            if self.wait_exit(5.0):
                return
