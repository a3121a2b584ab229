"""Locust users: one per model and protocol, each owning one typed client.

Importing this module imports locust, which monkey-patches the process with gevent;
only locustfiles (and locust worker processes) import it. gRPC must be switched to
gevent mode (:func:`loadtests.plugin.init_grpc_gevent`) before the first channel.
"""

from __future__ import annotations

import itertools
import logging
import random
import time
from abc import abstractmethod
from typing import Any, ClassVar, Protocol
from urllib.parse import urlsplit

import gevent
from locust import User, constant, task
from locust.env import Environment

from clients import (
    ImageDiagnosisClient,
    RecommendationClient,
    RetryPolicy,
    ServerUnavailableError,
    Timeouts,
)
from loadtests.liveness import calls_in_flight
from loadtests.models import IMAGE_DIAGNOSIS, RECOMMENDATION
from loadtests.options import option
from loadtests.records import Outcome, classify
from loadtests.samples import image_pool, random_user_id

__all__ = [
    "SHED_REQUEST_TYPE",
    "STARTUP_REQUEST_TYPE",
    "UNFINISHED_REQUEST_TYPE",
    "ImageDiagnosisGrpcUser",
    "ImageDiagnosisHttpUser",
    "ImageDiagnosisUser",
    "RecommendationGrpcUser",
    "RecommendationHttpUser",
    "RecommendationUser",
    "TritonUser",
    "UnfinishedCallError",
    "user_class_for",
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


class _Client(Protocol):
    def wait_until_ready(self, timeout_s: float) -> None: ...

    def close(self) -> None: ...


def _option(environment: Environment, name: str) -> Any:
    options = environment.parsed_options
    value = getattr(options, name, None) if options is not None else None
    return option(name).default if value is None else value


def answered_version(result: object) -> str | None:
    """Return the model version a typed client's result names, if it names one.

    A :class:`~clients.Diagnosis` carries ``model_version``; a list of recommendations
    carries it on the list or on its items.
    """
    version = getattr(result, "model_version", None)
    if version is None and isinstance(result, (list, tuple)) and result:
        version = getattr(result[0], "model_version", None)
    return None if version is None else str(version)


class TritonUser(User):
    """A locust user that owns one typed client and reports every call to locust.

    Subclasses set :attr:`model_name` and :attr:`protocol` and implement
    :meth:`make_client` and :meth:`call`. ``on_start`` waits (briefly) until the
    server and model are ready; if they are not, the run is stopped with a clear
    error and a non-zero exit code. A call the server sheds (the clients raise
    :class:`~clients.ServerUnavailableError` or its :class:`~clients.QueueFullError`)
    is retried up to ``--max-attempts`` with the clients' :class:`~clients.RetryPolicy`
    back-off, so each retry is counted; every other error fails the call at once.
    """

    abstract = True
    wait_time = constant(0)
    model_name: ClassVar[str] = ""
    protocol: ClassVar[str] = ""

    _numbers: ClassVar[itertools.count[int]] = itertools.count(1)

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.client: _Client | None = None
        self.retry = RetryPolicy(max_attempts=int(_option(environment, "max_attempts")))
        self._name = f"{type(self).__name__}#{next(TritonUser._numbers)}"
        self._in_flight = calls_in_flight(environment)

    @abstractmethod
    def make_client(self, url: str, timeouts: Timeouts) -> _Client:
        """Build this user's typed client for ``url``."""

    @abstractmethod
    def call(self, client: Any) -> tuple[int, dict[str, Any]]:
        """Make one varied call; return (response length in bytes, request context).

        The context may hold ``version``, the model version that answered.
        """

    def _url(self) -> str:
        url = str(self.host or "")
        scheme = urlsplit(url).scheme
        if scheme not in _SCHEMES[self.protocol]:
            raise ValueError(
                f"{type(self).__name__} speaks {self.protocol}, so --host must start with "
                f"{' or '.join(s + '://' for s in _SCHEMES[self.protocol])}; got {url!r}"
            )
        return url

    def on_start(self) -> None:
        """Create the client and fail the run loudly if the model is not ready."""
        ready_timeout_s = float(_option(self.environment, "ready_timeout_s"))
        request_s = float(_option(self.environment, "request_timeout_s"))
        started = time.perf_counter()
        try:
            self.client = self.make_client(self._url(), Timeouts(request_s=request_s))
            self.client.wait_until_ready(ready_timeout_s)
        except Exception as exc:
            self._abort(exc, (time.perf_counter() - started) * 1000.0)

    def _abort(self, exc: BaseException, elapsed_ms: float) -> None:
        message = (
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
                length, extra = self.call(self.client)
                context.update(extra)
                return None, length, retries
            except ServerUnavailableError as exc:
                if retries + 1 >= self.retry.max_attempts:
                    return exc, 0, retries
                retries += 1
                gevent.sleep(self.retry.backoff_s(retries, random.random()))
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


class ImageDiagnosisUser(TritonUser):
    """Sends a random image of the shared sample pool to ``image_diagnosis``."""

    abstract = True
    model_name = IMAGE_DIAGNOSIS

    def make_client(self, url: str, timeouts: Timeouts) -> _Client:
        """Build an :class:`~clients.ImageDiagnosisClient` without retries."""
        return ImageDiagnosisClient(url, timeouts=timeouts, retry=RetryPolicy(max_attempts=1))

    def call(self, client: Any) -> tuple[int, dict[str, Any]]:
        """Diagnose one random pool image."""
        index, image = image_pool().pick()
        diagnosis = client.diagnose(image)
        return 4 * len(diagnosis.probabilities), {"image_index": index,
                                                   "version": answered_version(diagnosis)}


class RecommendationUser(TritonUser):
    """Asks ``recommendation`` for the top items of a random user id."""

    abstract = True
    model_name = RECOMMENDATION

    def make_client(self, url: str, timeouts: Timeouts) -> _Client:
        """Build a :class:`~clients.RecommendationClient` without retries."""
        return RecommendationClient(url, timeouts=timeouts, retry=RetryPolicy(max_attempts=1))

    def call(self, client: Any) -> tuple[int, dict[str, Any]]:
        """Recommend ``--top-k`` items for a random user id."""
        user_id = random_user_id()
        items = client.recommend(user_id, k=int(_option(self.environment, "top_k")))
        return 12 * len(items), {"user_id": user_id, "version": answered_version(items)}


class ImageDiagnosisHttpUser(ImageDiagnosisUser):
    """``image_diagnosis`` over HTTP."""

    protocol = "http"


class ImageDiagnosisGrpcUser(ImageDiagnosisUser):
    """``image_diagnosis`` over gRPC."""

    protocol = "grpc"


class RecommendationHttpUser(RecommendationUser):
    """``recommendation`` over HTTP."""

    protocol = "http"


class RecommendationGrpcUser(RecommendationUser):
    """``recommendation`` over gRPC."""

    protocol = "grpc"


_USERS: dict[tuple[str, str], type[TritonUser]] = {
    (cls.model_name, cls.protocol): cls
    for cls in (
        ImageDiagnosisHttpUser,
        ImageDiagnosisGrpcUser,
        RecommendationHttpUser,
        RecommendationGrpcUser,
    )
}


def user_class_for(model: str, protocol: str) -> type[TritonUser]:
    """Return the user class for a model and protocol.

    Raises:
        ValueError: No user class exists for that pair (the message lists them).
    """
    try:
        return _USERS[(model, protocol)]
    except KeyError:
        known = ", ".join(f"{m}/{p}" for m, p in _USERS)
        raise ValueError(f"no load-test user for model {model!r} over {protocol!r}; "
                         f"known: {known}") from None
