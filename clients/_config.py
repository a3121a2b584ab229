"""Value objects configuring a client: endpoint, timeouts, retries and TLS."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from clients._core.backoff import exponential_delay_s
from clients._core.error_table import is_retryable
from clients.errors import ConfigurationError

__all__ = ["Endpoint", "RetryPolicy", "Settings", "Timeouts", "TlsOptions", "parse_url"]

Protocol = Literal["http", "grpc"]

_SCHEMES: dict[str, tuple[Protocol, bool]] = {
    "http": ("http", False),
    "https": ("http", True),
    "grpc": ("grpc", False),
    "grpcs": ("grpc", True),
}


def _check_positive(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ConfigurationError(f"{name} must be a positive finite number, got {value!r}")


@dataclass(frozen=True)
class Timeouts:
    """Time limits of a client, in seconds.

    Attributes:
        connect_s: Limit for establishing a connection (HTTP sync client; gRPC fails fast
            on a refused connection and then obeys ``request_s``).
        request_s: Default limit for one call (request and response). Every client
            method accepts ``timeout_s=`` to override it for that call.
    """

    connect_s: float = 5.0
    request_s: float = 30.0

    def __post_init__(self) -> None:
        _check_positive("Timeouts.connect_s", self.connect_s)
        _check_positive("Timeouts.request_s", self.request_s)


@dataclass(frozen=True)
class RetryPolicy:
    """Retry policy for transient failures: the server is unavailable or sheds load.

    Only the :class:`~clients.ServerUnavailableError` family is retried: refused
    connections, HTTP 502/503 and gRPC ``UNAVAILABLE`` (which Triton also answers when
    its queue is full), HTTP 429 and gRPC ``RESOURCE_EXHAUSTED``. Invalid arguments,
    unknown models, metadata mismatches and timeouts are never retried.

    A connection that broke after the request was sent (:class:`~clients.ConnectionLostError`:
    an HTTP reset or close mid-call, a gRPC ``UNKNOWN`` stream removed mid-response) is
    decided by the call's phase, not by message text: the server may already have run the
    request, so it is retried only while ``retry_lost_connections`` is True. That is safe
    for inference on the stateless models Triton serves, which has no side effects; it is
    not for sequence (stateful) models, decoupled models, or a python-backend model that
    writes somewhere: set it False for those. gRPC ``UNAVAILABLE`` cannot be told apart
    from a refused call by its code, and is retried as unavailable; use
    ``max_attempts=1`` where a second run is never acceptable.

    Each call has a bounded budget: at most ``max_attempts`` attempts per request, and
    no retry whose backoff would end more than ``max_total_s`` seconds after the call
    began. The delay before retry ``n`` (1-based) is
    ``min(max_backoff_s, initial_backoff_s * multiplier ** (n - 1))`` scaled by a random
    factor in ``[1 - jitter, 1]``.

    Attributes:
        max_attempts: Total attempts per request including the first (1 disables retries).
        initial_backoff_s: Delay before the first retry.
        max_backoff_s: Upper bound of any delay.
        multiplier: Growth factor of the delay between attempts.
        jitter: Fraction of the delay that is randomised, in ``[0, 1]``.
        max_total_s: Time budget of one call's retries, in seconds from its start.
        retry_lost_connections: Retry a call whose connection broke after it was sent.
    """

    max_attempts: int = 3
    initial_backoff_s: float = 0.05
    max_backoff_s: float = 1.0
    multiplier: float = 2.0
    jitter: float = 0.5
    max_total_s: float = 10.0
    retry_lost_connections: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ConfigurationError(
                f"RetryPolicy.max_attempts must be an int >= 1, got {self.max_attempts!r}"
            )
        _check_positive("RetryPolicy.initial_backoff_s", self.initial_backoff_s)
        _check_positive("RetryPolicy.max_backoff_s", self.max_backoff_s)
        _check_positive("RetryPolicy.max_total_s", self.max_total_s)
        if not self.multiplier >= 1.0:
            raise ConfigurationError(
                f"RetryPolicy.multiplier must be >= 1, got {self.multiplier!r}"
            )
        if not 0.0 <= self.jitter <= 1.0:
            raise ConfigurationError(f"RetryPolicy.jitter must be in [0, 1], got {self.jitter!r}")

    @classmethod
    def disabled(cls) -> RetryPolicy:
        """Returns a policy that makes exactly one attempt."""
        return cls(max_attempts=1)

    def backoff_s(self, retry_number: int, random_unit: float) -> float:
        """Computes the delay before a retry.

        Args:
            retry_number: 1 for the first retry, 2 for the second, ...
            random_unit: A random number in ``[0, 1)`` (injected to keep this pure).

        Returns:
            The delay in seconds.
        """
        base = exponential_delay_s(
            retry_number, self.initial_backoff_s, self.max_backoff_s, self.multiplier
        )
        return base * (1.0 - self.jitter * random_unit)

    def retry_delay_s(
        self, failed_attempts: int, elapsed_s: float, error: BaseException, random_unit: float
    ) -> float | None:
        """Decides whether a failed request is tried again, and after how long.

        Args:
            failed_attempts: Attempts made so far (1 after the first failure).
            elapsed_s: Seconds since the call began.
            error: The translated error of the last attempt.
            random_unit: A random number in ``[0, 1)`` (injected to keep this pure).

        Returns:
            The delay before the next attempt in seconds, or None when the error must
            propagate: it is not retryable, or the attempts or the time budget are spent.
        """
        if failed_attempts >= self.max_attempts or not is_retryable(
                error, lost_connections=self.retry_lost_connections):
            return None
        delay_s = self.backoff_s(failed_attempts, random_unit)
        return delay_s if elapsed_s + delay_s <= self.max_total_s else None


@dataclass(frozen=True)
class TlsOptions:
    """TLS settings for ``https://`` and ``grpcs://`` URLs.

    Attributes:
        ca_file: PEM file of the certificate authorities to trust (system store if None).
        cert_file: PEM client certificate for mutual TLS.
        key_file: PEM private key of ``cert_file``.
        insecure_skip_verify: Skip server certificate verification (HTTPS only; gRPC
            has no such switch and rejects it).
    """

    ca_file: str | os.PathLike[str] | None = None
    cert_file: str | os.PathLike[str] | None = None
    key_file: str | os.PathLike[str] | None = None
    insecure_skip_verify: bool = False

    def __post_init__(self) -> None:
        if (self.cert_file is None) != (self.key_file is None):
            raise ConfigurationError("TlsOptions.cert_file and key_file must be given together")
        for field in ("ca_file", "cert_file", "key_file"):
            value = getattr(self, field)
            if value is not None and not os.path.isfile(value):
                raise ConfigurationError(f"TlsOptions.{field}: no such file: {os.fspath(value)!r}")

    def read(self, field: Literal["ca_file", "cert_file", "key_file"]) -> bytes | None:
        """Reads one of the PEM files.

        Args:
            field: Which file to read.

        Returns:
            The file's bytes, or None when the field is unset.
        """
        value = getattr(self, field)
        if value is None:
            return None
        with open(value, "rb") as handle:
            return handle.read()


@dataclass(frozen=True)
class Endpoint:
    """A parsed server URL.

    Attributes:
        protocol: ``"http"`` or ``"grpc"``.
        address: ``host:port`` as tritonclient expects it.
        tls: Whether the scheme asks for TLS (``https``/``grpcs``).
    """

    protocol: Protocol
    address: str
    tls: bool


def parse_url(url: str) -> Endpoint:
    """Parses ``http(s)://host:port`` or ``grpc(s)://host:port``.

    Args:
        url: The server URL.

    Returns:
        The endpoint.

    Raises:
        ConfigurationError: If the scheme is unsupported or host/port are missing.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise ConfigurationError(
            f"url {url!r}: scheme must be one of http, https, grpc, grpcs"
        )
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigurationError(f"url {url!r}: invalid port") from exc
    if not parts.hostname or port is None:
        raise ConfigurationError(f"url {url!r}: expected {scheme}://host:port")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigurationError(f"url {url!r}: paths, queries and fragments are not supported")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    protocol, tls = _SCHEMES[scheme]
    return Endpoint(protocol=protocol, address=f"{host}:{port}", tls=tls)


