"""Container entrypoint: run the embedded ``tritonserver`` with the compose file's command.

The offline CPU image (``deploy/images/``) carries the Triton 2.51 build that ships in
``nvidia-pytriton``. Its python backend needs a writable backend folder holding the stub
for this Python, and an environment that points the stub at this interpreter. This module
prepares both and then *replaces itself* with ``tritonserver``, so the container runs
exactly the command line that ``docker-compose.yml`` gives (the one the tests check)::

    python -m serving.entrypoint tritonserver --model-repository=/models ...

The first argument must be ``tritonserver``; it is swapped for the embedded binary, and
``--backend-directory`` / ``--cache-directory`` are added unless the command sets them.
Any other first argument (``bash``, ``python``) is executed unchanged, for debugging.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from serving.embedded import embedded_environment, prepare_backend_dir
from serving.errors import TritonNotFoundError
from serving.locate import EmbeddedTriton, find_embedded_triton

__all__ = ["build_exec", "main"]

_BINARY = "tritonserver"


def build_exec(
    argv: Sequence[str],
    embedded: EmbeddedTriton,
    backends: Path,
    environ: Mapping[str, str],
) -> tuple[str, list[str], dict[str, str]]:
    """Work out what to execute for a container command.

    Args:
        argv: The container command (``tritonserver ARGS...`` or any other program).
        embedded: Layout of the embedded Triton build.
        backends: The writable backend folder prepared for it.
        environ: The container's environment.

    Returns:
        The executable path, its argument vector and its environment.

    Raises:
        ValueError: If ``argv`` is empty.
    """
    if not argv:
        raise ValueError("no command given: expected 'tritonserver ARGS...'")
    env = embedded_environment(embedded, environ)
    if argv[0] != _BINARY:
        return argv[0], list(argv), env
    args = [str(embedded.binary), *argv[1:]]
    if not any(a.startswith("--backend-directory") for a in args):
        args.append(f"--backend-directory={backends}")
    if not any(a.startswith("--cache-directory") for a in args):
        args.append(f"--cache-directory={embedded.caches_dir}")
    return str(embedded.binary), args, env


def main(argv: Sequence[str] | None = None) -> int:
    """Prepare the python backend and exec the command; returns only on failure."""
    command = list(sys.argv[1:] if argv is None else argv)
    try:
        embedded = find_embedded_triton()
    except TritonNotFoundError as error:
        print(f"entrypoint: {error}", file=sys.stderr)
        return 2
    workdir = Path(os.environ.get("TRITON_WORKDIR") or tempfile.mkdtemp(prefix="triton-"))
    backends = workdir / "backends"
    if not backends.exists():
        prepare_backend_dir(embedded, backends)
    try:
        executable, args, env = build_exec(command, embedded, backends, os.environ)
    except ValueError as error:
        print(f"entrypoint: {error}", file=sys.stderr)
        return 2
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvpe(executable, args, env)


if __name__ == "__main__":
    sys.exit(main())
