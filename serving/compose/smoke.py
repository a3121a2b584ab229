"""``python -m serving.compose smoke``: the whole compose stack on a real Docker engine.

Steps, each printed with its verdict and time (the first failure dumps the failing
service's logs, then the stack is taken down all the same):

1. build the offline images (``deploy/images/build.sh``; cached base images are reused);
2. adapt the model repository for the embedded Triton (``generator adapt --target embedded``);
3. start the Triton replicas, the balancer and Prometheus (release mode: explicit model
   control with the admin key from the generated env file) and wait on every healthcheck;
4. call both reference models through the balancer's published loopback ports with the
   typed clients, over HTTP and gRPC;
5. run a distributed locust (master + 2 workers, inside the compose network) for 20 s;
   it ends by itself and its exit code is the verdict on the latency targets;
6. check Prometheus: every Triton target ``up == 1``, the rules loaded, no alert firing;
7. roll ``recommendation`` out to version 2 and back to 1 on every replica with
   ``python -m serving.release`` (admin key from the env file, never the command line);
8. stop one Triton container and check that traffic through the balancer continues;
9. ``docker-compose down -v``, then assert no container, network or volume is left.

Traffic goes only to 127.0.0.1 published ports or between containers of the project's
own network; every wait is bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from generator.layout import write_text_atomic
from serving.compose.stack import ComposeError, ComposeProject
from serving.ports import loopback_opener

__all__ = ["SmokeOptions", "SmokeResult", "main", "run_smoke"]

ROOT = Path(__file__).resolve().parents[2]
REPLICAS = ("triton-1", "triton-2")
LB = "lb"
PROMETHEUS = "prometheus"
LOCUST_MASTER = "locust-master"
LOCUST_WORKER = "locust-worker"
_RELEASE_MODEL = "recommendation"


@dataclass(frozen=True)
class SmokeOptions:
    """What the smoke test runs.

    Attributes:
        project: Compose project name; prefixes every container, network and volume.
        workdir: Folder for the env file, the adapted repository and the logs.
        load_duration_s: Length of the distributed locust run.
        health_timeout_s: Bound on waiting for the healthchecks.
        build_images: Build (or reuse) the images first.
        keep: Leave the stack running at the end (for debugging).
    """

    project: str = "tsmoke"
    workdir: Path = ROOT / ".build" / "compose-smoke"
    load_duration_s: int = 20
    health_timeout_s: float = 240.0
    build_images: bool = True
    keep: bool = False


@dataclass
class StepResult:
    """One step's verdict."""

    name: str
    ok: bool
    duration_s: float
    detail: str = ""


@dataclass
class SmokeResult:
    """Every step's verdict, in order, plus the image build and stack run times."""

    steps: list[StepResult] = field(default_factory=list)
    build_s: float = 0.0
    stack_s: float = 0.0

    @property
    def passed(self) -> bool:
        """True when every step passed."""
        return bool(self.steps) and all(step.ok for step in self.steps)


class _StepFailed(Exception):
    def __init__(self, message: str, service: str | None = None) -> None:
        self.service = service
        super().__init__(message)


class _Runner:
    def __init__(self, result: SmokeResult, project: ComposeProject | None,
                 echo: Callable[[str], None]) -> None:
        self.result = result
        self.project = project
        self.echo = echo

    @contextmanager
    def step(self, name: str) -> Iterator[list[str]]:
        detail: list[str] = []
        started = time.monotonic()
        try:
            yield detail
        except (_StepFailed, ComposeError, subprocess.SubprocessError, OSError) as error:
            elapsed = time.monotonic() - started
            self.result.steps.append(StepResult(name, False, elapsed, str(error)))
            self.echo(f"[smoke] FAIL {name} ({elapsed:.1f} s): {error}")
            service = getattr(error, "service", None)
            output = getattr(error, "output", "")
            if output:
                self.echo(_indent(output[-4000:]))
            if service and self.project is not None:
                self.echo(f"[smoke] last logs of {service}:")
                self.echo(_indent(self.project.logs(service)))
            raise
        elapsed = time.monotonic() - started
        text = "; ".join(detail)
        self.result.steps.append(StepResult(name, True, elapsed, text))
        self.echo(f"[smoke] ok   {name} ({elapsed:.1f} s){': ' + text if text else ''}")


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.rstrip().splitlines())


