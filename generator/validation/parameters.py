"""Backend ``parameters`` that Triton core itself reads when it loads a model.

``TRITON_BATCH_STRATEGY_PATH`` (``TritonModel::Create``, ``backend_model.cc``) and the
python backend's ``EXECUTION_ENV_PATH`` (``LocalizePythonBackendExecutionEnvironmentPath``,
``model_config_utils.cc``).
"""

from __future__ import annotations

from pathlib import PurePosixPath

from generator.validation.artifacts import ModelArtifacts
from generator.validation.reporter import Reporter

__all__ = ["check_parameters"]

BATCH_STRATEGY = "TRITON_BATCH_STRATEGY_PATH"
EXECUTION_ENV = "EXECUTION_ENV_PATH"
MODEL_DIR_VARIABLE = "$$TRITON_MODEL_DIRECTORY"


def _value(artifacts: ModelArtifacts, key: str) -> str | None:
    parameters = artifacts.config.parameters
    return str(parameters[key].string_value) if key in parameters else None


def check_parameters(artifacts: ModelArtifacts, r: Reporter, *, with_files: bool = True) -> None:
    """Check the parameters Triton core interprets.

    Args:
        artifacts: The model folder.
        r: Where issues go.
        with_files: ``False`` when no model folder is known (file checks are skipped).
    """
    config = artifacts.config
    strategy = _value(artifacts, BATCH_STRATEGY)
    if strategy is not None and config.HasField("sequence_batching"):
        r.error(f"parameters[{BATCH_STRATEGY!r}]", "batch-strategy-with-sequence",
                f"{BATCH_STRATEGY} cannot be used with the sequence batcher; Triton refuses "
                "the model (remove the parameter or use dynamic_batching)")
    elif strategy is not None:
        r.warning(f"parameters[{BATCH_STRATEGY!r}]", "batch-strategy-on-host",
                  f"{BATCH_STRATEGY} {strategy!r} must exist on the serving host or the model "
                  "fails to load (host-dependent)")
    env = _value(artifacts, EXECUTION_ENV)
    if env is None or not with_files or not env.startswith(MODEL_DIR_VARIABLE):
        return
    rel = PurePosixPath(env[len(MODEL_DIR_VARIABLE):].lstrip("/"))
    if ".." in rel.parts:
        return  # points outside the model folder: Triton localizes it from the host
    if rel.as_posix() not in artifacts.files:
        r.error(f"parameters[{EXECUTION_ENV!r}]", "execution-env-missing",
                f"{EXECUTION_ENV} {env!r} names {rel.as_posix()!r} in the model folder, which "
                "does not exist; the python backend cannot unpack its environment")
