"""The I/O-free half of a session: settings, metadata cache and retry decisions.

:class:`clients._session.SyncSession` and :class:`clients._session.AsyncSession`
inherit this and only add the calls, sleeps and awaits.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from typing import Any

from clients._config import Settings
from clients._core.readiness import ReadinessPoll
from clients._core.signature import ModelInfo, ModelSignature, check_metadata
from clients.errors import ClientError

__all__ = ["SessionCore"]


class SessionCore:
    """State and decisions shared by the sync and async sessions.

    Args:
        settings: The client's validated configuration.

    Attributes:
        settings: The client's validated configuration.
        retries: Retries made so far, over all calls (each one a request sent again
            after a transient failure).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.retries = 0
        self._models: dict[str, ModelInfo] = {}
        self._default_timeout_s = settings.timeouts.request_s

    def _timeout_s(self, timeout_s: float | None) -> float:
        """The limit of each request of a call (``None``: the client's default)."""
        return self._default_timeout_s if timeout_s is None else self.settings.timeout(timeout_s)

    def _check_and_cache(
        self,
        name: str,
        signature: ModelSignature,
        metadata: Mapping[str, Any],
        config: Mapping[str, Any],
    ) -> ModelInfo:
        """Checks fetched metadata against the expected signature and caches the result."""
        info = check_metadata(name, signature, metadata, config, self.settings.model_version)
        self._models[name] = info
        return info

    def _retry_delay_s(
        self, exc: ClientError, failed_attempts: int, started_s: float
    ) -> float | None:
        """The delay before retrying a failed request, or None when ``exc`` must propagate.

        ``started_s`` is the ``time.monotonic()`` reading when the call began.
        """
        elapsed_s = time.monotonic() - started_s
        delay_s = self.settings.retry.retry_delay_s(
            failed_attempts, elapsed_s, exc, random.random()
        )
        if delay_s is not None:
            self.retries += 1
        return delay_s

    def _readiness_poll(self, models: Sequence[str], timeout_s: float, now: float) -> ReadinessPoll:
        """The poll of one ``wait_until_ready`` call, started at clock reading ``now``."""
        settings = self.settings
        return ReadinessPoll(models, settings.version, timeout_s, settings.timeouts.request_s, now)