def _write_env(path: Path, repository: Path) -> dict[str, str]:
    values = {
        "TRITON_ADMIN_KEY": secrets.token_hex(16),
        "GRAFANA_ADMIN_PASSWORD": secrets.token_hex(16),
        "TRITON_EMBEDDED_REPOSITORY": str(repository),
        # Empty host ports: docker picks free loopback ports; the smoke asks compose which.
        "LB_HTTP_PORT": "",
        "LB_GRPC_PORT": "",
        "LB_STATS_PORT": "",
        "PROMETHEUS_PORT": "",
        "LOCUST_WEB_PORT": "",
    }
    text = "".join(f"{key}={value}\n" for key, value in values.items())
    write_text_atomic(path, text)
    path.chmod(0o600)
    return values


def _locust_override(path: Path, duration_s: int) -> None:
    """A run-specific override: the locust master runs headless and ends by itself."""
    common = ["--locustfile=/app/loadtests/locustfile.py", "--host=grpc://lb:8001",
              "--model", _RELEASE_MODEL]
    override = {
        "version": "3.9",
        "services": {
            LOCUST_MASTER: {"command": [*common, "--master", "--headless", "--expect-workers=2",
                                        "--users=4", "--spawn-rate=4",
                                        f"--run-time={duration_s}s", "--only-summary"],
                            "restart": "no"},
            LOCUST_WORKER: {"command": [*common, "--worker", "--master-host=locust-master"],
                            "restart": "no"},
        },
    }
    write_text_atomic(path, yaml.safe_dump(override, sort_keys=True))


def _http_json(url: str, timeout_s: float = 10.0) -> object:
    with loopback_opener().open(url, timeout=timeout_s) as response:
        return json.loads(response.read().decode("utf-8"))


def _call_models(http_port: int, grpc_port: int, detail: list[str]) -> None:
    from clients import ImageDiagnosisClient, RecommendationClient
    from reference.data import HELD_OUT_SEED, encode_png, make_images

    images, _labels = make_images(2, HELD_OUT_SEED)
    pngs = [encode_png(image) for image in images]
    for protocol, port in (("http", http_port), ("grpc", grpc_port)):
        url = f"{protocol}://127.0.0.1:{port}"
        with ImageDiagnosisClient(url) as client:
            diagnoses = [client.diagnose(png) for png in pngs]
        with RecommendationClient(url) as rec:
            items = rec.recommend(user_id=7, k=5)
        detail.append(f"{protocol}: {len(diagnoses)} diagnoses, {len(items)} items "
                      f"(version {items[0].model_version})")


def _prometheus_checks(port: int, replicas: int, timeout_s: float, detail: list[str]) -> None:
    base = f"http://127.0.0.1:{port}/api/v1"
    deadline = time.monotonic() + timeout_s
    up: list[object] = []
    while time.monotonic() < deadline:
        data = _http_json(f"{base}/query?query=" + urllib.parse.quote('up{job="triton"}'))
        up = list(data["data"]["result"]) if isinstance(data, dict) else []
        if len(up) >= replicas and all(
                isinstance(r, dict) and r["value"][1] == "1" for r in up):
            break
        time.sleep(1.0)
    else:
        raise _StepFailed(f"Triton targets not all up: {up}", service=PROMETHEUS)
    rules = _http_json(f"{base}/rules")
    groups = rules["data"]["groups"] if isinstance(rules, dict) else []
    if not groups:
        raise _StepFailed("Prometheus loaded no rule group", service=PROMETHEUS)
    alerts = _http_json(f"{base}/alerts")
    firing = [a for a in (alerts["data"]["alerts"] if isinstance(alerts, dict) else [])
              if a.get("state") == "firing"]
    if firing:
        names = ", ".join(sorted({str(a["labels"].get("alertname")) for a in firing}))
        raise _StepFailed(f"alerts firing: {names}", service=PROMETHEUS)
    count = sum(len(g["rules"]) for g in groups)
    detail.append(f"{len(up)} Triton targets up, {len(groups)} rule groups ({count} rules), "
                  "no alert firing")


