"""Session plumbing and lifecycle methods shared by every client.

A client class combines its model-specific base (generic in the session type, holding
the public constructor) with :class:`SyncLifecycle` or :class:`AsyncLifecycle`, which
supply ``wait_until_ready``, ``close`` and the context-manager methods.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from clients._config import Settings
from clients._session import AsyncSession, SyncSession
from clients._twins import twin_of

__all__ = ["AsyncLifecycle", "ClientBase", "SessionT", "SyncLifecycle"]

SessionT = TypeVar("SessionT", SyncSession, AsyncSession)
_SyncT = TypeVar("_SyncT", bound="SyncLifecycle")
_AsyncT = TypeVar("_AsyncT", bound="AsyncLifecycle")


class ClientBase(Generic[SessionT]):
    """Opens the session of a client.

    Subclasses set ``_session_class`` (via the lifecycle classes) and
    ``_ready_models``, the models that ``wait_until_ready`` waits for.

    Args:
        settings: The client's validated configuration.
    """

    _session_class: type[SessionT]
    _ready_models: tuple[str, ...]

    def __init__(self, settings: Settings) -> None:
        self._session: SessionT = self._session_class(settings)

    @property
    def retries(self) -> int:
        """Requests this client has sent again after a transient failure, over all calls.

        Read it before and after a call to learn how many retries that call took
        (:class:`~clients.RetryPolicy` bounds them).
        """
        return self._session.retries


class SyncLifecycle(ClientBase[SyncSession]):
    """``wait_until_ready``, ``close`` and ``with`` support of the blocking clients."""

    _session_class = SyncSession

    def wait_until_ready(self, timeout_s: float) -> None:
        """Waits until the server is live and ready and the model is ready.

        Args:
            timeout_s: How long to keep polling.

        Raises:
            ServerUnavailableError: The server never answered.
            ModelNotReadyError: The server answered but the model stayed not ready.
            TimeoutError: The server answered but did not become ready.
        """
        self._session.wait_until_ready(self._ready_models, timeout_s)

    def close(self) -> None:
        """Closes connections; the client cannot be used afterwards."""
        self._session.close()

    def __enter__(self: _SyncT) -> _SyncT:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncLifecycle(ClientBase[AsyncSession]):
    """``wait_until_ready``, ``close`` and ``async with`` support of the asyncio clients."""

    _session_class = AsyncSession

    @twin_of(SyncLifecycle.wait_until_ready)
    async def wait_until_ready(self, timeout_s: float) -> None:
        await self._session.wait_until_ready(self._ready_models, timeout_s)

    @twin_of(SyncLifecycle.close)
    async def close(self) -> None:
        await self._session.close()

    async def __aenter__(self: _AsyncT) -> _AsyncT:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
