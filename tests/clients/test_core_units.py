"""Unit tests of the I/O-free core (pure functions only, no server)."""

from __future__ import annotations

import builtins
from io import BytesIO
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from PIL import Image
from tritonclient.utils import InferenceServerException

from clients import (
    ClientError,
    ConfigurationError,
    InvalidInputError,
    MetadataMismatchError,
    ModelNotReadyError,
    QueueFullError,
    RetryPolicy,
    ServerError,
    ServerUnavailableError,
    TimeoutError,
)
from clients._config import parse_url
from clients._core.error_table import is_retryable
from clients._core.images import encode_image, pad_rows, preprocess_image
from clients._core.query import SERVER_LIVE, Query
from clients._core.readiness import ReadinessPoll, ReadinessState, next_poll_s
from clients._core.recommendation import (
    SIGNATURE,
    RecommendationPlan,
    parse_recommendations,
    validate_k,
)
from clients._core.request import InferResponse
from clients._core.signature import ModelInfo, check_metadata
from clients._transport.grpc import translate_grpc_error
from clients._transport.http import translate_http_error
from reference.data import encode_png, make_images, preprocess

RECOMMENDATION_METADATA = {
    "name": "recommendation",
    "versions": ["1"],
    "inputs": [{"name": "user_id", "datatype": "INT64", "shape": [-1, 1]}],
    "outputs": [
        {"name": "item_ids", "datatype": "INT64", "shape": [-1, 20]},
        {"name": "scores", "datatype": "FP32", "shape": ["-1", "20"]},
    ],
}


@pytest.mark.parametrize(
    ("url", "protocol", "tls"),
    [
        ("http://127.0.0.1:8000", "http", False),
        ("https://example.org:443", "http", True),
        ("grpc://127.0.0.1:8001", "grpc", False),
        ("GRPCS://[::1]:9000", "grpc", True),
    ],
)
def test_parse_url_picks_protocol_and_tls_when_scheme_is_supported(
    url: str, protocol: str, tls: bool
) -> None:
    endpoint = parse_url(url)
    assert (endpoint.protocol, endpoint.tls) == (protocol, tls)
    assert endpoint.address.rsplit(":", 1)[1].isdigit()


@pytest.mark.parametrize("url", ["ftp://h:1", "127.0.0.1:8000", "http://host", "http://h:1/x"])
def test_parse_url_raises_configuration_error_when_url_is_unusable(url: str) -> None:
    with pytest.raises(ConfigurationError, match="url"):
        parse_url(url)


def test_retry_policy_backoff_doubles_and_caps_when_jitter_is_zero() -> None:
    policy = RetryPolicy(max_attempts=10, initial_backoff_s=0.1, max_backoff_s=0.5, jitter=0.0)
    assert [policy.backoff_s(n, 0.9) for n in (1, 2, 3, 4)] == pytest.approx([0.1, 0.2, 0.4, 0.5])


def test_retry_policy_backoff_shrinks_by_jitter_fraction_when_random_is_one() -> None:
    policy = RetryPolicy(initial_backoff_s=0.2, jitter=0.5)
    assert policy.backoff_s(1, 1.0) == pytest.approx(0.1)


def test_retry_policy_disabled_makes_one_attempt() -> None:
    assert RetryPolicy.disabled().max_attempts == 1


