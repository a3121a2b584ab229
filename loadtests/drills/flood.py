"""The overload drill's load generator: processes of asyncio callers, results merged.

The offered rate of a Python generator is its CPU divided by its CPU per call (about
0.15-0.2 ms per gRPC call and 0.2-0.25 ms per HTTP call on the 2-core build host, with
the requests built once); the server answers about 900 calls of 64 rows per second over
gRPC. :class:`CallerPool` therefore starts ``processes`` worker processes (``spawn``),
each an asyncio loop of back-to-back callers, gets them ready before they are needed,
starts them all at once, and merges what they saw into one :class:`Generated`. The
capacity measurement uses the same workers, so the offered load and the capacity are
counted by the same client on the same cores.

Every call carries a bound enforced by its transport (the gRPC deadline, the HTTP
session's total timeout): no per-call task or timer on top of it. A call is shed when
its status says so (HTTP 429/503, gRPC UNAVAILABLE/RESOURCE_EXHAUSTED), never by its
text. A worker that outlives its window plus the bound is terminated and counted as hung.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import queue
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np

from loadtests.errors import DrillError
from loadtests.samples import NUM_USERS

__all__ = ["CallerPool", "Generated", "LoadPlan", "Mode", "is_shed", "run_callers"]

SHED_GRPC_STATUSES = frozenset({"UNAVAILABLE", "RESOURCE_EXHAUSTED"})
"""gRPC statuses of a call the balancer or the server refused to queue."""
SHED_HTTP_STATUSES = frozenset({429, 503})
"""HTTP statuses of a call the balancer or the server refused to queue."""

_DISTINCT_INPUTS = 64
_OUTPUTS = ("item_ids", "scores")
_READY_BOUND_S = 60.0
_EXIT_SLACK_S = 10.0
_MAX_ERRORS = 5


class Mode(str, Enum):
    """How the callers call."""

    CLOSED_LOOP = "closed_loop"
    """The capacity measurement: no deadline sent, the generous capacity bound."""
    FLOOD = "flood"
    """The overload: each call bounded by the deadline plus the hung slack."""


@dataclass(frozen=True)
class LoadPlan:
    """What every caller sends, and the bounds of its calls.

    Attributes:
        protocol: ``grpc`` or ``http``.
        address: ``host:port`` of the balancer (no scheme).
        model: The model called.
        rows: User ids per call.
        deadline_s: A flood call's deadline (sent to Triton as its request timeout).
        hung_slack_s: A flood call unanswered this long after its deadline has hung.
        capacity_bound_s: The bound of a capacity call.
        cpus: The cores the workers run on (empty: wherever the parent may run).
        requests: Inputs by tensor name, one dict per distinct request (any model's
            input data); empty: ``rows`` recommendation user ids.
        outputs: The outputs every call asks for.
    """

    protocol: str
    address: str
    model: str
    rows: int
    deadline_s: float
    hung_slack_s: float
    capacity_bound_s: float
    cpus: tuple[int, ...] = ()
    requests: tuple[dict[str, Any], ...] = ()
    outputs: tuple[str, ...] = _OUTPUTS

    def bound_s(self, mode: Mode) -> float:
        """The transport's bound on one call."""
        if mode is Mode.FLOOD:
            return self.deadline_s + self.hung_slack_s
        return self.capacity_bound_s


@dataclass
class Generated:
    """What the callers saw (one worker's, or every worker's merged).

    Attributes:
        offered: Calls started.
        ok: Calls answered.
        shed: Calls refused by status (:func:`is_shed`).
        failed: Calls that failed otherwise, or a worker's calls when it hung.
        accepted_ms: Latency of every answered call.
        max_ms: The slowest call, answered or not.
        elapsed_s: Longest time a worker's callers ran.
        cpu_s: CPU time the workers' callers used, summed.
        processes: Workers merged.
        errors: A few failures, as text, for the report.
    """

    offered: int = 0
    ok: int = 0
    shed: int = 0
    failed: int = 0
    accepted_ms: list[float] = field(default_factory=list)
    max_ms: float = 0.0
    elapsed_s: float = 0.0
    cpu_s: float = 0.0
    processes: int = 1
    errors: list[str] = field(default_factory=list)

    @classmethod
    def merged(cls, parts: list[Generated]) -> Generated:
        """One result from the workers' results."""
        total = cls(processes=len(parts))
        for part in parts:
            total.offered += part.offered
            total.ok += part.ok
            total.shed += part.shed
            total.failed += part.failed
            total.accepted_ms += part.accepted_ms
            total.max_ms = max(total.max_ms, part.max_ms)
            total.elapsed_s = max(total.elapsed_s, part.elapsed_s)
            total.cpu_s += part.cpu_s
            total.errors += part.errors[:_MAX_ERRORS - len(total.errors)]
        return total


