"""The locust user: one class for every model, over the call :mod:`loadtests.calls` picks.

:class:`ModelUser` loads ``--model`` (any served model) over ``--protocol`` (default: the
``--host`` scheme). What one call does comes from :func:`loadtests.calls.make_call`: the
generic data call over :class:`clients.ModelClient`, or a reference model's typed call.

Importing this module imports locust, which monkey-patches the process with gevent;
only locustfiles (and locust worker processes) import it. gRPC must be switched to
gevent mode (:func:`loadtests.plugin.init_grpc_gevent`) before the first channel.
"""

from __future__ import annotations

import itertools
import logging
import random
import time
from typing import Any, ClassVar
from urllib.parse import urlsplit

import gevent
from locust import User, constant, task
from locust.env import Environment
from locust.user.task import LOCUST_STATE_STOPPING, LOCUST_STATE_WAITING

from clients import RetryPolicy, ServerUnavailableError, Timeouts
from loadtests.calls import ModelCall, ValidationMismatchError, make_call
from loadtests.errors import InputDataError
from loadtests.liveness import calls_in_flight
from loadtests.models import DEFAULT_MODEL, check_model_name
from loadtests.options import OPTIONS, option
from loadtests.records import Outcome, classify

__all__ = [
    "SHED_REQUEST_TYPE",
    "STARTUP_REQUEST_TYPE",
    "UNFINISHED_REQUEST_TYPE",
    "ModelUser",
    "UnfinishedCallError",
    "model_of",
    "protocol_of",
]

logger = logging.getLogger("loadtests")

UNFINISHED_REQUEST_TYPE = "UNFINISHED"
"""Request type of a call still waiting for its answer when the run stopped: counted
apart, like shed calls, and judged by the ``max_unfinished_ratio`` target."""

STARTUP_REQUEST_TYPE = "STARTUP"
"""Request type of the event a user fires when the server or model is not ready."""

SHED_REQUEST_TYPE = "SHED"
"""Request type of a call the server shed (queue full or unavailable after every attempt):
locust counts these apart from the protocol's own entry, so shed calls are not errors
and their fast refusals do not flatter the latency percentiles."""

_SCHEMES = {"http": ("http", "https"), "grpc": ("grpc", "grpcs")}


class UnfinishedCallError(Exception):
    """A call the run's stop interrupted while it still waited for its answer."""

    def __init__(self, model: str, waited_s: float) -> None:
        super().__init__(f"model {model!r}: no answer after {waited_s:.1f} s when the run "
                         "stopped")


def _option(environment: Environment, name: str) -> Any:
    options = environment.parsed_options
    value = getattr(options, name, None) if options is not None else None
    return option(name).default if value is None else value


def model_of(environment: Environment) -> str:
    """The model a run loads: ``--model``, else :data:`~loadtests.models.DEFAULT_MODEL`."""
    return check_model_name(str(_option(environment, "model") or DEFAULT_MODEL))


def protocol_of(environment: Environment) -> str:
    """The protocol a run speaks: ``--protocol``, else the ``--host`` scheme."""
    protocol = _option(environment, "protocol")
    if protocol is None:
        scheme = urlsplit(environment.host or "").scheme
        protocol = "grpc" if scheme.startswith("grpc") else "http"
    return str(protocol)


