"""``python -m generator``: build, validate, import and render Triton model repositories."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from generator.clientgen import check_clients, write_clients
from generator.errors import DriftError, GeneratorError, ValidationFailed
from generator.importer import import_module_source
from generator.init import init_module_source
from generator.layout import write_text_atomic
from generator.loader import load_specs
from generator.manifests.facts import Slo
from generator.render import render_config, spec_config
from generator.validation import Issue, validate_repository
from generator.writer import build_repository, check_repository

__all__ = ["main"]

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


def _print_issues(issues: Sequence[Issue]) -> None:
    for issue in issues:
        print(issue, file=sys.stderr)


def _failed(issues: Sequence[Issue], strict: bool) -> bool:
    return any(i.is_error for i in issues) or (strict and bool(issues))


def _paths(paths: Sequence[Path]) -> str:
    return " ".join(str(p) for p in paths)


def _cmd_build(args: argparse.Namespace) -> int:
    specs = load_specs(args.spec)
    progress = None if args.quiet else _stderr
    try:
        if args.check:
            result = check_repository(specs, args.out, progress, strict=args.strict)
        else:
            result = build_repository(specs, args.out, progress, strict=args.strict)
    except ValidationFailed as exc:
        _print_issues(exc.issues)
        if not any(i.is_error for i in exc.issues):
            print(f"{len(exc.issues)} warning(s) and --strict is set; nothing written",
                  file=sys.stderr)
        return EXIT_INVALID
    except DriftError as exc:
        print(
            f"{args.out}: out of date with {_paths(args.spec)}; run "
            f"`python -m generator build {_paths(args.spec)} --out {args.out}`",
            file=sys.stderr,
        )
        for line in exc.differences:
            print(f"  {line}", file=sys.stderr)
        return EXIT_INVALID
    _print_issues(result.issues)
    if args.check:
        print(f"{args.out} is up to date with {_paths(args.spec)} ({len(result.models)} models)")
    else:
        print(f"built {len(result.models)} models into {args.out}")
    return EXIT_OK


def _cmd_validate(args: argparse.Namespace) -> int:
    repo = Path(args.repository)
    if not repo.is_dir():
        print(f"{repo}: not a folder", file=sys.stderr)
        return EXIT_USAGE
    issues = validate_repository(repo)
    _print_issues(issues)
    errors = sum(i.is_error for i in issues)
    warnings = len(issues) - errors
    print(f"{repo}: {errors} error(s), {warnings} warning(s)")
    return EXIT_INVALID if _failed(issues, args.strict) else EXIT_OK


def _cmd_import(args: argparse.Namespace) -> int:
    out = Path(args.output) if args.output else None
    source = import_module_source(Path(args.path), out)
    if out is None:
        sys.stdout.write(source)
        return EXIT_OK
    write_text_atomic(out, source)
    print(f"wrote {out}", file=sys.stderr)
    return EXIT_OK


def _cmd_init(args: argparse.Namespace) -> int:
    out = Path(args.output) if args.output else None
    if out is not None and out.exists() and not args.force:
        print(f"{out} exists; pass --force to overwrite it", file=sys.stderr)
        return EXIT_USAGE
    source = init_module_source(Path(args.model), name=args.name, out=out)
    if out is None:
        sys.stdout.write(source)
        return EXIT_OK
    write_text_atomic(out, source)
    print(f"wrote {out}", file=sys.stderr)
    return EXIT_OK


def _cmd_clients(args: argparse.Namespace) -> int:
    specs = load_specs(args.spec)
    if not args.check:
        written = write_clients(specs, args.out)
        print(f"wrote {len(written)} files for {len(specs)} models into {args.out}")
        return EXIT_OK
    try:
        count = check_clients(specs, args.out)
    except DriftError as exc:
        print(
            f"{args.out}: out of date with {_paths(args.spec)}; run "
            f"`python -m generator clients {_paths(args.spec)} --out {args.out}`",
            file=sys.stderr,
        )
        for line in exc.differences:
            print(f"  {line}", file=sys.stderr)
        return EXIT_INVALID
    print(f"{args.out} is up to date with {_paths(args.spec)} ({count} files)")
    return EXIT_OK


def _cmd_render(args: argparse.Namespace) -> int:
    specs = load_specs(args.spec, require_names=False)
    if args.model:
        specs = [s for s in specs if s.spec.name == args.model]
        if not specs:
            print(f"no model named {args.model!r} in {_paths(args.spec)}", file=sys.stderr)
            return EXIT_USAGE
    issues: list[Issue] = []
    for i, loaded in enumerate(specs):
        config, found = spec_config(loaded.spec)
        issues.extend(found)
        name = loaded.spec.name
        if len(specs) > 1:
            print(("\n" if i else "") + f"# --- {name or '<unnamed>'}/config.pbtxt")
        model = f"model {name!r}" if name else "unnamed model"
        sys.stdout.write(render_config(config, origin=f"{loaded.origin} ({model})"))
    _print_issues(issues)
    errors = sum(i.is_error for i in issues)
    if errors:
        print(f"{errors} error(s): Triton would refuse this config; `render` prints it anyway "
              "(use --strict to fail)", file=sys.stderr)
    return EXIT_INVALID if args.strict and issues else EXIT_OK


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def _load_targets(path: Path | None) -> Mapping[str, Slo]:
    """The load tests' latency and error targets (imported only when ``k8s`` runs)."""
    from loadtests.targets import load_targets

    return load_targets(path)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m generator``."""
    parser = argparse.ArgumentParser(
        prog="python -m generator",
        description="Generate, check and serve NVIDIA Triton model repositories from Python specs.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    build = sub.add_parser(
        "build",
        help="write a model repository from specs",
        description="Validate the specs, then write the repository "
        "atomically. Exit 1 on validation errors or, with --check, drift.",
    )
    build.add_argument(
        "spec", type=Path, nargs="+", metavar="SPEC", help="spec .py files or folders of them"
    )
    build.add_argument("--out", type=Path, required=True, metavar="DIR", help="repository folder")
    build.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if DIR differs from what the specs produce",
    )
    build.add_argument("--strict", action="store_true", help="treat warnings as errors")
    build.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    build.set_defaults(func=_cmd_build)

    validate = sub.add_parser(
        "validate",
        help="check an existing repository",
        description="Parse every config.pbtxt, run the semantic checks "
        "and look for model files. Exit 1 on errors.",
    )
    validate.add_argument("repository", type=Path, metavar="REPO_DIR")
    validate.add_argument("--strict", action="store_true", help="treat warnings as errors")
    validate.set_defaults(func=_cmd_validate)

    imp = sub.add_parser(
        "import",
        help="write Python specs from configs",
        description="Read a config.pbtxt, a model folder or a repository "
        "and write an equivalent spec module.",
    )
    imp.add_argument("path", type=Path, metavar="PATH")
    imp.add_argument(
        "-o", "--output", type=Path, metavar="OUT.py", help="write here instead of standard output"
    )
    imp.set_defaults(func=_cmd_import)

    init = sub.add_parser(
        "init",
        help="write a spec from an ONNX file",
        description="Read an ONNX file (or a model folder holding one and no config.pbtxt) "
        "and write a spec module with what Triton's ONNX Runtime auto-complete would "
        "configure: tensors from the graph, symbolic dims as -1, and batching (max_batch_size "
        "4, Triton's default-max-batch-size, and dynamic batching) when every input and "
        "output has a dynamic first dimension. Exit 2 on an unusable file; nothing is "
        "written then.",
    )
    init.add_argument("model", type=Path, metavar="MODEL", help="an .onnx file or a model folder")
    init.add_argument("--name", help="model name (default: the folder's name or the file's stem)")
    init.add_argument(
        "-o", "--output", type=Path, metavar="SPEC.py", help="write here instead of standard output"
    )
    init.add_argument("--force", action="store_true", help="overwrite SPEC.py if it exists")
    init.set_defaults(func=_cmd_init)

    clients = sub.add_parser(
        "clients",
        help="write typed clients for specs",
        description="Plan the specs as build does, then write an importable package (the "
        "folder's name is its import name) with py.typed and one module per model: frozen "
        "dataclasses for its inputs and outputs and a sync and an asyncio client. Exit 1 "
        "on validation errors or, with --check, drift; 2 on names that collide.",
    )
    clients.add_argument(
        "spec", type=Path, nargs="+", metavar="SPEC", help="spec .py files or folders of them"
    )
    clients.add_argument("--out", type=Path, required=True, metavar="DIR", help="package folder")
    clients.add_argument(
        "--check", action="store_true",
        help="write nothing; exit 1 if DIR differs from what the specs produce",
    )
    clients.set_defaults(func=_cmd_clients)

    render = sub.add_parser(
        "render",
        help="print the config.pbtxt of specs",
        description="Print each model's config.pbtxt as build would write it. Only the "
        "config itself is checked (no model files); problems are printed on stderr. "
        "Exit 0 once the text is printed, 1 with --strict when any problem was found.",
    )
    render.add_argument("spec", type=Path, nargs="+", metavar="SPEC")
    render.add_argument("--model", help="only this model")
    render.add_argument("--strict", action="store_true",
                        help="exit 1 when the config has any error or warning")
    render.set_defaults(func=_cmd_render)

    from serving.cli import add_adapt_parser, add_serve_parser

    add_serve_parser(sub)
    add_adapt_parser(sub)

    from generator.manifests import add_k8s_parser

    add_k8s_parser(sub, _load_targets)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ValidationFailed as exc:
        _print_issues(exc.issues)
        return EXIT_INVALID
    except GeneratorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
