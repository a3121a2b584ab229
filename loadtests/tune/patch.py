"""The spec patch: the winner's ``DynamicBatching`` and instance-group lines for a spec file.

:func:`build_patch` renders the keyword arguments through a jinja2 template (values only
through ``pyrepr``). :func:`apply_patch` edits the preset call of the model in a spec
file (``onnx_model("recommendation", ...)``): keywords that exist get their value
replaced, missing ones are added, needed imports are added, the rest of the file is
left byte for byte. The result is written to a temporary sibling, loaded with the
generator's spec loader and checked, then renamed over the file.
"""

from __future__ import annotations

import ast
import contextlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from generator.errors import GeneratorError
from generator.loader import load_specs
from generator.spec import InstanceKind, ModelSpec
from generator.templates import render_template
from loadtests.tune.errors import TuneError
from loadtests.tune.space import Candidate, queue_policy_dict

__all__ = ["SpecPatch", "apply_patch", "build_patch"]

_TEMPLATE = Path(__file__).parent / "templates" / "spec_patch.py.j2"
_IMPORTS = {
    "DynamicBatching": "generator.spec",
    "QueuePolicy": "generator.spec",
    "TimeoutAction": "generator.spec",
    "cpu_instances": "generator.presets",
    "gpu_instances": "generator.presets",
}


@dataclass(frozen=True)
class SpecPatch:
    """Keyword arguments to set on a model's preset call.

    Attributes:
        model: The model name.
        keywords: ``(keyword, python source of the value)`` pairs, in order.
        imports: Names the values use, with the module they come from.
    """

    model: str
    keywords: tuple[tuple[str, str], ...]
    imports: tuple[tuple[str, str], ...]

    def text(self) -> str:
        """The lines to paste into the model's preset call, with the imports they need."""
        lines = [f"# {self.model}: tuned serving settings (python -m loadtests tune)"]
        lines += [f"from {module} import {name}" for module, name in self.imports]
        lines += [f"    {keyword}={value}," for keyword, value in self.keywords]
        return "\n".join(lines) + "\n"


def build_patch(model: str, candidate: Candidate, spec_max_batch_size: int) -> SpecPatch:
    """The patch that sets ``candidate`` in a spec whose ``max_batch_size`` is given.

    ``max_batch_size`` is only part of the patch when the winner changes it. The queue
    policy always is (``default_queue_policy=None`` for none), so the patched spec is the
    config that was measured, not the spec's policy on top of it.
    """
    text = render_template(_TEMPLATE, {
        "batching": candidate.dynamic_batching,
        "preferred": list(candidate.preferred_batch_sizes),
        "delay_us": candidate.max_queue_delay_us,
        "policy": queue_policy_dict(candidate.queue_policy),
        "gpu": candidate.kind is InstanceKind.GPU,
        "count": candidate.instance_count,
        "max_batch_size": (None if candidate.max_batch_size == spec_max_batch_size
                           else candidate.max_batch_size),
    }, field=f"{model}.spec_patch")
    keywords = tuple(
        (keyword.strip(), value.strip())
        for keyword, value in (line.split("=", 1) for line in text.splitlines() if line.strip())
    )
    used = {name for name in _IMPORTS
            if any(name + "(" in value or name + "." in value for _, value in keywords)}
    imports = tuple(sorted((_IMPORTS[name], name) for name in used))
    return SpecPatch(model, keywords, imports)


_MODEL_CONSTRUCTORS = frozenset(
    {"ModelSpec", "onnx_model", "tensorrt_model", "python_model", "ensemble_model"})


def _callee(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else ""


def _is_model_call(node: ast.AST, model: str) -> bool:
    if not isinstance(node, ast.Call) or _callee(node) not in _MODEL_CONSTRUCTORS:
        return False
    first = node.args[0] if node.args else None
    named = next((k.value for k in node.keywords if k.arg == "name"), None)
    return any(isinstance(v, ast.Constant) and v.value == model for v in (first, named))


def _bound_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom | ast.Import):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
    return names


def _offsets(source: bytes) -> list[int]:
    starts = [0]
    for index, byte in enumerate(source):
        if byte == ord("\n"):
            starts.append(index + 1)
    return starts


_Edit = tuple[int, int, bytes]


