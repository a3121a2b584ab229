"""Triton python-backend model: decode encoded images into classifier pixels.

Generated from specs/assets/image_diagnosis_preprocess.py.j2; do not edit by hand.

Input: one uint8 tensor [B, L] per request, each row the bytes of a PNG/JPEG file
(zero-padded at the end to the longest row of the batch). Output: float32
[B, 1, HEIGHT, WIDTH], pixels scaled to [0, 1] then normalised with MEAN and STD,
identical to ``reference.data.preprocess``. A row that cannot be decoded, or whose
header declares more than MAX_IMAGE_PIXELS pixels, fails only its own request (an
INVALID_ARG error response naming the limit), never the whole batch of requests; an
oversized image is refused from its header, before any pixel is decoded.
"""

import json
import warnings
from io import BytesIO

import numpy as np
import triton_python_backend_utils as pb_utils
from PIL import Image

INPUT_NAME = "IMAGE"
OUTPUT_NAME = "pixels"
WIDTH = 224
HEIGHT = 224
MEAN = 0.5
STD = 0.5
# Largest width x height accepted (the spec may set max_image_pixels; 4096 x 4096 if not).
MAX_IMAGE_PIXELS = 16777216


class ImageTooLargeError(ValueError):
    """The image header declares more pixels than MAX_IMAGE_PIXELS."""


def preprocess_image(data):
    """Decodes PNG/JPEG bytes (trailing zero bytes allowed) to float32 [1, HEIGHT, WIDTH]."""
    try:
        with warnings.catch_warnings():
            # The size is checked below against MAX_IMAGE_PIXELS, before decoding.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(
            f"{exc}; the limit is MAX_IMAGE_PIXELS = {MAX_IMAGE_PIXELS} pixels"
        ) from exc
    with opened:
        width, height = opened.size
        if width * height > MAX_IMAGE_PIXELS:
            raise ImageTooLargeError(
                f"image is {width}x{height} = {width * height} pixels, more than the limit "
                f"of MAX_IMAGE_PIXELS = {MAX_IMAGE_PIXELS} pixels; send a smaller image"
            )
        gray = opened.convert("L")
    resized = gray.resize((WIDTH, HEIGHT), Image.Resampling.BILINEAR)
    pixels = np.asarray(resized, dtype=np.float32) / np.float32(255.0)
    pixels = (pixels - np.float32(MEAN)) / np.float32(STD)
    return pixels.reshape(1, HEIGHT, WIDTH)


def preprocess_rows(rows):
    """Preprocesses a uint8 [B, L] batch; raises ValueError naming the failing row."""
    rows = np.asarray(rows)
    if rows.dtype != np.uint8:
        raise ValueError(f"input {INPUT_NAME!r} must be UINT8, got {rows.dtype}")
    if rows.ndim == 1:
        rows = rows.reshape(1, -1)
    if rows.ndim != 2:
        raise ValueError(f"input {INPUT_NAME!r} must have shape [B, L], got {list(rows.shape)}")
    out = np.empty((rows.shape[0], 1, HEIGHT, WIDTH), dtype=np.float32)
    for index, row in enumerate(rows):
        try:
            out[index] = preprocess_image(row.tobytes())
        except ImageTooLargeError as exc:
            raise ImageTooLargeError(f"row {index} of input {INPUT_NAME!r}: {exc}") from exc
        except Exception as exc:
            raise ValueError(
                f"row {index} of input {INPUT_NAME!r} is not a decodable PNG/JPEG image: {exc}"
            ) from exc
    return out


def _invalid_argument(message):
    """A TritonError with code INVALID_ARG (HTTP 400) when this backend supports codes."""
    code = getattr(pb_utils.TritonError, "INVALID_ARG", None)
    if code is None:
        return pb_utils.TritonError(message)
    return pb_utils.TritonError(message, code)


class TritonPythonModel:
    """Preprocessing step of the image_diagnosis ensemble."""

    def initialize(self, args):
        """Checks that the model configuration declares the expected tensors."""
        self.model_name = args.get("model_name", "image_diagnosis_preprocess")
        config = json.loads(args["model_config"])
        inputs = {tensor["name"]: tensor for tensor in config.get("input", [])}
        outputs = {tensor["name"]: tensor for tensor in config.get("output", [])}
        if INPUT_NAME not in inputs:
            raise ValueError(f"model {self.model_name!r}: config has no input {INPUT_NAME!r}")
        if OUTPUT_NAME not in outputs:
            raise ValueError(f"model {self.model_name!r}: config has no output {OUTPUT_NAME!r}")
        if outputs[OUTPUT_NAME].get("data_type") != "TYPE_FP32":
            raise ValueError(
                f"model {self.model_name!r}: output {OUTPUT_NAME!r} must be TYPE_FP32"
            )

    def execute(self, requests):
        """Returns one response per request; undecodable images give an error response."""
        responses = []
        for request in requests:
            try:
                tensor = pb_utils.get_input_tensor_by_name(request, INPUT_NAME)
                if tensor is None:
                    raise ValueError(f"missing input {INPUT_NAME!r}")
                pixels = preprocess_rows(tensor.as_numpy())
                output = pb_utils.Tensor(OUTPUT_NAME, pixels)
                responses.append(pb_utils.InferenceResponse(output_tensors=[output]))
            except ValueError as exc:
                error = _invalid_argument(f"model {self.model_name!r}: {exc}")
                responses.append(pb_utils.InferenceResponse(output_tensors=[], error=error))
            except Exception as exc:
                error = pb_utils.TritonError(f"model {self.model_name!r}: internal error: {exc}")
                responses.append(pb_utils.InferenceResponse(output_tensors=[], error=error))
        return responses

    def finalize(self):
        """Nothing to release."""
