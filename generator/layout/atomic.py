"""All-or-nothing writes: a file or a whole folder is staged beside its target, then renamed.

Readers (a running Triton, a test, a person) see the old content or the new one, never
a mix; a failure leaves the target exactly as it was.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["replace_folder", "swap_folder", "write_bytes_atomic", "write_text_atomic"]

_READABLE_FILE = 0o644
_READABLE_FOLDER = 0o755


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers never see a half-written file.

    The file is written to a temporary sibling, flushed to disk and renamed over
    ``path``; on any failure the sibling is removed and ``path`` is untouched. The
    result is world-readable (0644), since servers may run as another user.

    Args:
        path: Destination file; its parent folder is created when missing.
        data: The complete content.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, _READABLE_FILE)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`write_bytes_atomic`)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def swap_folder(staged: Path, target: Path) -> None:
    """Put the folder ``staged`` in the place of ``target``, which may exist.

    An existing ``target`` is first renamed into a private sibling, then ``staged`` is
    renamed to ``target``; if that fails the old folder is renamed back. The old folder
    is deleted only once the new one is in place. Both must be on the same file system
    (``staged`` is normally a sibling of ``target``).

    Args:
        staged: The complete new folder.
        target: The folder to replace or create.

    Raises:
        OSError: A rename failed; ``target`` is as it was.
    """
    staged, target = Path(staged), Path(target)
    if not target.exists() and not target.is_symlink():
        os.replace(staged, target)
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    try:
        os.replace(target, retired / target.name)
        try:
            os.replace(staged, target)
        except BaseException:
            os.replace(retired / target.name, target)
            raise
    finally:
        shutil.rmtree(retired, ignore_errors=True)


@contextmanager
def replace_folder(target: Path) -> Iterator[Path]:
    """Stage a new folder for ``target``; it replaces ``target`` when the block succeeds.

    The block fills the yielded folder, a fresh temporary sibling of ``target``. When the
    block ends normally the folder is made world-readable (0755) and swapped in with
    :func:`swap_folder`; when it raises, the staged folder is deleted and ``target`` is
    left exactly as it was.

    Args:
        target: The folder to replace or create; its parent is created when missing.

    Yields:
        The empty staging folder.

    Raises:
        OSError: The staging folder could not be made or swapped in.
    """
    target = Path(os.path.abspath(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-", dir=target.parent))
    try:
        yield staged
        os.chmod(staged, _READABLE_FOLDER)
        swap_folder(staged, target)
    finally:
        if staged.exists():
            shutil.rmtree(staged, ignore_errors=True)
