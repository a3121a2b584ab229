"""Reproduce Triton's ~500 ms dynamic-batcher stall when a queue policy is set.

A Triton maintainer can run this from a bug report: it writes its own model repository
(one tiny python-backend model per queue-policy variant, all with the same dynamic
batching) into a temporary folder, starts ``tritonserver`` on loopback, and drives each
variant in turn with N closed-loop ``tritonclient.grpc`` callers, interleaved over
several rounds so every variant sees the same machine load. It prints one table row per
variant and round: calls/s, p50, p99, slowest call and the count of calls over 400 ms.

Cause (Triton core r24.10, read in the source and confirmed by these figures): any of
``default_timeout_microseconds``, ``allow_timeout_override``, ``max_queue_size`` or
``priority_levels`` turns request prefetching off (``PriorityQueue::PriorityQueue`` in
src/scheduler_utils.cc). Without prefetching the batcher waits in
``WaitForPayloadSlotAvailable`` (src/dynamic_batch_scheduler.cc) on its own ``cv_`` for
an instance thread to be waiting for work, up to ``default_wait_microseconds = 500 *
1000``. The instance thread announces itself with ``InstanceQueue::IncrementConsumerCount``
(src/instance_queue.cc), which notifies only the instance queue's own condition variable,
never the batcher's. With closed-loop callers all blocked on queued requests nobody
enqueues the request whose arrival would wake the batcher, so it sleeps out the 500 ms.

Usage (inside this project; outside it pass ``--tritonserver`` and the usual environment)::

    .venv/bin/python scripts/repro_queue_policy_stall.py --callers 8 --seconds 10 --rounds 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tritonclient.grpc as grpcclient

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from serving import TritonServer  # noqa: E402

SLOW_CALL_S = 0.4

#: Variant name -> the ``dynamic_batching`` body (None: no dynamic batching at all).
BATCHING = "preferred_batch_size: [ 16, 32 ]\n  max_queue_delay_microseconds: 1000\n"
VARIANTS: dict[str, str | None] = {
    "no_batching": None,
    "no_policy": BATCHING,
    "shipped_policy": BATCHING + (
        "  default_queue_policy { max_queue_size: 256 "
        "default_timeout_microseconds: 5000000 allow_timeout_override: true }\n"),
    "max_queue_size_only": BATCHING + "  default_queue_policy { max_queue_size: 256 }\n",
    "timeout_only": BATCHING + (
        "  default_queue_policy { default_timeout_microseconds: 5000000 }\n"),
    "override_only": BATCHING + "  default_queue_policy { allow_timeout_override: true }\n",
    "timeout_action_delay_only": BATCHING + (
        "  default_queue_policy { timeout_action: DELAY }\n"),
    "priority_levels_2": BATCHING + "  priority_levels: 2\n  default_priority_level: 1\n",
    "no_policy_no_delay": "preferred_batch_size: [ 16, 32 ]\n",
    "shipped_policy_no_delay": "preferred_batch_size: [ 16, 32 ]\n" + (
        "  default_queue_policy { max_queue_size: 256 "
        "default_timeout_microseconds: 5000000 allow_timeout_override: true }\n"),
}

MODEL_PY = textwrap.dedent('''\
    import numpy as np
    import triton_python_backend_utils as pb_utils


    class TritonPythonModel:
        def execute(self, requests):
            responses = []
            for request in requests:
                x = pb_utils.get_input_tensor_by_name(request, "INPUT").as_numpy()
                out = pb_utils.Tensor("OUTPUT", (x * 2).astype(np.float32))
                responses.append(pb_utils.InferenceResponse(output_tensors=[out]))
            return responses
    ''')


def config_text(name: str, batching: str | None, instances: int) -> str:
    """The config.pbtxt of one variant."""
    text = (f'name: "{name}"\nbackend: "python"\nmax_batch_size: 64\n'
            'input { name: "INPUT" data_type: TYPE_FP32 dims: [ 4 ] }\n'
            'output { name: "OUTPUT" data_type: TYPE_FP32 dims: [ 4 ] }\n'
            f'instance_group {{ kind: KIND_CPU count: {instances} }}\n')
    if batching is not None:
        text += "dynamic_batching {\n  " + batching + "}\n"
    return text


def write_repository(root: Path, names: Sequence[str], instances: int) -> None:
    """One model folder per variant under ``root``."""
    for name in names:
        (root / name / "1").mkdir(parents=True)
        (root / name / "config.pbtxt").write_text(config_text(name, VARIANTS[name], instances))
        (root / name / "1" / "model.py").write_text(MODEL_PY)


@dataclass(frozen=True)
class Row:
    """One variant's figures for one round."""

    variant: str
    round: int
    calls_per_s: float
    p50_ms: float
    p99_ms: float
    slowest_ms: float
    over_400ms: int
    errors: int