def _keyword_edits(call: ast.Call, keywords: Sequence[tuple[str, str]], data: bytes,
                   starts: Sequence[int]) -> list[_Edit]:
    """Edits that set ``keywords`` on ``call``: replace existing values, append the rest.

    A ``dynamic_batching=DynamicBatching(...)`` that stays on is edited inside: the
    keywords of the patch (the queue policy among them) get their values, its other
    arguments (priority levels and their policies) are kept.
    """
    def at(line: int, column: int) -> int:
        return starts[line - 1] + column

    edits: list[_Edit] = []
    existing = {k.arg: k.value for k in call.keywords if k.arg}
    missing = []
    for keyword, value in keywords:
        node = existing.get(keyword)
        if node is None:
            missing.append(f"{keyword}={value}")
            continue
        replacement = ast.parse(value, mode="eval").body
        if (isinstance(node, ast.Call) and isinstance(replacement, ast.Call)
                and _callee(node) == _callee(replacement) == "DynamicBatching"):
            inner = [(k.arg, ast.unparse(k.value)) for k in replacement.keywords if k.arg]
            edits += _keyword_edits(node, inner, data, starts)
            continue
        assert node.end_lineno is not None and node.end_col_offset is not None
        edits.append((at(node.lineno, node.col_offset),
                      at(node.end_lineno, node.end_col_offset), value.encode()))
    if missing:
        assert call.end_lineno is not None and call.end_col_offset is not None
        close = at(call.end_lineno, call.end_col_offset) - 1  # the closing parenthesis
        before = data[:close].rstrip()
        empty = before.endswith(b"(")
        separator = b"" if empty else (b" " if before.endswith(b",") else b", ")
        edits.append((close, close, separator + ", ".join(missing).encode()
                      + (b"" if empty else b",")))
    return edits


def patch_source(source: str, patch: SpecPatch) -> str:
    """Return ``source`` with ``patch`` applied to the model's preset call.

    Raises:
        TuneError: The source does not parse, or has no single call naming the model.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise TuneError(f"spec: cannot parse the spec file: {exc}") from exc
    calls = [n for n in ast.walk(tree) if _is_model_call(n, patch.model)]
    if len(calls) != 1:
        raise TuneError(f"spec: expected one call defining model {patch.model!r} "
                        f"(e.g. onnx_model({patch.model!r}, ...)), found {len(calls)}")
    call = calls[0]
    assert isinstance(call, ast.Call)
    data = source.encode("utf-8")
    starts = _offsets(data)
    edits = _keyword_edits(call, patch.keywords, data, starts)
    bound = _bound_names(tree)
    imports = [f"from {m} import {n}\n" for m, n in patch.imports if n not in bound]
    if imports:
        last = max((n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)),
                   key=lambda n: n.end_lineno or n.lineno, default=None)
        line = (last.end_lineno or last.lineno) if last is not None else 0
        where = starts[line] if line < len(starts) else len(data)
        edits.append((where, where, "".join(imports).encode()))
    for start, end, text in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        data = data[:start] + text + data[end:]
    return data.decode("utf-8")


def _check_spec(spec: ModelSpec, candidate: Candidate) -> list[str]:
    problems = []
    batching = spec.dynamic_batching
    if candidate.dynamic_batching != (batching is not None) or (batching is not None and (
        tuple(batching.preferred_batch_size) != candidate.preferred_batch_sizes
        or batching.max_queue_delay_microseconds != candidate.max_queue_delay_us
        or batching.default_queue_policy != candidate.queue_policy
    )):
        problems.append(f"dynamic_batching is {batching!r}")
    groups = [(g.kind, g.count) for g in spec.instance_groups]
    if groups != [(candidate.kind, candidate.instance_count)]:
        problems.append(f"instance_groups are {groups}")
    if spec.max_batch_size != candidate.max_batch_size:
        problems.append(f"max_batch_size is {spec.max_batch_size}")
    return problems


def apply_patch(spec_file: Path, patch: SpecPatch, candidate: Candidate) -> None:
    """Apply ``patch`` to ``spec_file`` atomically, after checking the patched spec loads.

    Raises:
        TuneError: The file is missing, the patch cannot be placed, or the patched spec
            does not load or does not describe ``candidate``; the file is then unchanged.
    """
    spec_file = Path(spec_file)
    try:
        source = spec_file.read_text(encoding="utf-8")
    except OSError as exc:
        raise TuneError(f"write_spec_patch: cannot read {spec_file}: {exc}") from exc
    patched = patch_source(source, patch)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{spec_file.stem}.tune-", suffix=".py",
                                    dir=spec_file.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(patched)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            loaded = [s.spec for s in load_specs(tmp) if s.spec.name == patch.model]
        except GeneratorError as exc:
            raise TuneError(f"write_spec_patch: the patched spec does not load: {exc}") from exc
        if len(loaded) != 1:
            raise TuneError(f"write_spec_patch: the patched file defines model "
                            f"{patch.model!r} {len(loaded)} times")
        problems = _check_spec(loaded[0], candidate)
        if problems:
            raise TuneError("write_spec_patch: the patched spec does not match the winner: "
                            + "; ".join(problems))
        os.chmod(tmp, spec_file.stat().st_mode & 0o777)
        os.replace(tmp, spec_file)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
