"""Drive one docker-compose project: up, health, ports, logs, down, and what is left.

Every call goes through Debian's ``docker-compose`` 1.29 (or any compose v1/v2 CLI given
as ``compose_cli``) with an explicit project name, so nothing outside the project is ever
touched; every wait is bounded.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from serving.errors import ServingError

__all__ = ["ComposeError", "ComposeProject", "Leftovers"]

_PROJECT_LABEL = "com.docker.compose.project"
_SERVICE_LABEL = "com.docker.compose.service"


class ComposeError(ServingError):
    """A docker-compose or docker command failed, or a bounded wait ran out.

    Attributes:
        service: The service at fault, when one is.
        output: The command's output (stdout and stderr), when there is one.
    """

    def __init__(self, message: str, *, service: str | None = None, output: str = "") -> None:
        self.service = service
        self.output = output
        super().__init__(message)


@dataclass(frozen=True)
class Leftovers:
    """Containers, networks and volumes still labelled with the project's name."""

    containers: tuple[str, ...]
    networks: tuple[str, ...]
    volumes: tuple[str, ...]

    @property
    def empty(self) -> bool:
        """True when nothing of the project is left."""
        return not (self.containers or self.networks or self.volumes)


@dataclass(frozen=True)
class ComposeProject:
    """One compose project: its name, files, env file and folder.

    Attributes:
        name: Project name (``-p``); it prefixes every container, network and volume.
        files: Compose files, base first, overrides after.
        project_dir: Folder relative paths in the files are resolved against.
        env_file: The ``.env``-style file the files interpolate (admin key, ports).
        compose_cli: The compose command.
        timeout_s: Bound on any single compose command.
    """

    name: str
    files: tuple[Path, ...]
    project_dir: Path
    env_file: Path
    compose_cli: tuple[str, ...] = ("docker-compose",)
    timeout_s: float = 600.0

    def command(self, *args: str) -> list[str]:
        """The full compose command line for ``args``."""
        files = [a for f in self.files for a in ("-f", str(f))]
        return [*self.compose_cli, "-p", self.name, "--project-directory", str(self.project_dir),
                "--env-file", str(self.env_file), *files, *args]

    def run(self, *args: str, check: bool = True, timeout_s: float | None = None) -> str:
        """Run a compose subcommand and return its combined output.

        Raises:
            ComposeError: If it exits non-zero (with ``check``) or runs out of time.
        """
        return _run(self.command(*args), check=check, timeout_s=timeout_s or self.timeout_s)

    def config(self) -> dict[str, object]:
        """The merged configuration, as docker-compose resolves it."""
        loaded = yaml.safe_load(self.run("config"))
        if not isinstance(loaded, dict):
            raise ComposeError("docker-compose config printed no mapping")
        return loaded

    def container_ids(self, service: str) -> list[str]:
        """IDs of the service's containers, running or not."""
        out = _run(["docker", "ps", "-aq", "--filter", f"label={_PROJECT_LABEL}={self.name}",
                    "--filter", f"label={_SERVICE_LABEL}={service}"], timeout_s=60)
        return out.split()

    def health(self, container: str) -> str:
        """``healthy``, ``unhealthy``, ``starting``, or the state when there is no healthcheck."""
        out = _run(["docker", "inspect", "--format",
                    "{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}",
                    container], timeout_s=60)
        return out.strip()

    def wait_healthy(
        self,
        services: Sequence[str],
        timeout_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        poll_s: float = 1.0,
    ) -> None:
        """Wait until every container of every service is healthy (or running, if unchecked).

        Raises:
            ComposeError: Naming the first service not healthy when the time runs out, or
                one whose container exited or turned unhealthy.
        """
        deadline = clock() + timeout_s
        pending = list(services)
        while pending:
            service = pending[0]
            ids = self.container_ids(service)
            states = [self.health(c) for c in ids]
            if ids and all(s in ("healthy", "running") for s in states):
                pending.pop(0)
                continue
            if any(s in ("unhealthy", "exited", "dead") for s in states):
                raise ComposeError(f"service {service!r} is {', '.join(states)}",
                                   service=service, output=self.logs(service))
            if clock() >= deadline:
                raise ComposeError(
                    f"service {service!r} not healthy after {timeout_s:.0f} s "
                    f"(states: {', '.join(states) or 'no container'})",
                    service=service, output=self.logs(service))
            time.sleep(poll_s)

    def published_port(self, service: str, private_port: int, index: int = 1) -> int:
        """The loopback host port published for ``service``'s ``private_port``."""
        out = self.run("port", "--index", str(index), service, str(private_port)).strip()
        port = out.rpartition(":")[2]
        if not port.isdigit():
            raise ComposeError(f"service {service!r} publishes no port {private_port}",
                               service=service, output=out)
        return int(port)

    def logs(self, service: str, tail: int = 80) -> str:
        """The last lines of a service's logs (never raises)."""
        try:
            return self.run("logs", "--no-color", "--tail", str(tail), service, check=False,
                            timeout_s=60)
        except ComposeError as error:
            return error.output

    def down(self) -> None:
        """Stop and remove the project's containers, networks and volumes."""
        self.run("down", "-v", "--remove-orphans", "--timeout", "20")

    def leftovers(self) -> Leftovers:
        """What docker still holds under the project's label."""
        label = f"label={_PROJECT_LABEL}={self.name}"
        return Leftovers(
            containers=tuple(_run(["docker", "ps", "-aq", "--filter", label],
                                  timeout_s=60).split()),
            networks=tuple(_run(["docker", "network", "ls", "-q", "--filter", label],
                                timeout_s=60).split()),
            volumes=tuple(_run(["docker", "volume", "ls", "-q", "--filter", label],
                               timeout_s=60).split()),
        )


def _run(argv: Sequence[str], *, check: bool = True, timeout_s: float) -> str:
    try:
        done = subprocess.run(list(argv), stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as error:
        output = (error.stdout or "") if isinstance(error.stdout, str) else ""
        raise ComposeError(f"{' '.join(argv[:4])} ... ran out of {timeout_s:.0f} s",
                           output=output) from error
    except FileNotFoundError as error:
        raise ComposeError(f"{argv[0]} is not installed") from error
    output = done.stdout + done.stderr
    if check and done.returncode != 0:
        raise ComposeError(f"{' '.join(argv[:6])} ... exited {done.returncode}", output=output)
    return output

