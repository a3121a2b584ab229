"""Image input handling: validation, PNG encoding, padding and local preprocessing."""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from io import BytesIO
from typing import TypeAlias

import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

from clients.errors import InvalidInputError

__all__ = [
    "IMAGE_SIZE",
    "ImageInput",
    "encode_image",
    "pad_rows",
    "preprocess",
    "preprocess_image",
]

ImageInput: TypeAlias = "str | os.PathLike[str] | bytes | bytearray | memoryview | Image.Image | npt.NDArray[np.uint8]"  # noqa: E501
"""Anything :meth:`ImageDiagnosisClient.diagnose` accepts."""

IMAGE_SIZE = 224
"""Side of the square image the classifier expects."""


_DECODE_ERRORS = (
    UnidentifiedImageError,
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    struct.error,
    Image.DecompressionBombError,
)


def _decode(data: bytes, where: str) -> Image.Image:
    try:
        image = Image.open(BytesIO(data))
        image.load()
    except _DECODE_ERRORS as exc:
        raise InvalidInputError(f"{where}: not a decodable image ({exc})") from exc
    return image


def _check_encoded(data: bytes, where: str) -> None:
    """Checks that encoded bytes are a complete, intact image, before anything is sent.

    ``Image.open`` reads the header and applies Pillow's decompression-bomb limit
    (``Image.MAX_IMAGE_PIXELS``: a warning above it, an error above twice it). PNG
    files are then checked with Pillow's ``verify()``, which reads every chunk up to
    ``IEND`` and checks its CRC without inflating the pixels: truncation and corrupted
    bytes are caught at a small fraction of the cost of decoding. The ensemble decodes
    the image on the server, which answers INVALID_ARG (also
    :class:`InvalidInputError`) in the unlikely case of a well-formed but undecodable
    file. Pillow verifies no other format, so JPEG files are decoded at the smallest
    DCT scale (every entropy-coded byte is still read) and other formats in full.

    Args:
        data: Encoded image file.
        where: Name of the argument for error messages.

    Raises:
        InvalidInputError: If the bytes are not an intact image, or exceed twice
            Pillow's pixel limit.
    """
    try:
        with Image.open(BytesIO(data)) as image:
            if image.format == "PNG":
                image.verify()
                return
            if image.format == "JPEG":
                image.draft(None, (1, 1))
            image.load()
    except _DECODE_ERRORS as exc:
        raise InvalidInputError(f"{where}: not a decodable image ({exc})") from exc


def _from_array(array: npt.NDArray[np.generic], where: str) -> Image.Image:
    if array.dtype != np.uint8:
        raise InvalidInputError(f"{where}: array dtype must be uint8, got {array.dtype}")
    if array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3):
        if array.shape[0] < 1 or array.shape[1] < 1:
            raise InvalidInputError(f"{where}: array is empty, shape {array.shape}")
        return Image.fromarray(np.ascontiguousarray(array))
    raise InvalidInputError(
        f"{where}: array shape must be (H, W) or (H, W, 3), got {tuple(array.shape)}"
    )


def _read_path(path: str | os.PathLike[str], where: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise InvalidInputError(f"{where}: cannot read image file {os.fspath(path)!r}") from exc


def _to_png(image: Image.Image) -> bytes:
    buffer = BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _read_encoded(image: ImageInput, where: str) -> bytes | None:
    """Returns the bytes of a path or bytes-like input (unchecked), None for other kinds."""
    if isinstance(image, str | os.PathLike):
        return _read_path(image, where)
    if isinstance(image, bytes | bytearray | memoryview):
        data = bytes(image)
        if not data:
            raise InvalidInputError(f"{where}: image bytes are empty")
        return data
    return None


def encode_image(image: ImageInput, where: str = "image") -> bytes:
    """Validates an image input and returns encoded file bytes for the ensemble.

    Encoded inputs (paths, bytes) are sent unchanged after an integrity check that does
    not decode the pixels (see :func:`_check_encoded`; the ensemble decodes them on the
    server); PIL images and arrays are encoded as PNG (lossless, so both paths see the
    same pixels).

    Args:
        image: Path, encoded bytes, PIL image or uint8 array (H, W) / (H, W, 3).
        where: Name of the argument for error messages, e.g. ``"images[3]"``.

    Returns:
        Encoded image bytes.

    Raises:
        InvalidInputError: If the input cannot be used.
    """
    data = _read_encoded(image, where)
    if data is not None:
        _check_encoded(data, where)
        return data
    if isinstance(image, Image.Image):
        return _to_png(image)
    if isinstance(image, np.ndarray):
        return _to_png(_from_array(image, where))
    raise InvalidInputError(
        f"{where}: expected a path, bytes, PIL image or numpy array, got {type(image).__name__}"
    )


def preprocess(image: Image.Image) -> npt.NDArray[np.float32]:
    """Applies the team's preprocessing contract.

    Grayscale, bilinear resize to 224x224, scale to [0, 1], normalise with mean 0.5
    and std 0.5.

    Args:
        image: A decoded image.

    Returns:
        float32 array of shape [1, 224, 224].
    """
    gray = image.convert("L").resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR)
    x = np.asarray(gray, dtype=np.float32) / 255.0
    x = (x - 0.5) / 0.5
    return x.reshape(1, IMAGE_SIZE, IMAGE_SIZE).astype(np.float32, copy=False)


def preprocess_image(image: ImageInput, where: str = "image") -> npt.NDArray[np.float32]:
    """Validates an image input and preprocesses it locally.

    Args:
        image: Path, encoded bytes, PIL image or uint8 array (H, W) / (H, W, 3).
        where: Name of the argument for error messages.

    Returns:
        float32 array of shape [1, 224, 224].

    Raises:
        InvalidInputError: If the input cannot be used.
    """
    if isinstance(image, Image.Image):
        return preprocess(image)
    if isinstance(image, np.ndarray):
        return preprocess(_from_array(image, where))
    data = _read_encoded(image, where)
    if data is None:
        raise InvalidInputError(
            f"{where}: expected a path, bytes, PIL image or numpy array, "
            f"got {type(image).__name__}"
        )
    return preprocess(_decode(data, where))  # one decode: it is also the validity check


def pad_rows(rows: Sequence[bytes]) -> npt.NDArray[np.uint8]:
    """Stacks byte strings into one zero-padded [B, Lmax] uint8 array.

    Args:
        rows: Encoded images (at least one).

    Returns:
        The padded batch.
    """
    if len(rows) == 1:  # the common single-image call: a view, no copy
        return np.frombuffer(rows[0], dtype=np.uint8).reshape(1, -1)
    width = max(len(r) for r in rows)
    batch = np.zeros((len(rows), width), dtype=np.uint8)
    for i, row in enumerate(rows):
        batch[i, : len(row)] = np.frombuffer(row, dtype=np.uint8)
    return batch
