"""Recommendation clients (sync and asyncio)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from clients._config import RetryPolicy, Settings, Timeouts, TlsOptions
from clients._core.recommendation import RECOMMENDATION_MODEL, Recommendation, RecommendationPlan
from clients._lifecycle import AsyncLifecycle, ClientBase, SessionT, SyncLifecycle
from clients._session import AsyncSession, SyncSession
from clients._twins import twin_of

__all__ = ["AsyncRecommendationClient", "RecommendationClient"]


class _RecommendationBase(ClientBase[SessionT]):
    """Constructor shared by both recommendation clients.

    Args:
        url: ``http://``, ``https://``, ``grpc://`` or ``grpcs://`` plus ``host:port``.
        model_version: Pin a model version such as ``"1"`` (None: server's choice).
        timeouts: Time limits; every call also accepts ``timeout_s=``.
        retry: Retry policy for transient failures (default: 3 attempts within 10 s).
        headers: Extra headers (e.g. authorization) sent with every request.
        ssl: TLS options for ``https``/``grpcs`` URLs.

    Raises:
        ConfigurationError: If the URL, version, TLS or retry options are unusable.
    """

    _ready_models = (RECOMMENDATION_MODEL,)

    def __init__(
        self,
        url: str,
        *,
        model_version: str | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        ssl: TlsOptions | None = None,
    ) -> None:
        super().__init__(Settings(url, model_version, timeouts, retry, headers, ssl))


class RecommendationClient(_RecommendationBase[SyncSession], SyncLifecycle):
    """Blocking client for the ``recommendation`` model (arguments: see the base class).

    Example:
        >>> with RecommendationClient("grpc://127.0.0.1:8001") as client:
        ...     [r.item_id for r in client.recommend(42, k=5)]
    """

    def recommend(
        self, user_id: int, k: int = 10, *, timeout_s: float | None = None
    ) -> list[Recommendation]:
        """Returns the top ``k`` items for one user, best first.

        Args:
            user_id: Non-negative user id.
            k: Number of items, 1 <= k <= the model's K.
            timeout_s: Limit for each request of this call.

        Returns:
            Recommendations sorted by descending score, each naming the model version
            that answered.

        Raises:
            InvalidInputError: Negative/non-integer user id or k out of range.
            MetadataMismatchError: On first use, if the model differs from the expected.
            ClientError: Any other subclass for transport or server failures.
        """
        return self._session.run(RecommendationPlan([user_id], k), timeout_s)[0]

    def recommend_batch(
        self, user_ids: Sequence[int], k: int = 10, *, timeout_s: float | None = None
    ) -> list[list[Recommendation]]:
        """Returns the top ``k`` items for each user, in input order.

        Args:
            user_ids: Non-negative user ids.
            k: Number of items per user, 1 <= k <= the model's K.
            timeout_s: Limit for each request of this call.

        Returns:
            One sorted list per user.

        Raises:
            InvalidInputError: Naming the bad id or k.
            MetadataMismatchError: On first use, if the model differs from the expected.
            ClientError: Any other subclass for transport or server failures.
        """
        return self._session.run(RecommendationPlan(user_ids, k), timeout_s)


class AsyncRecommendationClient(_RecommendationBase[AsyncSession], AsyncLifecycle):
    """Asyncio twin of :class:`RecommendationClient`: the same methods, awaited."""

    @twin_of(RecommendationClient.recommend)
    async def recommend(
        self, user_id: int, k: int = 10, *, timeout_s: float | None = None
    ) -> list[Recommendation]:
        return (await self._session.run(RecommendationPlan([user_id], k), timeout_s))[0]

    @twin_of(RecommendationClient.recommend_batch)
    async def recommend_batch(
        self, user_ids: Sequence[int], k: int = 10, *, timeout_s: float | None = None
    ) -> list[list[Recommendation]]:
        return await self._session.run(RecommendationPlan(user_ids, k), timeout_s)
