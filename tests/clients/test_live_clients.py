"""The four clients against the real embedded Triton server, over HTTP and gRPC."""

from __future__ import annotations

import asyncio
import builtins
import time
from collections.abc import Sequence
from io import BytesIO
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from clients import (
    AsyncImageDiagnosisClient,
    AsyncRecommendationClient,
    Diagnosis,
    ImageDiagnosisClient,
    InvalidInputError,
    MetadataMismatchError,
    ModelNotReadyError,
    Recommendation,
    RecommendationClient,
    TimeoutError,
    Timeouts,
)
from clients._core.images import ImageInput
from reference.data import CLASSES, NUM_ITEMS, encode_png, make_images

MODES = ["sync", "async"]


def diagnose_batch(
    url: str, mode: str, images: Sequence[ImageInput], **kw: object
) -> list[Diagnosis]:
    if mode == "sync":
        with ImageDiagnosisClient(url, **kw) as client:  # type: ignore[arg-type]
            return client.diagnose_batch(images)

    async def run() -> list[Diagnosis]:
        async with AsyncImageDiagnosisClient(url, **kw) as client:  # type: ignore[arg-type]
            return await client.diagnose_batch(images)

    return asyncio.run(run())


def recommend_batch(url: str, mode: str, users: list[int], k: int) -> list[list[Recommendation]]:
    if mode == "sync":
        with RecommendationClient(url) as client:
            return client.recommend_batch(users, k)

    async def run() -> list[list[Recommendation]]:
        async with AsyncRecommendationClient(url) as client:
            return await client.recommend_batch(users, k)

    return asyncio.run(run())


@pytest.mark.parametrize("mode", MODES)
def test_image_client_predicts_true_labels_when_given_held_out_images(
    url: str,
    mode: str,
    samples: tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]],
    sample_pngs: list[bytes],
) -> None:
    results = diagnose_batch(url, mode, sample_pngs)
    truth = [CLASSES[i] for i in samples[1]]
    assert sum(r.label == t for r, t in zip(results, truth, strict=True)) >= 7
    for r in results:
        assert list(r.probabilities) == list(CLASSES)
        assert sum(r.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert r.score == max(r.probabilities.values())
        assert (r.model_name, r.model_version) == ("image_diagnosis", "1")


@pytest.mark.parametrize("mode", MODES)
def test_image_client_single_calls_match_batch_when_images_differ_in_byte_length(
    url: str, mode: str, sample_pngs: list[bytes]
) -> None:
    small = encode_png(make_images(1, 99)[0][0][:120, :90])
    images = [sample_pngs[0], small, sample_pngs[1]]
    batch = diagnose_batch(url, mode, images)
    singles = [diagnose_batch(url, mode, [img])[0] for img in images]
    for b, s in zip(batch, singles, strict=True):
        assert b.label == s.label
        for c in CLASSES:
            assert b.probabilities[c] == pytest.approx(s.probabilities[c], abs=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_image_client_local_preprocessing_matches_ensemble_within_1e5(
    url: str, mode: str, sample_pngs: list[bytes]
) -> None:
    remote = diagnose_batch(url, mode, sample_pngs, use_ensemble=True)
    local = diagnose_batch(url, mode, sample_pngs, use_ensemble=False)
    assert {r.model_name for r in local} == {"image_diagnosis_classifier"}
    for a, b in zip(remote, local, strict=True):
        assert a.label == b.label
        for c in CLASSES:
            assert abs(a.probabilities[c] - b.probabilities[c]) <= 1e-5


def test_image_client_accepts_every_input_kind_with_same_result(
    url: str, samples: tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]], tmp_path: Path
) -> None:
    image = samples[0][2]
    png = encode_png(image)
    path = tmp_path / "scan.png"
    path.write_bytes(png)
    kinds: list[ImageInput] = [
        png, str(path), path, Image.open(BytesIO(png)), image, np.repeat(image[..., None], 3, 2)
    ]
    results = diagnose_batch(url, "sync", kinds)
    for r in results[1:]:
        for c in CLASSES:
            assert r.probabilities[c] == pytest.approx(results[0].probabilities[c], abs=1e-6)


def test_image_client_splits_batches_larger_than_max_batch_size_keeping_order(
    url: str, sample_pngs: list[bytes]
) -> None:
    images = (sample_pngs * 5)[:33]  # image_diagnosis has max_batch_size 32
    results = diagnose_batch(url, "sync", images)
    assert len(results) == 33
    first = diagnose_batch(url, "sync", sample_pngs)
    assert [r.label for r in results] == [first[i % 8].label for i in range(33)]


@pytest.mark.parametrize("mode", MODES)
def test_recommendation_client_returns_k_sorted_catalogue_items_when_k_is_5(
    url: str, mode: str
) -> None:
    users = [0, 7, 1999]
    batch = recommend_batch(url, mode, users, 5)
    assert len(batch) == 3
    for recs in batch:
        assert len(recs) == 5
        scores = [r.score for r in recs]
        assert scores == sorted(scores, reverse=True)
        assert all(0 <= r.item_id < NUM_ITEMS for r in recs)
        assert len({r.item_id for r in recs}) == 5
        # Unpinned calls go to the highest READY version; the spec serves 1 and 2.
        assert {(r.model_name, r.model_version) for r in recs} == {("recommendation", "2")}
    assert batch[1] == recommend_batch(url, mode, [7], 5)[0]


