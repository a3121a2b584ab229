"""The one exponential backoff of the clients (retries and readiness polling)."""

from __future__ import annotations

__all__ = ["exponential_delay_s"]


def exponential_delay_s(step: int, initial_s: float, max_s: float, multiplier: float) -> float:
    """Returns the delay before wait number ``step``: growing geometrically, capped.

    Args:
        step: 1 for the first wait, 2 for the second, ...
        initial_s: The first delay.
        max_s: Upper bound of any delay.
        multiplier: Growth factor between two waits.

    Returns:
        ``min(max_s, initial_s * multiplier ** (step - 1))`` in seconds.
    """
    try:
        return min(max_s, initial_s * multiplier ** (step - 1))
    except OverflowError:  # a float power past 1e308: long capped
        return max_s