def drive(url: str, model: str, callers: int, seconds: float) -> tuple[list[float], int]:
    """``callers`` closed-loop gRPC callers for ``seconds``; latencies (s) and error count."""
    latencies: list[list[float]] = [[] for _ in range(callers)]
    errors = [0] * callers
    stop_at = time.monotonic() + seconds
    max_calls = 200_000  # bound per caller, whatever the speed

    def caller(index: int) -> None:
        client = grpcclient.InferenceServerClient(url)
        data = np.ones((1, 4), dtype=np.float32)
        infer_input = grpcclient.InferInput("INPUT", [1, 4], "FP32")
        infer_input.set_data_from_numpy(data)
        try:
            for _ in range(max_calls):
                if time.monotonic() >= stop_at:
                    break
                start = time.perf_counter()
                try:
                    client.infer(model, [infer_input], client_timeout=10.0)
                except Exception:  # any failure is counted, not raised
                    errors[index] += 1
                    continue
                latencies[index].append(time.perf_counter() - start)
        finally:
            client.close()

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 30)
    return [lat for per in latencies for lat in per], sum(errors)


def measure(url: str, variant: str, round_: int, callers: int, seconds: float) -> Row:
    """Drive one variant and summarise it."""
    drive(url, variant, callers, min(1.0, seconds))  # warm-up, not counted
    latencies, errors = drive(url, variant, callers, seconds)
    latencies.sort()
    if not latencies:
        return Row(variant, round_, 0.0, 0.0, 0.0, 0.0, 0, errors)
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    return Row(
        variant=variant,
        round=round_,
        calls_per_s=len(latencies) / seconds,
        p50_ms=statistics.median(latencies) * 1e3,
        p99_ms=p99 * 1e3,
        slowest_ms=latencies[-1] * 1e3,
        over_400ms=sum(1 for lat in latencies if lat > SLOW_CALL_S),
        errors=errors,
    )


def print_table(rows: Sequence[Row]) -> None:
    """A markdown table, one line per variant and round."""
    print("| variant | round | calls/s | p50 ms | p99 ms | slowest ms | calls > 400 ms | errors |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row.variant} | {row.round} | {row.calls_per_s:,.0f} | {row.p50_ms:.1f} | "
              f"{row.p99_ms:.1f} | {row.slowest_ms:.0f} | {row.over_400ms} | {row.errors} |")


def main(argv: Sequence[str] | None = None) -> int:
    """Build the repository, start Triton, measure every variant interleaved."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--instances", type=int, default=1, help="instance_group count")
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS),
                        default=list(VARIANTS))
    parser.add_argument("--tritonserver", type=Path, default=None,
                        help="a tritonserver binary (default: the one in nvidia-pytriton)")
    args = parser.parse_args(argv)
    if not 1 <= args.callers <= 64 or not 0 < args.seconds <= 120 or not 1 <= args.rounds <= 10:
        parser.error("--callers 1..64, --seconds 0..120, --rounds 1..10")

    with tempfile.TemporaryDirectory(prefix="queue-policy-stall-") as tmp:
        repo = Path(tmp) / "models"
        write_repository(repo, args.variants, args.instances)
        with TritonServer(repo, tritonserver=args.tritonserver, adapt=False) as server:
            print(f"# Triton at {server.grpc_address}; {args.callers} closed-loop gRPC callers, "
                  f"{args.seconds:g} s per variant, {args.instances} instance(s)", flush=True)
            rows: list[Row] = []
            for round_ in range(1, args.rounds + 1):
                for variant in args.variants:
                    row = measure(server.grpc_address, variant, round_, args.callers,
                                  args.seconds)
                    rows.append(row)
                    print(f"# {row}", file=sys.stderr, flush=True)
    print_table(sorted(rows, key=lambda r: (args.variants.index(r.variant), r.round)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