def test_retry_policy_rejects_zero_attempts_naming_the_field() -> None:
    with pytest.raises(ConfigurationError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


def test_check_metadata_reads_k_and_batch_size_when_metadata_matches() -> None:
    info = check_metadata(
        "recommendation", SIGNATURE, RECOMMENDATION_METADATA, {"max_batch_size": 64}, None
    )
    assert (info.version, info.max_batch_size, info.shapes["scores"]) == ("1", 64, (-1, 20))


def test_check_metadata_names_output_and_datatypes_when_datatype_differs() -> None:
    metadata = {**RECOMMENDATION_METADATA, "outputs": [
        {"name": "item_ids", "datatype": "INT64", "shape": [-1, 20]},
        {"name": "scores", "datatype": "FP16", "shape": [-1, 20]},
    ]}
    with pytest.raises(MetadataMismatchError) as info:
        check_metadata("recommendation", SIGNATURE, metadata, {}, None)
    assert "output 'scores' has datatype FP16, expected FP32" in str(info.value)


def test_check_metadata_lists_missing_input_and_wrong_shape_when_both_differ() -> None:
    metadata = {**RECOMMENDATION_METADATA, "inputs": [
        {"name": "user", "datatype": "INT64", "shape": [-1, 1]}
    ], "outputs": [
        {"name": "item_ids", "datatype": "INT64", "shape": [-1, 20, 2]},
        {"name": "scores", "datatype": "FP32", "shape": [-1, 20]},
    ]}
    with pytest.raises(MetadataMismatchError) as info:
        check_metadata("recommendation", SIGNATURE, metadata, {}, None)
    assert info.value.differences == (
        "input 'user_id' is missing",
        "output 'item_ids' has shape [-1, 20, 2], expected [-1, N]",
    )


def test_validate_k_names_k_and_model_k_when_k_exceeds_model_k() -> None:
    with pytest.raises(InvalidInputError, match=r"k=21 exceeds the K=20"):
        validate_k(21, 20)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("400", InvalidInputError),
        ("404", ModelNotReadyError),
        ("503", QueueFullError),
        ("500", ServerError),
        ("504", TimeoutError),
    ],
)
def test_translate_http_error_maps_status_code_to_error_class(
    status: str, expected: type[Exception]
) -> None:
    error = translate_http_error(InferenceServerException("boom", status=status), "model 'm'")
    assert type(error) is expected
    assert "model 'm'" in str(error)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (grpc.StatusCode.UNAVAILABLE, ServerUnavailableError),
        (grpc.StatusCode.DEADLINE_EXCEEDED, TimeoutError),
        (grpc.StatusCode.NOT_FOUND, ModelNotReadyError),
        (grpc.StatusCode.INVALID_ARGUMENT, InvalidInputError),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, QueueFullError),
        (grpc.StatusCode.INTERNAL, ServerError),
    ],
)
def test_translate_grpc_error_maps_status_code_to_error_class(
    code: grpc.StatusCode, expected: type[Exception]
) -> None:
    exc = InferenceServerException("same text for all", status=str(code))
    assert type(translate_grpc_error(exc, "server")) is expected


def test_translate_http_error_maps_refused_connection_to_server_unavailable() -> None:
    error = translate_http_error(ConnectionRefusedError(), "server")
    assert type(error) is ServerUnavailableError


def test_client_timeout_error_is_also_a_builtin_timeout_error() -> None:
    error = translate_grpc_error(builtins.TimeoutError(), "server")
    assert isinstance(error, TimeoutError) and isinstance(error, builtins.TimeoutError)


def test_is_retryable_accepts_only_unavailable_family() -> None:
    assert is_retryable(ServerUnavailableError("x")) and is_retryable(QueueFullError("x"))
    assert not any(
        is_retryable(e) for e in (InvalidInputError("x"), ModelNotReadyError("x"),
                                  TimeoutError("x"), ServerError("x"))
    )


def test_pad_rows_zero_pads_shorter_rows_to_longest() -> None:
    batch = pad_rows([b"\x01\x02\x03", b"\x04"])
    assert batch.dtype == np.uint8
    assert batch.tolist() == [[1, 2, 3], [4, 0, 0]]


def test_preprocess_image_matches_reference_contract_for_every_input_kind(
    tmp_path: Path,
) -> None:
    image = make_images(1, 7)[0][0]
    png = encode_png(image)
    path = tmp_path / "scan.png"
    path.write_bytes(png)
    expected = preprocess(png)
    rgb = np.repeat(image[:, :, None], 3, axis=2)
    for kind in (png, str(path), path, Image.open(BytesIO(png)), image, rgb):
        np.testing.assert_allclose(preprocess_image(kind), expected, atol=1e-6)


def test_encode_image_keeps_encoded_bytes_unchanged_when_given_bytes() -> None:
    png = encode_png(make_images(1, 3)[0][0])
    assert encode_image(png) == png


def test_next_poll_s_doubles_and_never_passes_deadline() -> None:
    assert [next_poll_s(n, 10.0) for n in (1, 2, 3, 5, 6)] == pytest.approx(
        [0.05, 0.1, 0.2, 0.8, 1.0]
    )
    assert next_poll_s(4, 0.1) == pytest.approx(0.1)
    assert next_poll_s(1, -0.5) == 0.0


