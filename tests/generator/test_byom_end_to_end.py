"""Bring your own model: ONNX file -> init -> build -> serve (embedded) -> generated clients.

Six ONNX models (a model-zoo ResNet-50 the ``onnx`` wheel ships, whose tensor names are
not identifiers, and graphs that hit an edge: two input dtypes under a dynamic batch, a
string input and output, a variable non-batch dim, the narrow dtypes, one scalar per
row) and an ensemble go through the whole path; the generated clients must answer, over
HTTP and gRPC, sync and async, exactly what onnxruntime gives in this process.
"""

from __future__ import annotations

import asyncio
import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from clients import InvalidInputError, MetadataMismatchError
from generator.clientgen import write_clients
from generator.init import init_module_source
from generator.loader import load_specs
from generator.writer import build_repository
from serving import TritonServer, start_server
from tests.generator.onnx_zoo import BUILDERS, ENSEMBLE_SPEC, run_in_process, sample_inputs

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "zoo_clients"
CLASSES = {"resnet50": "Resnet50", "mixed-dtypes": "MixedDtypes", "labels": "Labels",
           "sequence": "Sequence", "small_types": "SmallTypes"}


class Zoo:
    """The built models, the running server and the imported generated package."""

    def __init__(self, onnx_files: dict[str, Path], server: TritonServer, package: ModuleType,
                 package_dir: Path) -> None:
        self.onnx_files = onnx_files
        self.server = server
        self.package = package
        self.package_dir = package_dir

    def url(self, protocol: str) -> str:
        return str(self.server.http_url if protocol == "http" else self.server.grpc_url)


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zoo]:
    root = tmp_path_factory.mktemp("byom")
    onnx_files = {name: build(root / "onnx") for name, build in BUILDERS.items()}
    specs = root / "specs"
    specs.mkdir()
    for name, path in onnx_files.items():
        spec = specs / f"{name}.py"
        spec.write_text(init_module_source(path, out=spec))
    (specs / "mixed_total.py").write_text(ENSEMBLE_SPEC)
    loaded = load_specs(specs)
    build_repository(loaded, root / "repo")
    package_dir = root / "lib" / PACKAGE
    write_clients(loaded, package_dir)
    sys.path.insert(0, str(package_dir.parent))
    try:
        package = importlib.import_module(PACKAGE)
        with start_server(root / "repo") as server:
            yield Zoo(onnx_files, server, package, package_dir)
    finally:
        sys.path.remove(str(package_dir.parent))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def _typed_inputs(zoo: Zoo, prefix: str, arrays: dict[str, Any]) -> Any:
    client_class = getattr(zoo.package, f"{prefix}Client")
    fields = {spec.field: arrays[spec.name] for spec in client_class.SIGNATURE.inputs}
    return getattr(zoo.package, f"{prefix}Inputs")(**fields)


def _as_tensors(zoo: Zoo, prefix: str, outputs: Any) -> dict[str, Any]:
    client_class = getattr(zoo.package, f"{prefix}Client")
    return {spec.name: getattr(outputs, spec.field) for spec in client_class.SIGNATURE.outputs}


def _call(zoo: Zoo, prefix: str, protocol: str, flavour: str, inputs: Any) -> Any:
    url = zoo.url(protocol)
    if flavour == "sync":
        with getattr(zoo.package, f"{prefix}Client")(url) as client:
            return client.infer(inputs)

    async def call() -> Any:
        async with getattr(zoo.package, f"Async{prefix}Client")(url) as client:
            return await client.infer(inputs)

    return asyncio.run(call())


