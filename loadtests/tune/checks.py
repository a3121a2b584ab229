"""Check a candidate config before it is tried: host limits, then the generator's validator."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tritonclient.grpc import model_config_pb2 as mc

from generator.errors import ConfigSyntaxError
from generator.layout import CONFIG_FILENAME
from generator.validation import load_model_dir, validate_model
from loadtests.tune.control import apply_candidate
from loadtests.tune.errors import CandidateError, TuneError
from loadtests.tune.space import Candidate, HostInfo

__all__ = ["CandidateChecker"]


class CandidateChecker:
    """Rejects candidates the host or Triton could not load, before anything is sent.

    The config is checked with :func:`generator.validation.validate_model` against the
    files of the model folder the server serves (version folders, model files, labels),
    so every load-time error Triton 2.51 would raise is caught here first.

    Args:
        model: The model name.
        model_dir: The model's folder, as served (or the repository it was built from).
        host: The serving host: ``KIND_GPU`` needs a GPU, instance counts its resources.

    Raises:
        TuneError: ``model_dir`` is missing or its config does not parse.
    """

    def __init__(self, model: str, model_dir: Path, host: HostInfo) -> None:
        if not (model_dir / CONFIG_FILENAME).is_file():
            raise TuneError(f"repository: {model_dir} has no config.pbtxt; the validator "
                            f"needs the files of model {model!r}")
        try:
            self._artifacts = load_model_dir(model_dir)
        except ConfigSyntaxError as exc:
            raise TuneError(f"repository: {exc}") from exc
        self.model = model
        self.host = host

    def check(self, candidate: Candidate, config: mc.ModelConfig) -> None:
        """Raise :class:`CandidateError` naming every problem of ``config``.

        The candidate's knobs are applied to the folder's own ``config.pbtxt`` and that
        is validated with the folder's files; ``config`` (what will be sent) is validated
        too when it runs on the same platform and backend as the folder's config (an
        embedded server serves ONNX models through a python-backend wrapper).

        Args:
            candidate: The knobs.
            config: The full config that would be loaded.
        """
        problems: list[str] = []
        if candidate.kind.value == "KIND_GPU" and self.host.gpus == 0:
            problems.append("instance_group[0].kind: KIND_GPU on a host without a GPU")
        if candidate.instance_count > self.host.max_instances:
            problems.append(f"instance_group[0].count: {candidate.instance_count} instances "
                            f"exceed this host's {self.host.max_instances}")
        on_disk = self._artifacts.config
        configs = [apply_candidate(on_disk, candidate)]
        if (config.platform, config.backend) == (on_disk.platform, on_disk.backend):
            configs.append(config)
        for checked in configs:
            artifacts = dataclasses.replace(self._artifacts, config=checked, config_path=None)
            for issue in validate_model(artifacts):
                if issue.is_error and str(issue) not in problems:
                    problems.append(str(issue))
        if problems:
            raise CandidateError(self.model, problems)
