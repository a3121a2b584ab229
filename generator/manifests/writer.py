"""Write the planned manifests atomically, or report how the folder drifted from them."""

from __future__ import annotations

from pathlib import Path

from generator.errors import DriftError
from generator.layout import replace_folder, write_text_atomic
from generator.manifests.render import ManifestPlan

__all__ = ["check_manifests", "drift", "write_manifests"]


def drift(plan: ManifestPlan, out_dir: Path, rules_dir: Path) -> list[str]:
    """Return how ``out_dir`` and the generated rule file differ from ``plan`` (sorted)."""
    out = Path(out_dir)
    present: set[str] = set()
    if out.is_dir():
        present = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    differences: list[str] = []
    for name, text in sorted(plan.files.items()):
        if name not in present:
            differences.append(f"{out / name}: missing")
        elif (out / name).read_text(encoding="utf-8") != text:
            differences.append(f"{out / name}: differs")
    differences += [
        f"{out / name}: not generated (remove it)" for name in sorted(present - set(plan.files))
    ]
    rules = Path(rules_dir) / plan.rules_file
    if not rules.is_file():
        differences.append(f"{rules}: missing")
    elif rules.read_text(encoding="utf-8") != plan.rules_text:
        differences.append(f"{rules}: differs")
    return differences


def check_manifests(plan: ManifestPlan, out_dir: Path, rules_dir: Path) -> None:
    """Raise :class:`~generator.errors.DriftError` listing every difference, if any."""
    differences = drift(plan, out_dir, rules_dir)
    if differences:
        raise DriftError(differences)


def write_manifests(plan: ManifestPlan, out_dir: Path, rules_dir: Path) -> None:
    """Write ``plan`` into ``out_dir`` (replaced whole) and the generated rule file.

    Both go through temporary siblings and renames: the rule file first, then the folder;
    a failure while staging the folder leaves the old folder in place.
    """
    write_text_atomic(Path(rules_dir) / plan.rules_file, plan.rules_text)
    with replace_folder(Path(out_dir)) as staged:
        for name, text in plan.files.items():
            path = staged / name
            path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(path, text)
