"""Semantic validation of Triton model configs and repositories.

Works on Triton's own schema (``tritonclient.grpc.model_config_pb2.ModelConfig``) and
mirrors the checks Triton 2.51 runs at load time, plus warnings for configs Triton
accepts silently but that rarely do what was meant. See ``docs/validation.md``.
"""

from generator.layout import load_config, parse_config
from generator.validation.artifacts import ModelArtifacts, load_model_dir
from generator.validation.issues import Issue, Severity, raise_for_errors
from generator.validation.onnx_check import complete_from_onnx
from generator.validation.validate import (
    validate_config,
    validate_model,
    validate_models,
    validate_repository,
)

__all__ = [
    "Issue",
    "ModelArtifacts",
    "Severity",
    "complete_from_onnx",
    "load_config",
    "load_model_dir",
    "parse_config",
    "raise_for_errors",
    "validate_config",
    "validate_model",
    "validate_models",
    "validate_repository",
]
