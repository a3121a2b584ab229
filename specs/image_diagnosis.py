"""Image diagnosis: preprocessing (python), a CNN classifier (ONNX) and their ensemble.

Clients send encoded PNG/JPEG bytes to ``image_diagnosis`` and get class
probabilities back; ``image_diagnosis_classifier`` can also be called
directly with preprocessed pixels. The configuration is for a GPU host; the
embedded CPU server adapts it (``python -m generator serve``).
"""

from pathlib import Path

from generator.presets import (
    cpu_instances,
    ensemble_model,
    gpu_instances,
    onnx_model,
    python_model,
    step,
)
from generator.spec import (
    Accelerator,
    DataType,
    DynamicBatching,
    ExecutionAccelerators,
    Input,
    Labels,
    Optimization,
    Output,
    Template,
    Warmup,
    WarmupInput,
)

ASSETS = Path(__file__).resolve().parent / "assets"
CLASSES = ("normal", "nodule", "effusion")
IMAGE_SIZE = 224
MAX_BATCH_SIZE = 32
WARMUP_IMAGE = ASSETS / "warmup_scan.png"  # written by `python -m reference train`

# No queue policy on the classifier: in Triton 2.51 it stalls the dynamic batcher for
# 500 ms (docs/stall.md). Load is shed at the balancer (serving.lb) and by client deadlines.

preprocess = python_model(
    "image_diagnosis_preprocess",
    source=Template(
        ASSETS / "image_diagnosis_preprocess.py.j2",
        {
            "width": IMAGE_SIZE,
            "height": IMAGE_SIZE,
            "mean": 0.5,
            "std": 0.5,
            "input_name": "IMAGE",
            "output_name": "pixels",
        },
    ),
    max_batch_size=MAX_BATCH_SIZE,
    inputs=[Input("IMAGE", DataType.UINT8, [-1])],
    outputs=[Output("pixels", DataType.FP32, [1, IMAGE_SIZE, IMAGE_SIZE])],
    instance_groups=[cpu_instances(count=2)],
    # A real PNG: zeros would not decode, and a failed warm-up fails the load.
    model_warmup=[
        Warmup(
            name="scan_png",
            batch_size=1,
            inputs={
                "IMAGE": WarmupInput(
                    data_type=DataType.UINT8,
                    dims=(WARMUP_IMAGE.stat().st_size,),
                    input_data_file="scan.png",
                )
            },
            count=1,
        )
    ],
    files={"warmup/scan.png": WARMUP_IMAGE},
)

classifier = onnx_model(
    "image_diagnosis_classifier",
    model_file=ASSETS / "image_diagnosis_classifier.onnx",
    max_batch_size=MAX_BATCH_SIZE,
    outputs=[Output("probabilities", DataType.FP32, [len(CLASSES)], label_filename="labels.txt")],
    dynamic_batching=DynamicBatching(
        preferred_batch_size=[8, 16],
        max_queue_delay_microseconds=2000,
    ),
    instance_groups=[gpu_instances(count=2)],
    model_warmup=[
        Warmup(
            name=f"zeros_batch_{batch}",
            batch_size=batch,
            inputs={
                "pixels": WarmupInput(
                    data_type=DataType.FP32, dims=(1, IMAGE_SIZE, IMAGE_SIZE), zero_data=True
                )
            },
            count=1,
        )
        for batch in (1, 8)
    ],
    optimization=Optimization(
        execution_accelerators=ExecutionAccelerators(
            gpu_execution_accelerator=[
                Accelerator(
                    "tensorrt",
                    {
                        "precision_mode": "FP16",
                        "max_workspace_size_bytes": str(1 << 30),
                    },
                )
            ],
        )
    ),
    files={"labels.txt": Labels(CLASSES)},
)

image_diagnosis = ensemble_model(
    "image_diagnosis",
    max_batch_size=MAX_BATCH_SIZE,
    inputs=[Input("IMAGE", DataType.UINT8, [-1])],
    outputs=[Output("PROBABILITIES", DataType.FP32, [len(CLASSES)], label_filename="labels.txt")],
    steps=[
        step("image_diagnosis_preprocess", inputs={"IMAGE": "IMAGE"}, outputs={"pixels": "pixels"}),
        step(
            "image_diagnosis_classifier",
            inputs={"pixels": "pixels"},
            outputs={"probabilities": "PROBABILITIES"},
        ),
    ],
    files={"labels.txt": Labels(CLASSES)},
)

MODELS = [preprocess, classifier, image_diagnosis]
