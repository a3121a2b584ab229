"""Reading ``config.pbtxt`` text into Triton's own ``ModelConfig`` message."""

from __future__ import annotations

import re
from pathlib import Path

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from generator.errors import ConfigSyntaxError
from generator.layout.files import CONFIG_FILENAME

__all__ = ["load_config", "parse_config"]

_LOCATION_PREFIX = re.compile(r"^\s*\d+:\d+\s*:\s*")


def parse_config(text: str, *, path: Path | None = None) -> mc.ModelConfig:
    """Parse protobuf text into a ``ModelConfig``.

    Args:
        text: The contents of a ``config.pbtxt``.
        path: The file the text came from, used in error messages.

    Returns:
        A new ``ModelConfig`` message.

    Raises:
        ConfigSyntaxError: The text is not valid protobuf text for ``ModelConfig``
            (unknown field, bad value, unbalanced braces); carries file, line and column.
    """
    config = mc.ModelConfig()
    where = path if path is not None else Path(f"<{CONFIG_FILENAME}>")
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as exc:
        message = _LOCATION_PREFIX.sub("", str(exc))
        raise ConfigSyntaxError(where, message, exc.GetLine(), exc.GetColumn()) from exc
    return config


def load_config(path: Path) -> mc.ModelConfig:
    """Read and parse a ``config.pbtxt`` file.

    Args:
        path: The file to read (UTF-8).

    Returns:
        The parsed ``ModelConfig``.

    Raises:
        ConfigSyntaxError: The file is missing, unreadable or does not parse.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigSyntaxError(path, f"cannot read config: {exc}") from exc
    return parse_config(text, path=path)
