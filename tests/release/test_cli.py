"""``python -m serving.release`` and ``serve --model-control`` as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from serving import TritonServer
from serving.release import AdminKeyError, ReleaseController, admin_headers
from serving.release.keys import ADMIN_KEY_ENV, ADMIN_KEY_FILE_ENV
from tests.release.conftest import BROKEN_VERSION, MODEL


def _release(server: TritonServer, repository: Path, *args: str,
             key: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRITON_ADMIN")}
    if key and server.admin_key_path is not None:
        env[ADMIN_KEY_FILE_ENV] = str(server.admin_key_path)
    return subprocess.run(
        [sys.executable, "-m", "serving.release", *args, "--url", server.http_url,
         "--repository", str(repository)],
        capture_output=True, text=True, timeout=180, env=env, check=False,
    )


def test_admin_key_file_written_by_the_server_is_private_to_its_owner(
    release_server: TritonServer,
) -> None:
    path = release_server.admin_key_path

    assert path is not None and path.is_file()
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_text().strip() == release_server.admin_key


def test_cli_rollout_then_rollback_exit_0_and_print_each_step(
    release_server: TritonServer, release_repository: Path, controller: ReleaseController,
) -> None:
    rollout = _release(release_server, release_repository, "rollout", MODEL, "--to-version", "2")
    rollback = _release(release_server, release_repository, "rollback", MODEL)
    status = _release(release_server, release_repository, "status", MODEL)

    assert rollout.returncode == 0, rollout.stderr
    for step in ("load", "ready", "smoke", "switch", "unload"):
        assert f" {step} " in rollout.stdout
    assert "version 2 serves (was 1" in rollout.stdout
    assert rollback.returncode == 0 and "version 1 serves (was 2" in rollback.stdout
    assert "unpinned requests go to version 1" in status.stdout


def test_cli_rollout_to_broken_version_exits_1_with_the_reason(
    release_server: TritonServer, release_repository: Path, controller: ReleaseController,
) -> None:
    result = _release(release_server, release_repository, "rollout", MODEL,
                      "--to-version", str(BROKEN_VERSION))

    assert result.returncode == 1
    assert "refused" in result.stderr and "rolled back: version 1 serves" in result.stderr


def test_cli_without_admin_key_exits_2_naming_the_restricted_api(
    release_server: TritonServer, release_repository: Path,
) -> None:
    result = _release(release_server, release_repository, "status", MODEL, key=False)

    assert result.returncode == 2
    assert "restricted" in result.stderr


def test_cli_has_no_option_that_takes_the_admin_key_itself() -> None:
    result = subprocess.run([sys.executable, "-m", "serving.release", "status", MODEL,
                             "--admin-key", "secret"], capture_output=True, text=True,
                            timeout=60, check=False)

    assert result.returncode == 2 and "unrecognized arguments" in result.stderr


def test_admin_headers_refuse_a_key_file_readable_by_others(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("secret\n")
    key_file.chmod(0o644)

    with pytest.raises(AdminKeyError, match="readable by others"):
        admin_headers({}, key_file)


def test_admin_headers_take_the_key_from_the_environment_when_no_file_is_given() -> None:
    assert admin_headers({ADMIN_KEY_ENV: " k3y \n"}) == {"triton-suite-admin-key": "k3y"}


def test_serve_with_explicit_model_control_prints_its_admin_key_file(
    release_repository: Path,
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "serving", str(release_repository), "--model-control", "explicit"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:  # bounded: the server exits if it cannot start
            lines.append(line)
            if line.startswith("ready") or len(lines) > 200:
                break
        key_line = next(line for line in lines if line.startswith("admin key:"))
        key_file = Path(key_line.split()[2])
        assert "model control explicit" in key_line
        assert key_file.stat().st_mode & 0o777 == 0o600
    finally:
        process.send_signal(subprocess.signal.SIGINT)  # type: ignore[attr-defined]
        process.wait(timeout=60)
    assert process.returncode == 0