def _release_cli(verb: str, url: str, env: dict[str, str], *extra: str) -> str:
    argv = [sys.executable, "-m", "serving.release", verb, _RELEASE_MODEL, "--url", url,
            "--repository", str(ROOT / "model_repository"), *extra]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TRITON_ADMIN_KEY": env["TRITON_ADMIN_KEY"]},
                          stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise _StepFailed(f"serving.release {verb} {' '.join(extra)} at {url} exited "
                          f"{done.returncode}: {(done.stdout + done.stderr).strip()[-800:]}")
    return done.stdout


def _release(project: ComposeProject, env: dict[str, str], detail: list[str]) -> None:
    for replica in REPLICAS:
        url = f"http://127.0.0.1:{project.published_port(replica, 8000)}"
        status = json.loads(_release_cli("status", url, env, "--json"))
        serving = int(status["serving_version"])
        other = 1 if serving == 2 else 2
        _release_cli("rollout", url, env, "--to-version", str(other))
        _release_cli("rollback", url, env, "--to-version", str(serving))
        after = json.loads(_release_cli("status", url, env, "--json"))
        if int(after["serving_version"]) != serving:
            raise _StepFailed(f"{replica} serves version {after['serving_version']} after the "
                              f"rollback, not {serving}", service=replica)
        detail.append(f"{replica}: {serving} -> {other} -> {serving}")


def _traffic_survives(project: ComposeProject, http_port: int, detail: list[str]) -> None:
    from clients import RecommendationClient

    victim = REPLICAS[-1]
    project.run("stop", "--timeout", "30", victim)
    calls = 200
    with RecommendationClient(f"http://127.0.0.1:{http_port}") as client:
        for user in range(calls):
            client.recommend(user_id=user, k=5)
    detail.append(f"{victim} stopped; {calls}/{calls} calls through the balancer answered")


