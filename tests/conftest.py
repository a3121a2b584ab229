"""Root fixtures: the repository root and a real Triton serving ``model_repository/``.

Other test folders can start their own server with::

    from serving import start_server

    with start_server(tmp_path / "repo") as server:
        ...

or with the ``start_triton`` fixture, which stops every server it started.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from serving import TritonServer, start_server

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The project's root folder."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def triton_server(repo_root: Path) -> Iterator[TritonServer]:
    """One embedded Triton for the session, serving the adapted ``model_repository/``."""
    repository = repo_root / "model_repository"
    if not any(repository.glob("*/config.pbtxt")):
        pytest.skip(f"{repository} has no model config.pbtxt yet: run `make demo` / "
                    "`python -m generator build specs --out model_repository` first")
    with start_server(repository) as server:
        yield server


@pytest.fixture
def start_triton() -> Iterator[Callable[..., TritonServer]]:
    """Factory fixture: ``start_triton(repo, **kwargs)`` returns a ready server.

    Every server started through it is stopped at the end of the test.
    """
    with ExitStack() as stack:
        def start(repository: Path, **kwargs: Any) -> TritonServer:
            return stack.enter_context(start_server(repository, **kwargs))

        yield start
