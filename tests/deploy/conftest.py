"""Fixtures for the deployment tests: the parsed compose files and their interpolation."""

from __future__ import annotations

import os
import re
import shlex
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]

#: Values the tests give the variables docker-compose.yml requires.
TEST_ENV: dict[str, str] = {
    "TRITON_ADMIN_KEY": "test-admin-key-0123456789",
    "GRAFANA_ADMIN_PASSWORD": "test-grafana-password",
}

#: Flags of the compose command that the test server sets itself (repository, ports).
SERVER_OWNED_FLAGS = ("--model-repository", "--http-port", "--grpc-port", "--metrics-port")

_VARIABLE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
)


@dataclass(frozen=True)
class Tagged:
    """A value under a Compose YAML tag such as ``!reset`` or ``!override``."""

    tag: str
    value: Any


class ComposeLoader(yaml.SafeLoader):
    """A safe YAML loader that also reads Compose's ``!reset`` and ``!override`` tags."""


def _tagged(loader: yaml.SafeLoader, node: yaml.Node) -> Tagged:
    value: Any
    if isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_scalar(node)  # type: ignore[arg-type]
    return Tagged(node.tag, value)


for _tag in ("!reset", "!override"):
    ComposeLoader.add_constructor(_tag, _tagged)


class MissingVariableError(KeyError):
    """A ``${NAME:?message}`` variable is unset."""


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """Substitute ``${NAME}``, ``${NAME:-default}`` and ``${NAME:?error}`` like Compose."""
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            name, op, arg = match.group("name"), match.group("op"), match.group("arg")
            current = env.get(name)
            unset = current is None or (current == "" and op is not None and op[0] == ":")
            if op is not None and op.endswith("?") and unset:
                raise MissingVariableError(f"{name}: {arg}")
            if op is not None and op.endswith("-") and unset:
                return str(arg)
            return current or ""

        return _VARIABLE.sub(substitute, value)
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if isinstance(value, Tagged):
        return Tagged(value.tag, interpolate(value.value, env))
    return value


def load_compose(path: Path) -> dict[str, Any]:
    """Parse a compose file (with Compose's YAML tags) into a dict."""
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=ComposeLoader)
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


def command_list(command: Any) -> list[str]:
    """Return a compose ``command`` (list or shell string) as a list of arguments."""
    if isinstance(command, str):
        return shlex.split(command)
    assert isinstance(command, list)
    return [str(item) for item in command]


def flag_values(arguments: list[str], flag: str) -> list[str]:
    """Return every value given to ``flag`` as ``--flag=value`` or ``--flag value``."""
    values: list[str] = []
    for index, argument in enumerate(arguments):
        if argument.startswith(flag + "="):
            values.append(argument.split("=", 1)[1])
        elif argument == flag and index + 1 < len(arguments):
            values.append(arguments[index + 1])
    return values


def duration_s(text: str) -> float:
    """Convert a Compose duration such as ``45s`` or ``1m30s`` to seconds."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", text)
    assert parts and "".join(a + b for a, b in parts) == text, f"bad duration {text!r}"
    return sum(float(amount) * units[unit] for amount, unit in parts)


@pytest.fixture(scope="session")
def deploy_root() -> Path:
    """The repository root (where docker-compose.yml lives)."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def compose_raw() -> dict[str, Any]:
    """docker-compose.yml as written, variables not substituted."""
    return load_compose(REPO_ROOT / "docker-compose.yml")


@pytest.fixture(scope="session")
def compose(compose_raw: dict[str, Any]) -> dict[str, Any]:
    """docker-compose.yml with the variables substituted from :data:`TEST_ENV` only."""
    result = interpolate(compose_raw, TEST_ENV)
    assert isinstance(result, dict)
    return result


@pytest.fixture(scope="session")
def triton_command(compose: dict[str, Any]) -> list[str]:
    """The ``tritonserver`` command line of the ``triton`` service."""
    return command_list(compose["services"]["triton"]["command"])


@pytest.fixture(scope="session")
def compose_helpers() -> dict[str, Callable[..., Any]]:
    """The pure helpers above, for test modules (conftest is not importable)."""
    return {
        "interpolate": interpolate,
        "load_compose": load_compose,
        "command_list": command_list,
        "flag_values": flag_values,
        "duration_s": duration_s,
    }


@pytest.fixture(scope="session")
def require_tool() -> Callable[[str], str]:
    """``require_tool(name)``: the tool's path; skip without it (fail under CI=true)."""

    def find(name: str) -> str:
        path = shutil.which(name)
        if path is None:
            reason = (f"{name} is not installed (scripts/system-packages.sh installs it; "
                      "see docs/kubernetes.md)")
            if os.environ.get("CI") == "true":
                pytest.fail(f"CI=true: {reason}")
            pytest.skip(reason)
        return path

    return find
