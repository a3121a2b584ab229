"""Fixtures for the replica tests: real HAProxy in front of real embedded Triton servers."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from clients import RecommendationClient, RetryPolicy
from loadtests.server_stats import model_counters
from serving.lb import INSTALL_HINT
from serving.replicas import ReplicaSet

REPO_ROOT = Path(__file__).resolve().parents[2]
REPOSITORY = REPO_ROOT / "model_repository"
MODEL = "recommendation"

#: Fast health checks so that the tests see state changes quickly.
FAST_CHECKS = {"check_interval_ms": 200}


def haproxy_or_skip() -> Path:
    """The haproxy binary; skip without it (fail under CI=true, where it must be installed)."""
    found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        reason = f"haproxy is not installed; {INSTALL_HINT}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: {reason}")
        pytest.skip(reason)
    return Path(found)


@pytest.fixture(scope="session")
def haproxy() -> Path:
    return haproxy_or_skip()


@pytest.fixture(scope="module")
def replicas(haproxy: Path) -> Iterator[ReplicaSet]:
    """Two replicas serving only ``recommendation``, behind HAProxy."""
    with ReplicaSet(REPOSITORY, replicas=2, models=[MODEL],
                    balancer_options={"haproxy": haproxy, **FAST_CHECKS}) as replica_set:
        yield replica_set


def served_count(http_url: str, model: str = MODEL) -> int:
    """Successful requests of ``model`` according to one replica's own statistics."""
    return model_counters(http_url, model).counts["success"]


def served_counts(replica_set: ReplicaSet) -> dict[str, int]:
    """:func:`served_count` of every running replica, by name."""
    return {info.name: served_count(info.http_url) for info in replica_set.info()
            if info.pid is not None}


@dataclass
class Load:
    """Calls made by :func:`steady_load`: successes and every error seen by the caller."""

    ok: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def steady_load(url: str, users: int, stop: threading.Event,
                max_calls: int = 200_000) -> tuple[Load, list[threading.Thread]]:
    """Start ``users`` threads, each with its own typed client (retries off), calling
    ``recommend`` through ``url`` until ``stop`` is set (or ``max_calls`` in all)."""
    load = Load()

    def user(index: int) -> None:
        with RecommendationClient(url, retry=RetryPolicy.disabled()) as client:
            for i in range(max_calls // users):
                if stop.is_set():
                    return
                try:
                    client.recommend(user_id=index * 1000 + i % 1000, k=5)
                except Exception as error:
                    with load.lock:
                        load.errors.append(f"{type(error).__name__}: {error}")
                else:
                    with load.lock:
                        load.ok += 1

    threads = [threading.Thread(target=user, args=(n,), daemon=True) for n in range(users)]
    for thread in threads:
        thread.start()
    return load, threads


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail the test naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout_s} s")
        time.sleep(0.05)
