"""What the embedded Triton build needs around it: a backend folder and an environment.

One home for both, used by :class:`serving.server.TritonServer` (a server on this host)
and by :mod:`serving.entrypoint` (the same server as a container's main process).
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from collections.abc import Mapping
from pathlib import Path

from serving.locate import EmbeddedTriton

__all__ = ["embedded_environment", "prepare_backend_dir"]


def prepare_backend_dir(embedded: EmbeddedTriton, backends: Path) -> None:
    """Make a writable backend folder: the python backend plus this Python's stub.

    The python backend looks for ``triton_python_backend_stub`` beside
    ``libtriton_python.so``; the wheel keeps one stub per Python version elsewhere, and
    site-packages must not be modified, so the backend is linked (or copied) here.

    Args:
        embedded: Layout of the embedded Triton build.
        backends: Folder to create; it is given to ``--backend-directory``.
    """
    python_dir = backends / "python"
    python_dir.mkdir(parents=True)
    sources = [p for p in embedded.python_backend_dir.iterdir() if p.is_file()]
    for source in [*sources, embedded.stub]:
        target = python_dir / source.name
        try:
            target.symlink_to(source)
        except OSError:
            shutil.copy2(source, target)


def embedded_environment(embedded: EmbeddedTriton, base: Mapping[str, str]) -> dict[str, str]:
    """Return ``base`` extended so the python backend stub runs this interpreter.

    The stub links the bundled ``libcudart`` and whichever ``libpython3.X`` the loader
    finds first, ignores ``PYTHONPATH`` for its own prefix, and takes ``sys.prefix`` from
    the first ``python3`` on ``PATH``: this interpreter's library folder, the wheel's
    libraries and this interpreter's ``bin/`` go first.

    Args:
        embedded: Layout of the embedded Triton build.
        base: The environment to extend (not modified).

    Returns:
        A new environment mapping.
    """
    env = dict(base)
    libdir = sysconfig.get_config_var("LIBDIR")
    lib_paths = [str(libdir)] if libdir else []
    lib_paths.append(str(embedded.libs_dir))
    site_paths = list(dict.fromkeys(
        [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    ))
    bin_paths = [str(Path(sys.executable).parent)]
    for key, paths in (
        ("LD_LIBRARY_PATH", lib_paths), ("PYTHONPATH", site_paths), ("PATH", bin_paths)
    ):
        existing = env.get(key)
        env[key] = os.pathsep.join([*paths, existing] if existing else paths)
    return env