class Settings:
    """A client's validated configuration, shared by its session and transport.

    Args:
        url: Server URL; the scheme picks the protocol.
        model_version: Pinned version, or None for the server's choice.
        timeouts: Time limits (None: defaults).
        retry: Retry policy for transient failures (None: defaults).
        headers: Headers sent with every request.
        ssl: TLS options for https/grpcs.

    Raises:
        ConfigurationError: If the URL, version or TLS options are unusable.
    """

    def __init__(
        self,
        url: str,
        model_version: str | None,
        timeouts: Timeouts | None,
        retry: RetryPolicy | None,
        headers: Mapping[str, str] | None,
        ssl: TlsOptions | None,
    ) -> None:
        self.endpoint = parse_url(url)
        if model_version is not None and not (
            isinstance(model_version, str) and model_version.isdigit()
        ):
            raise ConfigurationError(
                f"model_version must be a string of digits such as '1', got {model_version!r}"
            )
        if ssl is not None and not self.endpoint.tls:
            raise ConfigurationError(f"ssl options given but url {url!r} is not https/grpcs")
        self.url = url
        self.model_version = model_version
        self.version = model_version or ""
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        self.headers = dict(headers or {})
        self.tls = ssl

    def timeout(self, timeout_s: float | None) -> float:
        """Returns the limit for one call: ``timeout_s`` if given (checked), else the default.

        Args:
            timeout_s: The per-call override, or None.

        Returns:
            The limit in seconds.

        Raises:
            ConfigurationError: If ``timeout_s`` is not > 0.
        """
        if timeout_s is None:
            return self.timeouts.request_s
        if not timeout_s > 0:
            raise ConfigurationError(f"timeout_s must be > 0, got {timeout_s!r}")
        return float(timeout_s)