def test_recommendation_client_splits_batches_larger_than_max_batch_size(url: str) -> None:
    users = list(range(130))  # recommendation has max_batch_size 64
    batch = recommend_batch(url, "sync", users, 20)
    assert len(batch) == 130 and all(len(r) == 20 for r in batch)
    assert batch[129] == recommend_batch(url, "sync", [129], 20)[0]


def test_recommendation_client_raises_invalid_input_naming_k_when_k_exceeds_model_k(
    url: str,
) -> None:
    with RecommendationClient(url) as client, pytest.raises(InvalidInputError) as info:
        client.recommend(1, k=21)
    assert "k=21" in str(info.value) and "K=20" in str(info.value)


def test_clients_report_pinned_version_when_model_version_is_1(url: str) -> None:
    with ImageDiagnosisClient(url, model_version="1") as client:
        assert client.diagnose(np.zeros((64, 64), dtype=np.uint8)).model_version == "1"
    with RecommendationClient(url, model_version="1") as rec:
        assert [r.model_version for r in rec.recommend(3, k=2)] == ["1", "1"]


@pytest.mark.parametrize("mode", MODES)
def test_clients_raise_model_not_ready_when_pinned_version_does_not_exist(
    url: str, mode: str
) -> None:
    if mode == "sync":
        with RecommendationClient(url, model_version="7") as client:
            with pytest.raises(ModelNotReadyError, match="recommendation"):
                client.recommend(1)
            with pytest.raises(ModelNotReadyError, match="recommendation"):
                client.wait_until_ready(0.5)
        return

    async def run() -> None:
        async with AsyncRecommendationClient(url, model_version="7") as client:
            with pytest.raises(ModelNotReadyError, match="recommendation"):
                await client.recommend(1)
            with pytest.raises(ModelNotReadyError, match="recommendation"):
                await client.wait_until_ready(0.5)

    asyncio.run(run())


@pytest.mark.parametrize("mode", MODES)
def test_clients_wait_until_ready_returns_when_server_and_model_are_ready(
    url: str, mode: str
) -> None:
    if mode == "sync":
        with ImageDiagnosisClient(url) as client:
            client.wait_until_ready(10.0)
        return

    async def run() -> None:
        async with AsyncRecommendationClient(url) as client:
            await client.wait_until_ready(10.0)

    asyncio.run(run())


def test_image_client_raises_metadata_mismatch_when_labels_do_not_fit_output(url: str) -> None:
    client = ImageDiagnosisClient(url, labels=("a", "b", "c", "d"))
    with client, pytest.raises(MetadataMismatchError, match="output 'PROBABILITIES' has shape"):
        client.diagnose(np.zeros((32, 32), dtype=np.uint8))


def test_sync_client_keeps_its_whole_deadline_after_calls_longer_than_it_in_total(
    url: str,
) -> None:
    # The sync HTTP transport once reused one gevent.Timeout per client; restarted after
    # cancel() it kept only the time it had left, so once a client's calls had lasted
    # request_s in total, every call timed out a few ms in (8 users failed at once 42 s
    # into a run with the 30 s default).
    request_s = 0.2
    with RecommendationClient(url, timeouts=Timeouts(request_s=request_s)) as client:
        client.wait_until_ready(10.0)
        in_calls_s, calls = 0.0, 0
        while in_calls_s < 3 * request_s and calls < 20_000:
            started = time.perf_counter()
            client.recommend(calls % NUM_ITEMS, 5)
            in_calls_s += time.perf_counter() - started
            calls += 1
    assert in_calls_s >= 3 * request_s, f"{calls} calls lasted {in_calls_s:.2f} s in total"


@pytest.mark.parametrize("mode", MODES)
def test_clients_raise_timeout_error_when_per_call_timeout_is_tiny(
    url: str, mode: str, sample_pngs: list[bytes]
) -> None:
    images = sample_pngs * 4
    if mode == "sync":
        with ImageDiagnosisClient(url) as client:
            client.wait_until_ready(10.0)
            client.diagnose(images[0])  # metadata fetched, so the next call only infers
            with pytest.raises(TimeoutError) as info:
                client.diagnose_batch(images, timeout_s=1e-4)
            assert isinstance(info.value, builtins.TimeoutError)
            assert client.diagnose(images[0]).label in CLASSES  # still usable afterwards
        return

    async def run() -> None:
        async with AsyncImageDiagnosisClient(url) as client:
            await client.diagnose(images[0])
            with pytest.raises(TimeoutError):
                await client.diagnose_batch(images, timeout_s=1e-4)
            assert (await client.diagnose(images[0])).label in CLASSES

    asyncio.run(run())


def test_clients_make_no_retry_when_server_answers_every_call(url: str) -> None:
    with RecommendationClient(url) as client:
        client.recommend_batch(list(range(130)), k=3)  # three requests
        assert client.retries == 0


def test_clients_send_extra_headers_without_breaking_either_protocol(url: str) -> None:
    headers = {"Authorization": "Bearer test-token", "X-Request-Source": "tests"}
    with RecommendationClient(url, headers=headers) as client:
        assert len(client.recommend(11, k=3)) == 3