def _assert_same(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert set(got) == set(want)
    for name, array in want.items():
        assert isinstance(got[name], np.ndarray), name
        assert got[name].dtype == array.dtype, name
        np.testing.assert_array_equal(got[name], array, err_msg=name)


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize("protocol", ["http", "grpc"])
@pytest.mark.parametrize("model", sorted(CLASSES))
def test_generated_client_returns_onnxruntime_outputs(
    zoo: Zoo, model: str, protocol: str, flavour: str
) -> None:
    arrays = sample_inputs(model, rows=3, seed=7)
    prefix = CLASSES[model]
    outputs = _call(zoo, prefix, protocol, flavour, _typed_inputs(zoo, prefix, arrays))
    assert type(outputs).__name__ == f"{prefix}Outputs"
    _assert_same(_as_tensors(zoo, prefix, outputs), run_in_process(zoo.onnx_files[model], arrays))


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_generated_client_splits_batch_above_max_batch_size_in_order(
    zoo: Zoo, protocol: str
) -> None:
    arrays = sample_inputs("mixed-dtypes", rows=10, seed=8)  # max_batch_size 4: 3 requests
    outputs = _call(zoo, "MixedDtypes", protocol, "sync",
                    _typed_inputs(zoo, "MixedDtypes", arrays))
    _assert_same(_as_tensors(zoo, "MixedDtypes", outputs),
                 run_in_process(zoo.onnx_files["mixed-dtypes"], arrays))


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_generated_ensemble_client_calls_the_ensembles_own_tensors(
    zoo: Zoo, flavour: str
) -> None:
    arrays = sample_inputs("mixed-dtypes", rows=5, seed=9)
    inputs = zoo.package.MixedTotalInputs(features=arrays["input-features"],
                                          scale=arrays["scale"])
    outputs = _call(zoo, "MixedTotal", "grpc", flavour, inputs)
    want = run_in_process(zoo.onnx_files["mixed-dtypes"], arrays)["row total"]
    np.testing.assert_array_equal(outputs.total, want)


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_generated_client_of_per_item_scalar_sends_and_gets_one_value_per_row(
    zoo: Zoo, protocol: str, flavour: str
) -> None:
    x = sample_inputs("scalar", rows=6, seed=10)["x"]  # dims [1], empty reshape
    outputs = _call(zoo, "Scalar", protocol, flavour, zoo.package.ScalarInputs(x=x[:, None]))
    want = run_in_process(zoo.onnx_files["scalar"], {"x": x})["y"]
    assert outputs.y.shape == (6, 1)
    np.testing.assert_array_equal(outputs.y[:, 0], want)


def test_generated_client_accepts_strings_for_bytes_input(zoo: Zoo) -> None:
    with zoo.package.LabelsClient(zoo.url("http")) as client:
        outputs = client.infer(zoo.package.LabelsInputs(text=["dog", "yak", "cat"]))
    assert outputs.class_.ravel().tolist() == [1, -1, 0]
    assert outputs.label.ravel().tolist() == [b"dog", b"?", b"cat"]


def test_generated_client_wrong_dtype_names_field_and_tensor_before_sending(
    zoo: Zoo, closed_port_url: str
) -> None:
    inputs = zoo.package.Resnet50Inputs(gpu_0_data_0=np.zeros((1, 3, 224, 224), np.float64))
    client = zoo.package.Resnet50Client(closed_port_url)  # nobody listens there
    with client, pytest.raises(InvalidInputError) as error:
        client.infer(inputs)
    message = str(error.value)
    assert "field 'gpu_0_data_0' (input 'gpu_0/data_0')" in message
    assert "float64" in message and "FP32" in message


def test_generated_client_wrong_fixed_dim_names_field_and_tensor(
    zoo: Zoo, closed_port_url: str
) -> None:
    inputs = zoo.package.MixedDtypesInputs(input_features=np.zeros((2, 5), np.float32),
                                           scale=np.ones((2, 1), np.int64))
    client = zoo.package.MixedDtypesClient(closed_port_url)
    with client, pytest.raises(InvalidInputError, match=r"'input_features'.*dimension 1 is 5"):
        client.infer(inputs)


def test_generated_client_on_another_model_raises_metadata_mismatch(zoo: Zoo) -> None:
    arrays = sample_inputs("sequence", rows=2)
    client = zoo.package.SequenceClient(zoo.url("grpc"), model_name="mixed-dtypes")
    with client, pytest.raises(MetadataMismatchError) as error:
        client.infer(zoo.package.SequenceInputs(tokens=arrays["tokens"]))
    assert "input 'tokens' is missing" in str(error.value)


def test_generated_package_passes_ruff_and_mypy_strict(zoo: Zoo) -> None:
    ruff = subprocess.run(
        [str(REPO_ROOT / ".venv" / "bin" / "ruff"), "check", "--config",
         str(REPO_ROOT / "pyproject.toml"), str(zoo.package_dir)],
        capture_output=True, text=True, timeout=120)
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr
    mypy = _mypy(zoo.package_dir.parent, "-p", PACKAGE)
    assert mypy.returncode == 0, mypy.stdout


GOOD_PROGRAM = '''
import numpy as np
from zoo_clients import MixedDtypesClient, MixedDtypesInputs, MixedDtypesOutputs

def run(client: MixedDtypesClient) -> MixedDtypesOutputs:
    return client.infer(MixedDtypesInputs(input_features=np.zeros((1, 4), dtype=np.float32),
                                          scale=np.ones((1, 1), dtype=np.int64)))
'''

BAD_PROGRAM = '''
import numpy as np
import numpy.typing as npt
from zoo_clients import MixedDtypesInputs

doubles: npt.NDArray[np.float64] = np.zeros((1, 4), dtype=np.float64)

unknown = MixedDtypesInputs(input_features=np.zeros((1, 4), dtype=np.float32),
                            scale=np.ones((1, 1), dtype=np.int64), bias=np.zeros(1))
missing = MixedDtypesInputs(input_features=np.zeros((1, 4), dtype=np.float32))
wrong = MixedDtypesInputs(input_features=doubles, scale=np.ones((1, 1), dtype=np.int64))
'''


def _mypy(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env_path = f"{REPO_ROOT}:{path}"
    return subprocess.run(
        [str(REPO_ROOT / ".venv" / "bin" / "mypy"), "--strict", "--no-incremental",
         "--config-file", str(REPO_ROOT / "pyproject.toml"), *args],
        capture_output=True, text=True, timeout=300, cwd=path,
        env={"MYPYPATH": env_path, "PATH": "/usr/bin:/bin"})


def test_mypy_accepts_correct_use_and_rejects_misuse_of_generated_client(zoo: Zoo) -> None:
    lib = zoo.package_dir.parent
    (lib / "good_use.py").write_text(GOOD_PROGRAM)
    (lib / "bad_use.py").write_text(BAD_PROGRAM)
    result = _mypy(lib, "good_use.py", "bad_use.py")
    lines = result.stdout.splitlines()
    assert not [line for line in lines if line.startswith("good_use.py")], result.stdout
    bad = "\n".join(line for line in lines if line.startswith("bad_use.py"))
    assert 'Unexpected keyword argument "bias"' in bad
    assert 'Missing named argument "scale"' in bad
    assert 'Argument "input_features" to "MixedDtypesInputs" has incompatible type' in bad
    assert "floating[_64Bit]" in bad and "floating[_32Bit]" in bad


@pytest.fixture
def closed_port_url() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"grpc://127.0.0.1:{port}"