def test_retry_policy_backoff_and_readiness_poll_share_one_exponential_curve() -> None:
    policy = RetryPolicy(initial_backoff_s=0.05, max_backoff_s=1.0, multiplier=2.0, jitter=0.0)
    assert [policy.backoff_s(n, 0.0) for n in range(1, 8)] == [
        next_poll_s(n, 100.0) for n in range(1, 8)
    ]


def test_retry_policy_retry_delay_is_none_when_attempts_are_spent() -> None:
    policy = RetryPolicy(max_attempts=3, jitter=0.0)
    unavailable = ServerUnavailableError("x")
    assert policy.retry_delay_s(1, 0.0, unavailable, 0.5) == pytest.approx(0.05)
    assert policy.retry_delay_s(2, 0.0, unavailable, 0.5) == pytest.approx(0.1)
    assert policy.retry_delay_s(3, 0.0, unavailable, 0.5) is None


def test_retry_policy_retry_delay_is_none_when_time_budget_would_be_passed() -> None:
    policy = RetryPolicy(max_attempts=10, max_total_s=1.0, initial_backoff_s=0.3, jitter=0.0)
    shed = QueueFullError("queue full")
    assert policy.retry_delay_s(1, 0.7, shed, 0.0) == pytest.approx(0.3)
    assert policy.retry_delay_s(1, 0.71, shed, 0.0) is None


def test_retry_policy_retry_delay_is_none_when_error_is_not_transient() -> None:
    policy = RetryPolicy(max_attempts=10)
    for error in (InvalidInputError("x"), TimeoutError("x"), ServerError("x")):
        assert policy.retry_delay_s(1, 0.0, error, 0.0) is None


def test_retry_policy_rejects_non_positive_time_budget_naming_the_field() -> None:
    with pytest.raises(ConfigurationError, match="max_total_s"):
        RetryPolicy(max_total_s=0)


def _drive(poll: ReadinessPoll, answers: list[bool | ClientError], clock: list[float]) -> list[str]:
    """Runs a poll against scripted answers; returns what it asked for, in order."""
    asked: list[str] = []
    while (step := poll.next(clock[0])) is not None:
        if isinstance(step, Query):
            asked.append(f"{step.method}{step.args}")
            answer = answers.pop(0)
            if isinstance(answer, ClientError):
                assert poll.tolerates(answer)
            else:
                poll.answer(answer)
        else:
            asked.append(f"sleep {step:g}")
            clock[0] += step
    return asked


def test_readiness_poll_asks_live_ready_then_each_model_and_backs_off_after_a_no() -> None:
    poll = ReadinessPoll(["a", "b"], "1", 10.0, 2.0, now=0.0)
    unavailable = ServerUnavailableError("refused")
    asked = _drive(poll, [unavailable, True, False, True, True, True, True], [0.0])
    assert asked == [
        "is_server_live()",
        "sleep 0.05",
        "is_server_live()",
        "is_server_ready()",
        "sleep 0.1",
        "is_server_live()",
        "is_server_ready()",
        "is_model_ready('a', '1')",
        "is_model_ready('b', '1')",
    ]


def test_readiness_poll_raises_model_not_ready_naming_model_when_deadline_passes() -> None:
    poll = ReadinessPoll(["rec"], "", 0.3, 2.0, now=0.0)
    with pytest.raises(ModelNotReadyError, match=r"model 'rec' not ready within 0\.3 s"):
        _drive(poll, [True, True, False] * 10, [0.0])


def test_readiness_poll_raises_server_unavailable_when_server_never_answers() -> None:
    poll = ReadinessPoll(["rec"], "", 0.2, 2.0, now=0.0)
    with pytest.raises(ServerUnavailableError, match="not reachable"):
        _drive(poll, [ServerUnavailableError("refused")] * 10, [0.0])


def test_readiness_poll_limits_each_query_to_the_time_left() -> None:
    poll = ReadinessPoll(["rec"], "", 1.0, 5.0, now=0.0)
    assert poll.next(0.25) is SERVER_LIVE
    assert poll.query_s == pytest.approx(0.75)


def test_recommendation_plan_splits_users_into_runs_of_max_batch_size() -> None:
    plan = RecommendationPlan(list(range(130)), 5)
    info = ModelInfo("recommendation", "1", 64, {"scores": (-1, 20)})
    requests = plan.requests(info, "1")
    assert [r.inputs[0].data.shape for r in requests] == [(64, 1), (64, 1), (2, 1)]
    assert {(r.model_name, r.model_version) for r in requests} == {("recommendation", "1")}
    assert requests[2].inputs[0].data.ravel().tolist() == [128, 129]


