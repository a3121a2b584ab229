"""``serve``: run a real Triton on a model repository in the foreground.

``adapt``: write a copy of a model repository adapted to a server without a GPU.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from serving.adapt import AdaptTarget, write_adapted_repository
from serving.errors import ServerStartError, ServingError
from serving.replicas import add_replica_arguments, run_replicas
from serving.server import ADMIN_HEADER, MODEL_CONTROL_MODES, TritonServer
from serving.signals import Interrupted, StopSignals

__all__ = [
    "add_adapt_parser",
    "add_serve_arguments",
    "add_serve_parser",
    "main",
    "run_adapt",
    "run_serve",
]

#: ``adapt --target`` choices: the targets that change something.
ADAPT_TARGETS = (AdaptTarget.CPU.value, AdaptTarget.EMBEDDED.value)

_LIVENESS_CHECK_S = 0.5


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``serve`` arguments to ``parser``.

    Args:
        parser: The parser of the ``serve`` command.
    """
    parser.add_argument("repository", type=Path, metavar="REPO_DIR",
                        help="model repository to serve")
    parser.add_argument("--http-port", type=int, default=None,
                        help="HTTP port on 127.0.0.1 (default: a free port)")
    parser.add_argument("--grpc-port", type=int, default=None,
                        help="gRPC port on 127.0.0.1 (default: a free port)")
    parser.add_argument("--metrics-port", type=int, default=None,
                        help="metrics port on 127.0.0.1 (default: a free port)")
    parser.add_argument("--tritonserver", type=Path, default=None, metavar="PATH",
                        help="a tritonserver binary (default: the one in nvidia-pytriton); "
                        "a full Triton serves the repository unchanged")
    parser.add_argument("--no-adapt", dest="adapt", action="store_false",
                        help="serve the repository as is, even on the embedded python-only "
                        "server")
    parser.add_argument("--ready-timeout-s", type=float, default=120.0,
                        help="seconds to wait for the server to become ready (default 120)")
    parser.add_argument("--model-control", choices=MODEL_CONTROL_MODES, default="none",
                        help="Triton's model-control mode (default none); explicit lets "
                        "`python -m serving.release` load and switch versions through the "
                        "repository API, behind the admin key")
    parser.add_argument("--exit-timeout-s", type=int, default=5,
                        help="seconds Triton waits for in-flight requests on shutdown "
                        "(default 5)")
    add_replica_arguments(parser)


def add_serve_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the ``serve`` subcommand.

    Args:
        subparsers: The object returned by ``ArgumentParser.add_subparsers()``.
    """
    parser = subparsers.add_parser(
        "serve", help="serve a model repository with a real Triton on 127.0.0.1",
        description="Serve REPO_DIR with Triton on loopback ports until SIGINT/SIGTERM.",
    )
    add_serve_arguments(parser)
    parser.set_defaults(func=run_serve)


def _print_failure(error: BaseException, err: TextIO) -> None:
    print(f"error: {error}" if not isinstance(error, ServerStartError) else
          f"error: {str(error).splitlines()[0]}", file=err)
    if isinstance(error, ServerStartError):
        for model, reason in error.model_errors.items():
            print(f"  model {model!r} failed to load: {reason}", file=err)
        if not error.model_errors and error.log_tail:
            print("last lines of the server log:", file=err)
            print(error.log_tail, file=err)


def run_serve(args: argparse.Namespace) -> int:
    """Serve ``args.repository`` in the foreground until SIGINT or SIGTERM.

    Prints each substitution made for the embedded server, then the three URLs once
    the server is ready.

    Args:
        args: Parsed ``serve`` arguments.

    Returns:
        0 after a clean stop on a signal, 1 if the server could not start (each failed
        model and Triton's reason are printed to stderr) or died while serving.
    """
    if args.replicas is not None:
        return run_replicas(args)
    out, err = sys.stdout, sys.stderr
    server: TritonServer | None = None
    with StopSignals() as signals:
        try:
            server = TritonServer(
                args.repository, http_port=args.http_port, grpc_port=args.grpc_port,
                metrics_port=args.metrics_port, tritonserver=args.tritonserver, adapt=args.adapt,
                ready_timeout_s=args.ready_timeout_s, exit_timeout_s=args.exit_timeout_s,
                model_control_mode=args.model_control,
            )
            try:
                server.start()
            finally:
                for substitution in server.substitutions:
                    print(f"substitution: {substitution}", file=out)
            signals.starting = False
            print(f"HTTP:    {server.http_url}", file=out)
            print(f"gRPC:    {server.grpc_url}", file=out)
            print(f"metrics: {server.metrics_url}", file=out)
            print(f"log:     {server.log_path}", file=out)
            print(f"admin key: {server.admin_key_path} (header {ADMIN_HEADER}; "
                  f"model control {server.model_control_mode})", file=out)
            print("ready; press Ctrl+C to stop", file=out, flush=True)
            while not signals.stop.wait(_LIVENESS_CHECK_S):
                if not server.is_running:
                    print(f"error: tritonserver exited unexpectedly; see {server.log_path}",
                          file=err)
                    return 1
            print("stopping", file=out, flush=True)
            return 0
        except Interrupted:
            print("interrupted while starting", file=err)
            return 130
        except (ServingError, OSError) as error:
            _print_failure(error, err)
            return 1
        finally:
            signals.starting = False
            if server is not None:
                server.stop()
            out.flush()


def add_adapt_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the ``adapt`` subcommand.

    Args:
        subparsers: The object returned by ``ArgumentParser.add_subparsers()``.
    """
    parser = subparsers.add_parser(
        "adapt", help="write a copy of a repository that runs without a GPU",
        description="Write DST, a copy of model repository SRC adapted to a server without "
        "a GPU: --target cpu for a full Triton on a CPU-only host (deploy/compose.cpu.yml), "
        "--target embedded for the python-only embedded Triton. DST is written as a whole "
        "(temporary sibling folder, then renamed); an existing DST is replaced only if an "
        "earlier `adapt` wrote it (it holds a .adapted-from file) or it is empty.",
    )
    parser.add_argument("source", type=Path, metavar="SRC", help="model repository to adapt")
    parser.add_argument("destination", type=Path, metavar="DST",
                        help="folder to write (replaced if an earlier `adapt` wrote it)")
    parser.add_argument("--target", required=True, choices=ADAPT_TARGETS,
                        help="cpu: full Triton on a CPU-only host; embedded: the python-only "
                        "embedded Triton")
    parser.set_defaults(func=run_adapt)


def run_adapt(args: argparse.Namespace) -> int:
    """Write the adapted copy of ``args.source`` to ``args.destination``.

    Prints each substitution, then the folder written.

    Args:
        args: Parsed ``adapt`` arguments.

    Returns:
        0 on success, 1 if the repository cannot be adapted or the destination cannot be
        written (the reason is printed to stderr).
    """
    target = AdaptTarget(args.target)
    try:
        substitutions = write_adapted_repository(args.source, args.destination, target=target)
    except (ServingError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for substitution in substitutions:
        print(f"substitution: {substitution}")
    print(f"wrote {args.destination} (target {target.value}, "
          f"{len(substitutions)} substitution(s))", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m serving REPO_DIR [options]``.

    Args:
        argv: Arguments without the program name (default ``sys.argv[1:]``).

    Returns:
        The process exit code.
    """
    parser = argparse.ArgumentParser(
        prog="python -m serving",
        description="Serve REPO_DIR with Triton on loopback ports until SIGINT/SIGTERM.",
    )
    add_serve_arguments(parser)
    return run_serve(parser.parse_args(argv))
