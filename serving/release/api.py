"""Thin I/O: the repository, readiness and inference calls the controller needs.

Everything goes through ``tritonclient.http`` to Triton's HTTP endpoint, with the admin
header on repository calls. Every failure becomes a :class:`RepositoryApiError`.
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
import tritonclient.http as triton_http
from tritonclient.utils import InferenceServerException

from serving.release.errors import ReleaseInputError, RepositoryApiError
from serving.release.golden import GoldenCase

__all__ = ["RepositoryApi", "VersionState"]

_TIMEOUT_S = 120.0


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
        status = error.status()
        code = int(status) if status and str(status).isdigit() else 0
        raise RepositoryApiError(action, code, error.message() or str(error)) from error
    except OSError as error:
        raise RepositoryApiError(action, 0, str(error) or type(error).__name__) from error


class RepositoryApi:
    """Triton's repository API, readiness and inference for one server.

    Args:
        url: The server's HTTP endpoint, ``http://HOST:PORT``.
        admin_headers: Header name -> value that unlocks the repository API.
        timeout_s: Network timeout of each call (a load can take a while).
    """

    def __init__(
        self, url: str, admin_headers: Mapping[str, str], timeout_s: float = _TIMEOUT_S
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in (
            "", "/"
        ):
            raise ReleaseInputError(
                "url", f"must be the server's HTTP endpoint http(s)://HOST:PORT, got {url!r}"
            )
        self.url = url
        self._headers = dict(admin_headers)
        self._client = triton_http.InferenceServerClient(
            parts.netloc, ssl=parts.scheme == "https",
            connection_timeout=timeout_s, network_timeout=timeout_s,
        )

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
            index: list[dict[str, Any]] = self._client.get_model_repository_index(
                headers=self._headers
            )
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
            config: dict[str, Any] = self._client.get_model_config(model)
        return config

    def load(self, model: str, config: Mapping[str, Any]) -> None:
        """Load (or reload) ``model`` with ``config`` overriding its ``config.pbtxt``."""
        with _translated(f"load of {model!r}"):
            self._client.load_model(model, headers=self._headers, config=json.dumps(config))

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
            infer_input = triton_http.InferInput(name, list(tensor.shape), tensor.datatype)
            infer_input.set_data_from_numpy(tensor.to_numpy())
            inputs.append(infer_input)
        outputs = [triton_http.InferRequestedOutput(name) for name in sorted(case.outputs)]
        with _translated(f"inference on {model!r} version {version}"):
            result = self._client.infer(model, inputs, model_version=str(version),
                                        outputs=outputs)
        return {name: np.asarray(result.as_numpy(name)) for name in case.outputs
                if result.as_numpy(name) is not None}
