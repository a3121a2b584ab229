"""Client sessions: a transport plus retries, per-call timeouts, metadata and readiness.

The sync and async sessions are twins with the same method names that differ only
where I/O happens; settings, the metadata cache and every decision (what to retry,
how long to wait, what to ask next, what the metadata must look like) live in
:mod:`clients._core`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from clients._config import Settings
from clients._core.plan import CallPlan
from clients._core.query import Query, model_config, model_metadata
from clients._core.session import SessionCore
from clients._core.signature import ModelInfo, ModelSignature
from clients._transport.factory import make_transport
from clients._twins import twin_of
from clients.errors import ClientError

__all__ = ["AsyncSession", "SyncSession"]

A = TypeVar("A")
R = TypeVar("R")
T = TypeVar("T")


class SyncSession(SessionCore):
    """Blocking session of the sync clients; the settings' URL picks the protocol."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._transport = make_transport("sync", settings)

    def _send(self, send: Callable[[A, float], T], what: A, timeout_s: float) -> T:
        started_s = time.monotonic()
        try:
            return send(what, timeout_s)
        except ClientError as exc:
            return self._retry(send, what, timeout_s, exc, started_s)

    def _retry(
        self, send: Callable[[A, float], T], what: A, timeout_s: float, failure: ClientError,
        started_s: float,
    ) -> T:
        # Sends a failed request again while the budget lasts, then raises the last error.
        attempt = 1
        while (delay_s := self._retry_delay_s(failure, attempt, started_s)) is not None:
            time.sleep(delay_s)
            attempt += 1
            try:
                return send(what, timeout_s)
            except ClientError as exc:
                failure = exc
        raise failure

    def run(self, plan: CallPlan[R], timeout_s: float | None) -> list[R]:
        """Runs a call plan: checks the model on first use, then sends every request.

        Each request is retried within the client's retry budget, whose time is counted
        from the start of the call.

        Args:
            plan: The validated call.
            timeout_s: Limit of each request (None: the client's default).

        Returns:
            The results of every request, in order.

        Raises:
            MetadataMismatchError: On first use, if the model differs from the expected.
            ClientError: Any other subclass for transport or server failures.
        """
        if not plan.rows:
            return []
        info = self._models.get(plan.model)
        if info is None:
            info = self.model_info(plan.model, plan.signature, timeout_s)
        send, started_s = self._transport.infer, time.monotonic()
        t = self._default_timeout_s if timeout_s is None else self.settings.timeout(timeout_s)
        results: list[R] = []
        for request in plan.requests(info, self.settings.version):
            try:  # the first attempt inline: the hot path
                response = send(request, t)
            except ClientError as exc:
                response = self._retry(send, request, t, exc, started_s)
            results += plan.parse(request, response)
        return results

    def model_info(
        self, name: str, signature: ModelSignature, timeout_s: float | None
    ) -> ModelInfo:
        """Fetches and checks the model's metadata once, then serves it from cache.

        Args:
            name: Model name.
            signature: What the client expects of it.
            timeout_s: Limit of each request (None: the client's default).

        Returns:
            What the client learned about the model.

        Raises:
            MetadataMismatchError: If the model differs from the expected.
            ClientError: Any other subclass for transport or server failures.
        """
        info = self._models.get(name)
        if info is None:
            t, query = self._timeout_s(timeout_s), self._transport.query
            version = self.settings.version
            metadata = self._send(query, model_metadata(name, version), t)
            config = self._send(query, model_config(name, version), t)
            info = self._check_and_cache(name, signature, metadata, config)
        return info

    def wait_until_ready(self, models: Sequence[str], timeout_s: float) -> None:
        """Polls server liveness/readiness and model readiness until the deadline.

        Args:
            models: The models that must be ready.
            timeout_s: How long to keep polling.

        Raises:
            ClientError: The subclass :meth:`ReadinessState.failure` picks at the
                deadline, or an error that polling again cannot cure.
        """
        poll = self._readiness_poll(models, timeout_s, time.monotonic())
        while (step := poll.next(time.monotonic())) is not None:
            if not isinstance(step, Query):
                time.sleep(step)
                continue
            try:
                poll.answer(self._transport.query(step, poll.query_s))
            except ClientError as exc:
                if not poll.tolerates(exc):
                    raise

    def close(self) -> None:
        """Closes the transport."""
        self._transport.close()


class AsyncSession(SessionCore):
    """Asyncio twin of :class:`SyncSession`, for the async clients."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._transport = make_transport("async", settings)

    async def _send(self, send: Callable[[A, float], Awaitable[T]], what: A, timeout_s: float) -> T:
        started_s = time.monotonic()
        try:
            return await send(what, timeout_s)
        except ClientError as exc:
            return await self._retry(send, what, timeout_s, exc, started_s)

    async def _retry(
        self, send: Callable[[A, float], Awaitable[T]], what: A, timeout_s: float,
        failure: ClientError, started_s: float,
    ) -> T:
        attempt = 1
        while (delay_s := self._retry_delay_s(failure, attempt, started_s)) is not None:
            await asyncio.sleep(delay_s)
            attempt += 1
            try:
                return await send(what, timeout_s)
            except ClientError as exc:
                failure = exc
        raise failure

    @twin_of(SyncSession.run)
    async def run(self, plan: CallPlan[R], timeout_s: float | None) -> list[R]:
        if not plan.rows:
            return []
        info = self._models.get(plan.model)
        if info is None:
            info = await self.model_info(plan.model, plan.signature, timeout_s)
        send, started_s = self._transport.infer, time.monotonic()
        t = self._default_timeout_s if timeout_s is None else self.settings.timeout(timeout_s)
        results: list[R] = []
        for request in plan.requests(info, self.settings.version):
            try:
                response = await send(request, t)
            except ClientError as exc:
                response = await self._retry(send, request, t, exc, started_s)
            results += plan.parse(request, response)
        return results

    @twin_of(SyncSession.model_info)
    async def model_info(
        self, name: str, signature: ModelSignature, timeout_s: float | None
    ) -> ModelInfo:
        info = self._models.get(name)
        if info is None:
            t, query = self._timeout_s(timeout_s), self._transport.query
            version = self.settings.version
            metadata = await self._send(query, model_metadata(name, version), t)
            config = await self._send(query, model_config(name, version), t)
            info = self._check_and_cache(name, signature, metadata, config)
        return info

    @twin_of(SyncSession.wait_until_ready)
    async def wait_until_ready(self, models: Sequence[str], timeout_s: float) -> None:
        poll = self._readiness_poll(models, timeout_s, time.monotonic())
        while (step := poll.next(time.monotonic())) is not None:
            if not isinstance(step, Query):
                await asyncio.sleep(step)
                continue
            try:
                poll.answer(await self._transport.query(step, poll.query_s))
            except ClientError as exc:
                if not poll.tolerates(exc):
                    raise

    @twin_of(SyncSession.close)
    async def close(self) -> None:
        await self._transport.close()