def run_smoke(options: SmokeOptions, echo: Callable[[str], None] = print) -> SmokeResult:
    """Run every step; returns the verdicts (the stack is always taken down)."""
    result = SmokeResult()
    workdir = options.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    runner = _Runner(result, None, echo)
    started = time.monotonic()
    try:
        if options.build_images:
            with runner.step("build images") as detail:
                done = subprocess.run(["bash", str(ROOT / "deploy" / "images" / "build.sh")],
                                      capture_output=True, text=True, timeout=1800,
                                      stdin=subprocess.DEVNULL)
                if done.returncode != 0:
                    raise _StepFailed("image build failed:\n" + done.stdout + done.stderr)
                detail.append(f"{len(done.stdout.splitlines())} build lines")
        result.build_s = time.monotonic() - started
    except _StepFailed:
        return result
    stack_started = time.monotonic()
    repository = workdir / "model_repository_embedded"
    env_file = workdir / "smoke.env"
    override = workdir / "smoke.override.yml"
    env = _write_env(env_file, repository)
    _locust_override(override, options.load_duration_s)
    project = ComposeProject(
        name=options.project,
        files=(ROOT / "docker-compose.yml", ROOT / "deploy" / "compose.embedded.yml",
               ROOT / "deploy" / "compose.embedded-release.yml", override),
        project_dir=ROOT,
        env_file=env_file,
    )
    runner.project = project
    try:
        with runner.step("adapt repository (embedded)"):
            done = subprocess.run(
                [sys.executable, "-m", "generator", "adapt", str(ROOT / "model_repository"),
                 str(repository), "--target", "embedded"],
                capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
            if done.returncode != 0:
                raise _StepFailed("adapt failed: " + done.stdout + done.stderr)
        with runner.step("start replicas, lb, prometheus") as detail:
            project.run("up", "-d", *REPLICAS, LB, PROMETHEUS)
            project.wait_healthy([*REPLICAS, LB, PROMETHEUS], options.health_timeout_s)
            detail.append("all healthy")
        http_port = project.published_port(LB, 8000)
        grpc_port = project.published_port(LB, 8001)
        with runner.step("typed clients through the balancer") as detail:
            _call_models(http_port, grpc_port, detail)
        with runner.step(f"distributed locust ({options.load_duration_s} s, 2 workers)") as detail:
            project.run("up", "-d", "--scale", f"{LOCUST_WORKER}=2", LOCUST_MASTER, LOCUST_WORKER)
            master = project.container_ids(LOCUST_MASTER)[0]
            bound_s = options.load_duration_s + 90
            done = subprocess.run(["timeout", str(bound_s), "docker", "wait", master],
                                  capture_output=True, text=True, timeout=bound_s + 10)
            code = done.stdout.strip()
            if code != "0":
                raise _StepFailed(f"locust master exited {code or 'late'}", service=LOCUST_MASTER)
            # Compose prefixes each line with "SERVICE_1  | ".
            logs = [line.split("|", 1)[-1].strip()
                    for line in project.logs(LOCUST_MASTER, tail=60).splitlines()]
            verdicts = [line for line in logs if line.startswith("OVERALL:")]
            counts = [line.split() for line in logs if line.startswith("Aggregated")]
            requests = counts[0][1] if counts and len(counts[0]) > 1 else "?"
            detail.append(f"exit 0, {verdicts[-1] if verdicts else 'no verdict line'}, "
                          f"{requests} requests")
        with runner.step("prometheus: targets up, rules loaded, no alert") as detail:
            _prometheus_checks(project.published_port(PROMETHEUS, 9090), len(REPLICAS),
                               options.health_timeout_s, detail)
        with runner.step("rollout and rollback (release mode, key from env file)") as detail:
            _release(project, env, detail)
        with runner.step("stop one replica, traffic continues") as detail:
            _traffic_survives(project, http_port, detail)
    except (_StepFailed, ComposeError, subprocess.SubprocessError, OSError):
        pass
    finally:
        if not options.keep:
            try:
                with runner.step("down -v, nothing left") as detail:
                    project.down()
                    left = project.leftovers()
                    if not left.empty:
                        raise _StepFailed(f"left behind: {left}")
                    detail.append("no container, network or volume of the project left")
            except (_StepFailed, ComposeError, subprocess.SubprocessError, OSError):
                pass
        result.stack_s = time.monotonic() - stack_started
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: run the smoke test and exit 0 only if every step passed."""
    parser = argparse.ArgumentParser(prog="python -m serving.compose smoke",
                                     description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--project", default=SmokeOptions.project,
                        help="compose project name (prefix of everything it creates)")
    parser.add_argument("--load-duration-s", type=int, default=SmokeOptions.load_duration_s)
    parser.add_argument("--no-build", action="store_true", help="reuse the images as they are")
    parser.add_argument("--keep", action="store_true", help="leave the stack running")
    args = parser.parse_args(argv)
    options = SmokeOptions(project=args.project, load_duration_s=args.load_duration_s,
                           build_images=not args.no_build, keep=args.keep)
    result = run_smoke(options)
    print(f"[smoke] {'PASSED' if result.passed else 'FAILED'}: "
          f"{sum(s.ok for s in result.steps)}/{len(result.steps)} steps; images "
          f"{result.build_s:.0f} s, stack {result.stack_s:.0f} s")
    return 0 if result.passed else 1
