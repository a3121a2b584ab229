"""The runners' side of input data: resolved once, before any load, and written down.

``run`` and ``drill`` call :func:`prepare_input_data` before locust starts: it reads
the served model's signature, loads ``--input-data`` or generates the inputs (so a
model whose inputs cannot be generated fails here, naming each input, with exit code
2), and writes the data to ``input_data.json`` in the report folder, in perf_analyzer's
format. Locust's users then read that file, so the run sends exactly what was written
(and what ``--export-input-data`` receives).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from clients import ClientError, ModelClient, RetryPolicy, Timeouts
from generator.layout import write_text_atomic
from loadtests.calls import DataCall, DataOptions, load_input_data, make_call
from loadtests.errors import InputDataError, RunnerError
from loadtests.inputdata import InputData, ModelTensors

__all__ = ["INPUT_DATA_NAME", "prepare_input_data", "served_input_data"]

INPUT_DATA_NAME = "input_data.json"
"""The file in the report folder that holds the inputs a run used."""


def _served_tensors(model: str, url: str, timeout_s: float) -> ModelTensors:
    try:
        with ModelClient(url, model, timeouts=Timeouts(request_s=timeout_s),
                         retry=RetryPolicy(max_attempts=1)) as client:
            client.wait_until_ready(timeout_s)
            return ModelTensors.from_info(client.model_info())
    except ClientError as exc:
        raise RunnerError(f"model {model!r} at {url}: {type(exc).__name__}: {exc}") from exc


def served_input_data(model: str, url: str, options: DataOptions | None = None,
                      timeout_s: float = 10.0) -> InputData:
    """Reads ``options.input_data`` or generates inputs for ``model`` as served at ``url``.

    Raises:
        InputDataError: The data does not fit the model or cannot be generated.
        RunnerError: The model is not served at ``url``.
    """
    return load_input_data(_served_tensors(model, url, timeout_s), options or DataOptions())


def prepare_input_data(
    model: str,
    url: str,
    values: Mapping[str, Any],
    report_dir: Path,
    export_to: Path | None = None,
    timeout_s: float = 10.0,
) -> tuple[dict[str, Any], InputData | None]:
    """Resolves a run's inputs before any load starts.

    Args:
        model: The model under load.
        url: Its server (the run's protocol).
        values: Option values by ``dest`` (``input_data``, ``shapes``, ...).
        report_dir: Where ``input_data.json`` is written.
        export_to: ``--export-input-data``: a second copy of it.
        timeout_s: How long to wait for the model and its metadata.

    Returns:
        The option values to pass to locust instead (the written file as
        ``input_data``), and the data; ``({}, None)`` for a reference model's own call.

    Raises:
        InputDataError: The data does not fit the model or cannot be generated, or an
            export was asked of a model that runs its own typed call.
        RunnerError: The model is not served at ``url``.
    """
    call = make_call(model, values)
    if not isinstance(call, DataCall):
        if export_to is not None:
            raise InputDataError(
                f"--export-input-data: model {model!r} runs its own typed call, which has no "
                "input data; give --input-data, --shape or --batch-size to load it through "
                "input data")
        return {}, None
    data = served_input_data(model, url, call.options, timeout_s)
    text = json.dumps(data.export()) + "\n"
    written = report_dir / INPUT_DATA_NAME
    report_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(written, text)
    if export_to is not None:
        write_text_atomic(export_to, text)
    return {"input_data": written, "shapes": None, "input_ranges": None}, data
