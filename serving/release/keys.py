"""Where the admin key comes from: an environment variable or a file, never argv."""

from __future__ import annotations

import stat
from collections.abc import Mapping
from pathlib import Path

from serving.release.errors import AdminKeyError
from serving.server import ADMIN_HEADER

__all__ = ["ADMIN_HEADER_ENV", "ADMIN_KEY_ENV", "ADMIN_KEY_FILE_ENV", "admin_headers"]

ADMIN_KEY_ENV = "TRITON_ADMIN_KEY"
"""Environment variable holding the admin key itself (as in ``.env`` for compose)."""
ADMIN_KEY_FILE_ENV = "TRITON_ADMIN_KEY_FILE"
"""Environment variable naming a file that holds the admin key (``serve`` prints it)."""
ADMIN_HEADER_ENV = "TRITON_ADMIN_HEADER"
"""Environment variable overriding the header name (compose's ``TRITON_ADMIN_HEADER``)."""


def _read_key_file(path: Path) -> str:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise AdminKeyError("admin_key_file", f"cannot read {path}: {error}") from error
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise AdminKeyError("admin_key_file", f"{path} is readable by others (mode "
                            f"{stat.S_IMODE(mode):04o}); chmod 600 it")
    return text.strip()


def admin_headers(environ: Mapping[str, str], key_file: Path | None = None) -> dict[str, str]:
    """The header that unlocks the repository API, from a key file or the environment.

    Order: ``key_file`` (``--admin-key-file``), then ``$TRITON_ADMIN_KEY_FILE``, then
    ``$TRITON_ADMIN_KEY``. With none of them, no header is sent (a server without
    restricted APIs).

    Args:
        environ: The environment (``os.environ``).
        key_file: A file holding the key (mode 0600 or stricter).

    Returns:
        Header name -> key, or an empty mapping.

    Raises:
        AdminKeyError: The file is unreadable, readable by others, or empty.
    """
    header = environ.get(ADMIN_HEADER_ENV) or ADMIN_HEADER
    path = key_file or (Path(environ[ADMIN_KEY_FILE_ENV]) if environ.get(ADMIN_KEY_FILE_ENV)
                        else None)
    if path is not None:
        key = _read_key_file(Path(path))
        if not key:
            raise AdminKeyError("admin_key_file", f"{path} is empty")
        return {header: key}
    key = environ.get(ADMIN_KEY_ENV, "").strip()
    return {header: key} if key else {}

