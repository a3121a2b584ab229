"""Find the ``tritonserver`` binary and the support files of the embedded build."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

from serving.errors import TritonNotFoundError

__all__ = ["EmbeddedTriton", "find_embedded_triton", "is_embedded_binary"]


@dataclass(frozen=True)
class EmbeddedTriton:
    """Layout of the Triton 2.51 build shipped in the ``nvidia-pytriton`` wheel.

    Attributes:
        binary: The ``tritonserver`` executable.
        python_backend_dir: Folder holding ``libtriton_python.so``.
        stub: ``triton_python_backend_stub`` built for the running Python version.
        libs_dir: The wheel's bundled shared libraries (``nvidia_pytriton.libs``).
        caches_dir: Folder given to ``--cache-directory``.
    """

    binary: Path
    python_backend_dir: Path
    stub: Path
    libs_dir: Path
    caches_dir: Path


def _pytriton_root() -> Path:
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        raise TritonNotFoundError(
            "package 'nvidia-pytriton' is not installed; install it or pass --tritonserver PATH"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def find_embedded_triton() -> EmbeddedTriton:
    """Locate the embedded Triton build inside the installed ``pytriton`` package.

    Returns:
        The paths of the binary and its support files.

    Raises:
        TritonNotFoundError: If the package or one of its files is missing, or no
            python backend stub exists for the running Python version.
    """
    root = _pytriton_root()
    tritonserver_dir = root / "tritonserver"
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    layout = EmbeddedTriton(
        binary=tritonserver_dir / "bin" / "tritonserver",
        python_backend_dir=tritonserver_dir / "backends" / "python",
        stub=tritonserver_dir / "python_backend_stubs" / version / "triton_python_backend_stub",
        libs_dir=root.parent / "nvidia_pytriton.libs",
        caches_dir=tritonserver_dir / "caches",
    )
    for label, path in (
        ("tritonserver binary", layout.binary),
        ("python backend", layout.python_backend_dir / "libtriton_python.so"),
        (f"python backend stub for Python {version}", layout.stub),
        ("bundled libraries", layout.libs_dir),
    ):
        if not path.exists():
            raise TritonNotFoundError(f"embedded Triton is incomplete: {label} not found at {path}")
    return layout


def is_embedded_binary(binary: Path) -> bool:
    """Tell whether ``binary`` is the ``tritonserver`` shipped in ``nvidia-pytriton``.

    Args:
        binary: Path to a ``tritonserver`` executable.

    Returns:
        True if it resolves to the embedded build's binary.
    """
    try:
        embedded = find_embedded_triton().binary
    except TritonNotFoundError:
        return False
    return binary.resolve() == embedded.resolve()
