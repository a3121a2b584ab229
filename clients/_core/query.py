"""Protocol-neutral descriptions of the metadata-side calls (health, metadata, config).

The four tritonclient clients (HTTP and gRPC, sync and asyncio) share these method
names and arguments, so a :class:`Query` names the call once and every transport
runs it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

__all__ = [
    "SERVER_LIVE",
    "SERVER_READY",
    "Query",
    "model_config",
    "model_metadata",
    "model_ready",
    "what",
]

T = TypeVar("T")


def what(name: str | None) -> str:
    """Names the target of a call in error messages: ``model 'x'`` or ``server``."""
    return f"model '{name}'" if name else "server"


@dataclass(frozen=True)
class Query(Generic[T]):
    """One tritonclient call that answers with a value rather than tensors.

    Attributes:
        model: The model asked about, None for the server.
        method: The tritonclient method, e.g. ``is_server_live``.
        args: Its positional arguments.
        json: Whether the answer is asked for as a dict (gRPC answers protobuf
            messages unless told otherwise).
        read: Turns the raw answer into the value.
    """

    model: str | None
    method: str
    args: tuple[str, ...]
    json: bool
    read: Callable[[Any], T]


def _mapping(raw: Any) -> Mapping[str, Any]:
    answer: Mapping[str, Any] = raw
    return answer


def _config(raw: Any) -> Mapping[str, Any]:
    # gRPC wraps the configuration in {"config": ...}; HTTP answers it bare.
    config: Mapping[str, Any] = raw.get("config", raw)
    return config


SERVER_LIVE: Query[bool] = Query(None, "is_server_live", (), False, bool)
"""Whether the server reports itself live."""

SERVER_READY: Query[bool] = Query(None, "is_server_ready", (), False, bool)
"""Whether the server reports itself ready."""


def _about_model(
    method: str, json: bool, read: Callable[[Any], T]
) -> Callable[[str, str], Query[T]]:
    def build(name: str, version: str) -> Query[T]:
        return Query(name, method, (name, version), json, read)

    return build


model_ready = _about_model("is_model_ready", False, bool)
"""``model_ready(name, version)``: whether a model (version ``""``: server's choice) is ready."""

model_metadata = _about_model("get_model_metadata", True, _mapping)
"""``model_metadata(name, version)``: a model's metadata as a KServe v2 style dict."""

model_config = _about_model("get_model_config", True, _config)
"""``model_config(name, version)``: a model's configuration as a dict (snake_case keys)."""
