"""Pure helpers for readiness polling."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from clients._core.backoff import exponential_delay_s
from clients._core.error_table import is_retryable
from clients._core.query import SERVER_LIVE, SERVER_READY, Query, model_ready
from clients.errors import (
    ClientError,
    ConfigurationError,
    ModelNotReadyError,
    ServerUnavailableError,
    TimeoutError,
)

__all__ = [
    "POLL_INITIAL_S",
    "POLL_MAX_S",
    "ReadinessPoll",
    "ReadinessState",
    "Step",
    "next_poll_s",
]

POLL_INITIAL_S = 0.05
POLL_MAX_S = 1.0


def next_poll_s(poll_number: int, remaining_s: float) -> float:
    """Returns the delay before the next probe: doubling, capped, never past the deadline.

    Args:
        poll_number: 1 after the first failed probe, 2 after the second, ...
        remaining_s: Time left before the deadline.

    Returns:
        The delay in seconds (>= 0).
    """
    delay_s = exponential_delay_s(poll_number, POLL_INITIAL_S, POLL_MAX_S, 2.0)
    return max(0.0, min(delay_s, remaining_s))


@dataclass
class ReadinessState:
    """What the last readiness probe saw, to pick the error when the deadline passes.

    Attributes:
        reached: Whether the server ever answered.
        server_ready: Whether the server said it was ready on the last probe.
        not_ready_model: The model found not ready on the last probe, if any.
        last_error: The last translated error, if any.
    """

    reached: bool = False
    server_ready: bool = False
    not_ready_model: str | None = None
    last_error: ClientError | None = None

    def failure(self, timeout_s: float) -> ClientError:
        """Builds the error to raise when the deadline passed.

        Args:
            timeout_s: The wait that elapsed.

        Returns:
            ServerUnavailableError if never reached, ModelNotReadyError if a model
            stayed not ready, TimeoutError otherwise.
        """
        if not self.reached:
            return ServerUnavailableError(
                f"server not reachable within {timeout_s:g} s"
                + (f" (last error: {self.last_error})" if self.last_error else "")
            )
        if self.server_ready and self.not_ready_model is not None:
            return ModelNotReadyError(
                f"model '{self.not_ready_model}' not ready within {timeout_s:g} s"
            )
        return TimeoutError(f"server not ready within {timeout_s:g} s")


Step = Query[bool] | float | None
"""What :meth:`ReadinessPoll.next` asks for: run a query, sleep (seconds), or stop."""


class ReadinessPoll:
    """Deadline, probes, state and backoff of one ``wait_until_ready`` call.

    I/O-free: the caller runs the queries and sleeps it is given, and passes in its
    clock's readings. One probe asks, in order, whether the server is live, whether it
    is ready and whether each model is ready, and stops at the first "no".

    Args:
        models: The models that must be ready.
        version: Their version, ``""`` for the server's choice.
        timeout_s: How long the caller keeps polling.
        request_s: Upper limit of one query.
        now: The clock's reading at the start.

    Raises:
        ConfigurationError: If ``timeout_s`` is not > 0.
    """

    def __init__(
        self, models: Sequence[str], version: str, timeout_s: float, request_s: float, now: float
    ) -> None:
        if not timeout_s > 0:
            raise ConfigurationError(f"timeout_s must be > 0, got {timeout_s!r}")
        self._models = tuple(models)
        self._queries = (SERVER_LIVE, SERVER_READY, *(model_ready(m, version) for m in models))
        self._next_query = 0
        self._failed_probes = 0
        self._sleep_next = False
        self.timeout_s = timeout_s
        self.request_s = request_s
        self.deadline = now + timeout_s
        self.query_s = request_s
        self.state = ReadinessState()

    def next(self, now: float) -> Step:
        """Returns the next step: a query to run, a delay to sleep, or None when ready.

        Args:
            now: The clock's reading.

        Returns:
            The query (run it with limit :attr:`query_s`, then call :meth:`answer`), the
            delay in seconds, or None once the server and every model are ready.

        Raises:
            ClientError: The error of :meth:`ReadinessState.failure` once the deadline passed.
        """
        remaining_s = self.deadline - now
        if self._sleep_next:
            self._sleep_next = False
            self._failed_probes += 1
            return next_poll_s(self._failed_probes, remaining_s)
        if remaining_s <= 0:
            raise self.state.failure(self.timeout_s) from self.state.last_error
        if self._next_query == len(self._queries):
            return None
        self.query_s = min(remaining_s, self.request_s)
        return self._queries[self._next_query]

    def answer(self, yes: bool) -> None:
        """Records the answer to the query :meth:`next` returned.

        Args:
            yes: The answer.
        """
        index, state = self._next_query, self.state
        if index == 0:  # live?
            state.reached = True
            state.server_ready = state.server_ready and yes
        elif index == 1:  # ready?
            state.server_ready = yes
        elif not yes:
            state.not_ready_model = self._models[index - 2]
        if not yes:
            self._fail_probe()
            return
        self._next_query += 1
        if self._next_query == len(self._queries):
            state.not_ready_model = None

    def tolerates(self, exc: ClientError) -> bool:
        """Records a failed query.

        Args:
            exc: The query's error.

        Returns:
            True to keep polling, False if the error must propagate.
        """
        if isinstance(exc, ModelNotReadyError | TimeoutError):
            self.state.reached = self.state.reached or isinstance(exc, ModelNotReadyError)
        elif not is_retryable(exc):
            return False
        self.state.last_error = exc
        self._fail_probe()
        return True

    def _fail_probe(self) -> None:
        self._next_query = 0
        self._sleep_next = True
