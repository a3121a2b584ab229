"""Thin I/O: the repository, readiness and inference calls the controller needs.

Over HTTP (``http://HOST:PORT``, ``tritonclient.http``) or gRPC (``grpc://HOST:PORT``,
``tritonclient.grpc``), with the admin header on repository calls (over gRPC Triton
expects it as ``triton-grpc-protocol-<header>``). Every failure becomes a
:class:`RepositoryApiError`.

Prefer gRPC while HTTP clients are under load: a repository ``load`` holds one of
Triton's HTTP worker threads for as long as the load takes (seconds), and the HTTP
calls queued behind it wait that long (measured in docs/releases.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from google.protobuf import json_format
from tritonclient.utils import InferenceServerException

from serving.release.errors import ReleaseInputError, RepositoryApiError
from serving.release.golden import GoldenCase

__all__ = ["RepositoryApi", "VersionState"]

_TIMEOUT_S = 120.0
_GRPC_HEADER_PREFIX = "triton-grpc-protocol-"


@dataclass(frozen=True)
class VersionState:
    """One row of Triton's repository index for a model.

    Attributes:
        version: Version number.
        state: ``READY``, ``LOADING``, ``UNLOADING``, ``UNAVAILABLE``, ...
        reason: Triton's reason (why it is unavailable), or empty.
    """

    version: int
    state: str
    reason: str = ""


@contextmanager
def _translated(action: str) -> Iterator[None]:
    try:
        yield
    except InferenceServerException as error:
        status = str(error.status() or "")
        raise RepositoryApiError(action, status, error.message() or str(error)) from error
    except OSError as error:
        raise RepositoryApiError(action, "", str(error) or type(error).__name__) from error


class RepositoryApi:
    """Triton's repository API, readiness and inference for one server.

    Args:
        url: ``http(s)://HOST:PORT`` or ``grpc(s)://HOST:PORT``.
        admin_headers: Header name -> value that unlocks the repository API.
        timeout_s: Network timeout of each call (a load can take a while).
    """

    def __init__(
        self, url: str, admin_headers: Mapping[str, str], timeout_s: float = _TIMEOUT_S
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https", "grpc", "grpcs") or not parts.netloc or \
                parts.path not in ("", "/"):
            raise ReleaseInputError(
                "url", f"must be http(s)://HOST:PORT or grpc(s)://HOST:PORT, got {url!r}"
            )
        self.url = url
        self._grpc = parts.scheme.startswith("grpc")
        self._timeout_s = timeout_s
        self._headers = (
            {f"{_GRPC_HEADER_PREFIX}{k}": v for k, v in admin_headers.items()} if self._grpc
            else dict(admin_headers)
        )
        self._client: Any
        if self._grpc:
            self._client = triton_grpc.InferenceServerClient(parts.netloc,
                                                             ssl=parts.scheme == "grpcs")
        else:
            self._client = triton_http.InferenceServerClient(
                parts.netloc, ssl=parts.scheme == "https",
                connection_timeout=timeout_s, network_timeout=timeout_s,
            )
        self._lib: Any = triton_grpc if self._grpc else triton_http

    def close(self) -> None:
        """Close the connection."""
        self._client.close()

    def __enter__(self) -> RepositoryApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def versions(self, model: str) -> list[VersionState]:
        """The model's versions in the repository index, sorted by version."""
        with _translated("repository index"):
            if self._grpc:
                answer = self._client.get_model_repository_index(headers=self._headers,
                                                                 as_json=True)
                index: list[dict[str, Any]] = answer.get("models", [])
            else:
                index = self._client.get_model_repository_index(headers=self._headers)
        rows = []
        for entry in index:
            version = str(entry.get("version", ""))
            if entry.get("name") == model and version.isdigit():
                rows.append(VersionState(int(version), str(entry.get("state", "")),
                                         str(entry.get("reason", ""))))
        return sorted(rows, key=lambda row: row.version)

    def config(self, model: str) -> dict[str, Any]:
        """The model's configuration as the server holds it (JSON form)."""
        with _translated(f"config of {model!r}"):
            if self._grpc:
                answer = self._client.get_model_config(model, headers=self._headers)
                config: dict[str, Any] = json_format.MessageToDict(
                    answer.config, preserving_proto_field_name=True)
            else:
                config = self._client.get_model_config(model)
        return config

    def load(self, model: str, config: Mapping[str, Any]) -> None:
        """Load (or reload) ``model`` with ``config`` overriding its ``config.pbtxt``."""
        with _translated(f"load of {model!r}"):
            if self._grpc:
                self._client.load_model(model, headers=self._headers, config=json.dumps(config),
                                        client_timeout=self._timeout_s)
            else:
                self._client.load_model(model, headers=self._headers,
                                        config=json.dumps(config))

    def is_ready(self, model: str, version: int) -> bool:
        """Whether ``model`` version ``version`` is READY (False when unreachable)."""
        try:
            with _translated("readiness"):
                return bool(self._client.is_model_ready(model, str(version)))
        except RepositoryApiError:
            return False

    def server_ready(self) -> bool:
        """Whether ``/v2/health/ready`` says ready (False when unreachable)."""
        try:
            with _translated("server readiness"):
                return bool(self._client.is_server_ready())
        except RepositoryApiError:
            return False

    def infer(self, model: str, version: int, case: GoldenCase) -> dict[str, npt.NDArray[Any]]:
        """Run one golden case pinned to ``version``; output name -> array."""
        inputs = []
        for name, tensor in sorted(case.inputs.items()):
            infer_input = self._lib.InferInput(name, list(tensor.shape), tensor.datatype)
            infer_input.set_data_from_numpy(tensor.to_numpy())
            inputs.append(infer_input)
        outputs = [self._lib.InferRequestedOutput(name) for name in sorted(case.outputs)]
        with _translated(f"inference on {model!r} version {version}"):
            result = self._client.infer(model, inputs, model_version=str(version),
                                        outputs=outputs)
        return {name: np.asarray(result.as_numpy(name)) for name in case.outputs
                if result.as_numpy(name) is not None}
