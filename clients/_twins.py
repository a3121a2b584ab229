"""Sync/async twins share one docstring: the async method is documented by its twin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["twin_of"]

F = TypeVar("F", bound=Callable[..., Any])


def twin_of(sync_method: Callable[..., Any]) -> Callable[[F], F]:
    """Gives an asyncio method the docstring of its blocking twin.

    The twins take the same arguments, return the same values (awaited) and raise the
    same errors, so the documentation has one home: the blocking method.

    Args:
        sync_method: The blocking twin.

    Returns:
        A decorator that sets the async method's ``__doc__`` and returns it unchanged.
    """

    def document(async_method: F) -> F:
        async_method.__doc__ = sync_method.__doc__
        return async_method

    return document