def is_shed(status: str | int) -> bool:
    """Whether a call's status says it was refused (shed): HTTP 429/503, gRPC
    UNAVAILABLE/RESOURCE_EXHAUSTED (by name)."""
    if isinstance(status, int):
        return status in SHED_HTTP_STATUSES
    return status in SHED_GRPC_STATUSES


class _Callers:
    """One worker's callers: calls of ``plan.rows`` user ids, back to back.

    The requests are built once, with Triton's own schema (``tritonclient``'s protobuf
    messages, its HTTP request body), and sent on the bare transport (``grpc.aio``,
    ``aiohttp``): tritonclient's per-call request building and result wrapping cost the
    client a quarter to a third of its CPU per call, and the offered rate is that CPU.
    A call is classified by its status alone: gRPC status code, HTTP status.
    """

    def __init__(self, plan: LoadPlan, mode: Mode) -> None:
        self.plan = plan
        self.mode = mode
        self._bound_s = plan.bound_s(mode)
        # The deadline travels with the call (Triton's request timeout) in a flood.
        self._timeout_us = int(plan.deadline_s * 1e6) if mode is Mode.FLOOD else None

    def _ids(self, key: int) -> Any:
        rows = self.plan.rows
        # the same known users as the recommender's typed call draws from
        return ((np.arange(rows, dtype=np.int64) + key * rows) % NUM_USERS).reshape(rows, 1)

    def _inputs(self, key: int) -> list[tuple[str, str, Any]]:
        """(name, Triton datatype, array) of every input of distinct request ``key``."""
        from tritonclient.utils import np_to_triton_dtype

        if not self.plan.requests:
            return [("user_id", "INT64", self._ids(key))]
        request = self.plan.requests[key % len(self.plan.requests)]
        return [(name, str(np_to_triton_dtype(a.dtype)), a) for name, a in request.items()]

    async def run(self, callers: int, window_s: float) -> Generated:
        """``callers`` back-to-back callers for ``window_s`` seconds."""
        if self.plan.protocol == "grpc":
            return await self._run_grpc(callers, window_s)
        return await self._run_http(callers, window_s)

    async def _run_grpc(self, callers: int, window_s: float) -> Generated:
        import grpc
        from tritonclient.grpc import service_pb2, service_pb2_grpc
        from tritonclient.utils import serialize_byte_tensor

        requests = []
        for key in range(_DISTINCT_INPUTS):
            request = service_pb2.ModelInferRequest(model_name=self.plan.model)
            for name, datatype, array in self._inputs(key):
                tensor = request.inputs.add()
                tensor.name, tensor.datatype = name, datatype
                tensor.shape.extend(array.shape)
                raw = serialize_byte_tensor(array) if datatype == "BYTES" else array
                request.raw_input_contents.append(raw.tobytes())
            for name in self.plan.outputs:
                request.outputs.add().name = name
            if self._timeout_us is not None:
                request.parameters["timeout"].int64_param = self._timeout_us
            requests.append(request)
        channel = grpc.aio.insecure_channel(self.plan.address)
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        bound_s = self._bound_s

        async def call(key: int) -> str | int:
            try:
                await stub.ModelInfer(requests[key], timeout=bound_s)
            except grpc.aio.AioRpcError as error:
                return str(error.code().name)
            return "OK"

        try:
            return await self._callers(call, callers, window_s, "OK")
        finally:
            await channel.close()

    async def _run_http(self, callers: int, window_s: float) -> Generated:
        import aiohttp
        import tritonclient.http as httpclient

        outputs = [httpclient.InferRequestedOutput(name, binary_data=True)
                   for name in self.plan.outputs]
        bodies = []
        for key in range(_DISTINCT_INPUTS):
            tensors = []
            for name, datatype, array in self._inputs(key):
                tensor = httpclient.InferInput(name, list(array.shape), datatype)
                tensor.set_data_from_numpy(array, binary_data=True)
                tensors.append(tensor)
            body, json_size = httpclient.InferenceServerClient.generate_request_body(
                tensors, outputs=outputs, timeout=self._timeout_us)
            headers = {"Content-Type": "application/octet-stream"}
            if json_size is not None:
                headers["Inference-Header-Content-Length"] = str(json_size)
            bodies.append((body, headers))
        url = f"http://{self.plan.address}/v2/models/{self.plan.model}/infer"
        # aiohttp's total timeout is the call's bound.
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                        timeout=aiohttp.ClientTimeout(total=self._bound_s))

        async def call(key: int) -> str | int:
            body, headers = bodies[key]
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                return response.status

        try:
            return await self._callers(call, callers, window_s, 200)
        finally:
            await session.close()

    async def _callers(self, call: Callable[[int], Awaitable[str | int]], callers: int,
                       window_s: float, ok: str | int) -> Generated:
        result = Generated()
        started, cpu_started = time.monotonic(), time.process_time()
        end = started + window_s

        async def caller(first: int) -> None:
            key = first
            while time.monotonic() < end:
                result.offered += 1
                began = time.monotonic()
                try:
                    status = await call(key % _DISTINCT_INPUTS)
                except Exception as error:  # no status at all: timed out, connection lost
                    status = f"{type(error).__name__}: {error}"
                elapsed_ms = (time.monotonic() - began) * 1000.0
                if status == ok:
                    result.ok += 1
                    result.accepted_ms.append(elapsed_ms)
                elif is_shed(status):
                    result.shed += 1
                else:
                    result.failed += 1
                    if len(result.errors) < _MAX_ERRORS:
                        result.errors.append(f"status {status}"[:200])
                result.max_ms = max(result.max_ms, elapsed_ms)
                key += 1

        await asyncio.gather(*(caller(i) for i in range(callers)))
        result.elapsed_s = time.monotonic() - started
        result.cpu_s = time.process_time() - cpu_started
        return result


