"""Every sync/async twin offers the same API: names, signatures and documented errors."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from clients import (
    AsyncImageDiagnosisClient,
    AsyncRecommendationClient,
    ImageDiagnosisClient,
    RecommendationClient,
)
from clients._session import AsyncSession, SyncSession
from clients._transport.base import AsyncTransport, SyncTransport

PAIRS = [
    (ImageDiagnosisClient, AsyncImageDiagnosisClient),
    (RecommendationClient, AsyncRecommendationClient),
    (SyncSession, AsyncSession),
    (SyncTransport, AsyncTransport),
]
CLIENT_PAIRS = PAIRS[:2]
IDS = [sync.__name__ for sync, _ in PAIRS]


def _public(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_")}


def _raises(member: Any) -> list[str]:
    """The lines of a docstring's ``Raises:`` section (empty if it has none)."""
    lines = (inspect.getdoc(member) or "").splitlines()
    if "Raises:" not in lines:
        return []
    section = []
    for line in lines[lines.index("Raises:") + 1 :]:
        if line and not line.startswith(" "):
            break
        section.append(line.strip())
    return [line for line in section if line]


@pytest.mark.parametrize(("sync", "async_"), PAIRS, ids=IDS)
def test_async_twin_has_the_same_public_names_as_its_sync_class(sync: type, async_: type) -> None:
    assert _public(sync) == _public(async_)


@pytest.mark.parametrize(("sync", "async_"), PAIRS, ids=IDS)
def test_async_twin_methods_are_coroutines_with_the_sync_signature(
    sync: type, async_: type
) -> None:
    for name in sorted(_public(sync)):
        blocking, awaited = getattr(sync, name), getattr(async_, name)
        if isinstance(inspect.getattr_static(sync, name), property):
            assert isinstance(inspect.getattr_static(async_, name), property), name
            continue
        assert not inspect.iscoroutinefunction(blocking), name
        assert inspect.iscoroutinefunction(awaited), name
        assert inspect.signature(blocking) == inspect.signature(awaited), name


@pytest.mark.parametrize(("sync", "async_"), PAIRS, ids=IDS)
def test_async_twin_docstrings_have_the_sync_raises_sections(sync: type, async_: type) -> None:
    for name in sorted(_public(sync)):
        assert _raises(getattr(sync, name)) == _raises(getattr(async_, name)), name


@pytest.mark.parametrize(("sync", "async_"), CLIENT_PAIRS, ids=IDS[:2])
def test_client_methods_that_call_the_server_document_their_errors(
    sync: type, async_: type
) -> None:
    calls = _public(sync) - {"close", "model_name", "retries"}
    assert calls
    for cls in (sync, async_):
        undocumented = [name for name in calls if not _raises(getattr(cls, name))]
        assert not undocumented, f"{cls.__name__}: no Raises section in {undocumented}"


@pytest.mark.parametrize(("sync", "async_"), CLIENT_PAIRS, ids=IDS[:2])
def test_client_twins_support_their_own_context_manager_protocol(
    sync: type, async_: type
) -> None:
    assert hasattr(sync, "__enter__") and hasattr(sync, "__exit__")
    assert hasattr(async_, "__aenter__") and hasattr(async_, "__aexit__")
    assert not hasattr(sync, "__aenter__") and not hasattr(async_, "__enter__")
