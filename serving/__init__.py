"""The runtime: run model repositories on real Triton Inference Servers.

It serves a repository on loopback ports (:class:`TritonServer`, ``python -m serving``)
and adapts repositories to servers without a GPU; every error it raises on purpose is a
:class:`ServingError`. It builds on the generator's core (``generator.layout`` for the
repository layout, ``generator.validation`` for ONNX auto-completion), never the reverse.

The default binary is the Triton 2.51 build shipped in ``nvidia-pytriton`` (python
backend only, CPU only); :func:`adapt_repository` makes a copy of a production
repository that this build (``AdaptTarget.EMBEDDED``) or a full Triton on a CPU-only host
(``AdaptTarget.CPU``) can serve.
"""

from serving.adapt import (
    MARKER_NAME,
    AdaptTarget,
    Substitution,
    adapt_repository,
    validate_model_name,
    write_adapted_repository,
)
from serving.cli import (
    add_adapt_parser,
    add_serve_arguments,
    add_serve_parser,
    run_adapt,
    run_serve,
)
from serving.errors import (
    AdaptationError,
    AdaptDestinationError,
    ServerStartError,
    ServingError,
    TritonNotFoundError,
)
from serving.locate import EmbeddedTriton, find_embedded_triton, is_embedded_binary
from serving.logparse import parse_model_errors
from serving.ports import free_ports
from serving.replicas import ReplicaInfo, ReplicaSet
from serving.server import ADMIN_HEADER, TritonServer, start_server

__all__ = [
    "ADMIN_HEADER",
    "MARKER_NAME",
    "AdaptDestinationError",
    "AdaptTarget",
    "AdaptationError",
    "EmbeddedTriton",
    "ReplicaInfo",
    "ReplicaSet",
    "ServerStartError",
    "ServingError",
    "Substitution",
    "TritonNotFoundError",
    "TritonServer",
    "adapt_repository",
    "add_adapt_parser",
    "add_serve_arguments",
    "add_serve_parser",
    "find_embedded_triton",
    "free_ports",
    "is_embedded_binary",
    "parse_model_errors",
    "run_adapt",
    "run_serve",
    "start_server",
    "validate_model_name",
    "write_adapted_repository",
]