def _event_loop_run(protocol: str, main: Coroutine[Any, Any, Generated]) -> Generated:
    """Run ``main`` on uvloop for HTTP (measured: 0.22 ms of CPU per call against 0.34 ms
    on asyncio's own loop), on asyncio's loop for gRPC, whose aio layer drives it."""
    if protocol == "http":
        try:
            import uvloop
        except ImportError:  # not built for this platform
            pass
        else:
            return uvloop.run(main)
    return asyncio.run(main)


def _worker(plan: LoadPlan, mode: Mode, callers: int, window_s: float, start_within_s: float,
            ready: Any, go: Any, results: Any) -> None:
    """A worker process: get ready, wait for the start, run the callers, report."""
    try:
        if plan.cpus:  # before grpc starts its threads, so that they inherit it
            os.sched_setaffinity(0, set(plan.cpus))
        runner = _Callers(plan, mode)
        ready.put(True)
        if not go.wait(start_within_s):
            return
        results.put(_event_loop_run(plan.protocol, runner.run(callers, window_s)))
    except Exception as error:  # the parent reports it; a worker never raises
        results.put(Generated(failed=1, errors=[f"worker: {type(error).__name__}: {error}"]))


class CallerPool:
    """Worker processes of callers, ready before they are needed.

    ``with CallerPool(...) as pool:`` spawns the workers and waits until each is ready
    (imports done, requests built: a few seconds on a busy host), so that
    :meth:`run` starts every caller at once; leaving the block ends the workers.
    """

    def __init__(self, plan: LoadPlan, mode: Mode, callers: int, window_s: float,
                 processes: int, start_within_s: float = _READY_BOUND_S) -> None:
        self.plan = plan
        self.mode = mode
        self.window_s = window_s
        context = multiprocessing.get_context("spawn")
        self._ready, self._results, self._go = context.Queue(), context.Queue(), context.Event()
        shares = [callers // processes + (1 if i < callers % processes else 0)
                  for i in range(processes)]
        self._workers = [
            context.Process(target=_worker, name=f"overload-generator-{i}", daemon=True,
                            args=(plan, mode, share, window_s, start_within_s, self._ready,
                                  self._go, self._results))
            for i, share in enumerate(shares) if share > 0]

    def __enter__(self) -> CallerPool:
        for worker in self._workers:
            worker.start()
        try:
            deadline = time.monotonic() + _READY_BOUND_S
            for _ in self._workers:
                try:
                    self._ready.get(timeout=max(0.1, deadline - time.monotonic()))
                except queue.Empty:
                    raise DrillError(f"overload generator: {len(self._workers)} workers not "
                                     f"ready within {_READY_BOUND_S:g} s") from None
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def run(self) -> Generated:
        """Start every caller now; return what they saw once every worker reported."""
        self._go.set()
        bound_s = self.plan.bound_s(self.mode)
        finish = time.monotonic() + self.window_s + bound_s + _EXIT_SLACK_S
        parts: list[Generated] = []
        for _ in self._workers:
            try:
                parts.append(self._results.get(timeout=max(0.1, finish - time.monotonic())))
            except queue.Empty:
                break
        hung = len(self._workers) - len(parts)
        if hung:
            parts.append(Generated(failed=hung, max_ms=(bound_s + _EXIT_SLACK_S) * 1000.0,
                                   errors=[f"{hung} generator workers hung past their "
                                           f"window and bound"]))
        total = Generated.merged(parts)
        total.processes = len(self._workers)
        return total

    def close(self) -> None:
        """End the workers (bounded: terminated if they do not exit; at once if idle)."""
        started = self._go.is_set()
        for worker in self._workers:
            if worker.pid is None:
                continue
            if started:
                worker.join(timeout=_EXIT_SLACK_S)
            if worker.is_alive():
                worker.terminate()
                worker.join(timeout=_EXIT_SLACK_S)


def run_callers(plan: LoadPlan, mode: Mode, callers: int, window_s: float,
                processes: int) -> Generated:
    """Run ``callers`` callers spread over ``processes`` workers for ``window_s`` seconds.

    Raises:
        DrillError: A worker could not start in time.
    """
    with CallerPool(plan, mode, callers, window_s, processes) as pool:
        return pool.run()