class ModelUser(User):
    """A locust user that owns one client of ``--model`` and reports every call to locust.

    ``on_start`` waits (briefly) until the server and model are ready; if they are not,
    the run is stopped with a clear error and a non-zero exit code. A call the server
    sheds (the clients raise :class:`~clients.ServerUnavailableError` or its
    :class:`~clients.QueueFullError`) is retried up to ``--max-attempts`` with the
    clients' :class:`~clients.RetryPolicy` back-off, so each retry is counted; every
    other error (a :class:`~loadtests.calls.ValidationMismatchError` too) fails the call
    at once.
    """

    wait_time = constant(0)

    _numbers: ClassVar[itertools.count[int]] = itertools.count(1)

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.model_name = model_of(environment)
        self.protocol = protocol_of(environment)
        values = {o.dest: _option(environment, o.dest) for o in OPTIONS if "locust" in o.scopes}
        self.calls: ModelCall = make_call(self.model_name, values)
        self.client: Any | None = None
        self.retry = RetryPolicy(max_attempts=int(_option(environment, "max_attempts")))
        self._name = f"{type(self).__name__}#{next(ModelUser._numbers)}"
        self._in_flight = calls_in_flight(environment)

    def _url(self) -> str:
        url = str(self.host or "")
        scheme = urlsplit(url).scheme
        if scheme not in _SCHEMES[self.protocol]:
            raise ValueError(
                f"{self.protocol} users need a --host starting with "
                f"{' or '.join(s + '://' for s in _SCHEMES[self.protocol])}; got {url!r}"
            )
        return url

    def on_start(self) -> None:
        """Create the client and fail the run loudly if the model is not ready."""
        ready_timeout_s = float(_option(self.environment, "ready_timeout_s"))
        request_s = float(_option(self.environment, "request_timeout_s"))
        started = time.perf_counter()
        try:
            self.client = self.calls.open(self._url(), Timeouts(request_s=request_s))
            self.client.wait_until_ready(ready_timeout_s)
            self.calls.prepare(self.client)
        except Exception as exc:
            self._abort(exc, (time.perf_counter() - started) * 1000.0)

    def _abort(self, exc: BaseException, elapsed_ms: float) -> None:
        message = str(exc) if isinstance(exc, InputDataError) else (
            f"model {self.model_name!r} is not ready at {self.host!r} over {self.protocol}: "
            f"{exc}"
        )
        logger.error("load test aborted: %s", message)
        self.environment.events.request.fire(
            request_type=STARTUP_REQUEST_TYPE,
            name=self.model_name,
            response_time=elapsed_ms,
            response_length=0,
            exception=RuntimeError(message),
            context={"model": self.model_name, "protocol": self.protocol},
        )
        runner = self.environment.runner
        if runner is not None:
            gevent.spawn(runner.quit)
        from locust.exception import StopUser

        raise StopUser()

    def stop(self, force: bool = False) -> bool:
        """Stop gracefully at the end of the wait when the run stops between two calls.

        Locust kills a user it finds waiting between tasks, but the kill is delivered by
        a loop callback: a user whose ``wait_time`` of 0 ended first had already started
        its next call, and the kill landed in that call, which then counted as
        unfinished. In a shed run on a loaded host, 5 of 6 users lost a call that way,
        0.4-1.7 ms after sending it, at the very start of a 5 s ``--stop-timeout``.
        Marked as stopping instead, the user leaves at its wait's end, and locust's stop
        timeout and forced kill still bound the stop.

        Args:
            force: Kill at once, wherever the user is (locust's own path, unchanged).

        Returns:
            True when the user was killed at once.
        """
        if not force and self._state == LOCUST_STATE_WAITING:
            self._state = LOCUST_STATE_STOPPING
            return False
        return bool(super().stop(force=force))

    def on_stop(self) -> None:
        """Close the client (a gRPC channel left open makes locust hang at exit)."""
        client, self.client = self.client, None
        if client is not None:
            client.close()

    @task
    def infer(self) -> None:
        """Make one call (with its retries) and report it through ``events.request``.

        The context carries ``outcome`` (ok, failed, shed, unfinished), ``retries``,
        ``started_at_s`` (wall clock) and ``version`` (when the model answered). A call
        that the run's stop interrupts (locust kills the user once ``--stop-timeout``
        has passed) is reported as unfinished before the user goes: it is counted, never
        dropped.
        """
        if self.client is None:
            return
        context: dict[str, Any] = {"model": self.model_name, "protocol": self.protocol,
                                   "started_at_s": time.time()}
        started = time.perf_counter()
        token = self._in_flight.begin(self._name, self.model_name)
        try:
            exception, length, retries = self._attempts(context)
        except BaseException:  # GreenletExit or StopUser: the run stopped mid-call
            self._report(UNFINISHED_REQUEST_TYPE, Outcome.UNFINISHED, started,
                         UnfinishedCallError(self.model_name, time.perf_counter() - started),
                         0, 0, context)
            raise
        finally:
            self._in_flight.end(token)
        outcome = classify(exception)
        request_type = SHED_REQUEST_TYPE if outcome is Outcome.SHED else self.protocol.upper()
        self._report(request_type, outcome, started, exception, length, retries, context)

    def _attempts(self, context: dict[str, Any]
                  ) -> tuple[BaseException | None, int, int]:
        """Call until an answer, a non-retryable error or the last attempt."""
        assert self.client is not None
        retries = 0
        while True:
            try:
                result = self.calls.call(self.client)
                context.update(result.context)
                return None, result.length, retries
            except ServerUnavailableError as exc:
                if retries + 1 >= self.retry.max_attempts:
                    return exc, 0, retries
                retries += 1
                gevent.sleep(self.retry.backoff_s(retries, random.random()))
            except ValidationMismatchError as exc:
                context["mismatched"] = list(exc.tensors)
                return exc, 0, retries
            except Exception as exc:
                return exc, 0, retries

    def _report(self, request_type: str, outcome: Outcome, started: float,
                exception: BaseException | None, length: int, retries: int,
                context: dict[str, Any]) -> None:
        context.update(outcome=outcome.value, retries=retries)
        self.environment.events.request.fire(
            request_type=request_type,
            name=self.model_name,
            response_time=(time.perf_counter() - started) * 1000.0,
            response_length=length,
            exception=exception,
            context=context,
        )