def test_recommendation_plan_raises_invalid_input_naming_k_when_k_exceeds_served_k() -> None:
    plan = RecommendationPlan([1, 2], 21)
    with pytest.raises(InvalidInputError, match=r"k=21 exceeds the K=20"):
        plan.requests(ModelInfo("recommendation", "1", 64, {"scores": (-1, 20)}), "")


def test_recommendation_plan_has_no_rows_when_user_ids_are_empty_but_checks_k() -> None:
    assert RecommendationPlan([], 3).rows == 0
    with pytest.raises(InvalidInputError, match="k must be"):
        RecommendationPlan([], 0)


def test_readiness_failure_is_server_unavailable_when_never_reached() -> None:
    assert type(ReadinessState().failure(1.0)) is ServerUnavailableError
    state = ReadinessState(reached=True, server_ready=True, not_ready_model="m")
    assert type(state.failure(1.0)) is ModelNotReadyError


def _png_with_byte_flipped(png: bytes, offset_from_end: int) -> bytes:
    damaged = bytearray(png)
    damaged[len(png) - offset_from_end] ^= 0x40
    return bytes(damaged)


@pytest.mark.parametrize(
    "damage",
    [
        lambda png: png[: len(png) // 2],  # truncated inside the image data
        lambda png: png[:40],  # truncated right after the header
        lambda png: _png_with_byte_flipped(png, 1000),  # corrupted image data (CRC)
        lambda png: png[:20] + b"\xff" + png[21:],  # corrupted header (CRC)
        lambda png: png[:-12],  # image data complete, IEND missing
    ],
    ids=[
        "truncated_data",
        "truncated_header",
        "flipped_data_byte",
        "flipped_header_byte",
        "missing_end",
    ],
)
def test_encode_image_raises_invalid_input_when_png_is_damaged(damage: Any) -> None:
    png = encode_png(make_images(1, 3)[0][0])
    with pytest.raises(InvalidInputError, match="not a decodable image"):
        encode_image(damage(png))


def test_encode_image_accepts_intact_png_of_every_colour_type() -> None:
    for mode in ("1", "L", "P", "RGB", "RGBA", "LA", "I;16"):
        buffer = BytesIO()
        Image.new(mode, (7, 5)).save(buffer, format="PNG")
        assert encode_image(buffer.getvalue()) == buffer.getvalue()


def test_parse_recommendations_orders_like_a_stable_descending_argsort() -> None:
    scores = np.array([[0.5, 0.9, 0.5, np.nan, 0.9], [5.0, 4.0, 3.0, 2.0, 1.0]], np.float32)
    ids = np.array([[10, 11, 12, 13, 14], [20, 21, 22, 23, 24]], dtype=np.int64)
    response = InferResponse("recommendation", "3", {"item_ids": ids, "scores": scores})
    rows = parse_recommendations(response, 4, 2)
    assert {(r.model_name, r.model_version) for row in rows for r in row} == {
        ("recommendation", "3")
    }
    assert [r.item_id for r in rows[0]] == [11, 14, 10, 12]  # ties keep order, NaN last
    assert [r.item_id for r in rows[1]] == [20, 21, 22, 23]
    assert all(type(r.item_id) is int and type(r.score) is float for r in rows[0])


def _png(width: int, height: int) -> bytes:
    buffer = BytesIO()
    Image.new("L", (width, height)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_encode_image_raises_invalid_input_when_pixels_exceed_twice_pillow_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(InvalidInputError, match=r"images\[0\].*decompression bomb"):
        encode_image(_png(20, 20), "images[0]")


def test_encode_image_warns_but_accepts_when_pixels_exceed_pillow_limit_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    png = _png(12, 12)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.warns(Image.DecompressionBombWarning):
        assert encode_image(png) == png


def test_encode_image_raises_invalid_input_when_jpeg_is_truncated() -> None:
    buffer = BytesIO()
    Image.fromarray(make_images(1, 3)[0][0]).save(buffer, format="JPEG", quality=90)
    jpeg = buffer.getvalue()
    assert encode_image(jpeg) == jpeg
    with pytest.raises(InvalidInputError, match="not a decodable image"):
        encode_image(jpeg[: len(jpeg) // 2])
