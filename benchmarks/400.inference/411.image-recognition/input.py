"""411.image-recognition: ResNet-50 inference on one image with PyTorch on the CPU.

The model's weights are seeded random numbers (benchmark-data/resnet.py), not ImageNet-trained:
the inference does the same work, so its timings are real, but the predicted labels mean
nothing. The same for every size, as in SeBS.
"""

import os

MODEL = "resnet50-seeded.pth"
CLASSES = 1000
# With the seeded weights, image 1 scores class 258 first with torch 2.15 (logit 32.35, the
# runner-up 31.66: a margin far above float rounding, so other CPUs agree).
EXPECTED = 258


def buckets_count():
    return (2, 0)


def generate_input(data_dir, size, benchmarks_bucket, input_paths, output_paths, upload_func, nosql_func):
    upload_func(0, MODEL, os.path.join(data_dir, "model", MODEL))
    images = os.path.join(data_dir, "fake-resnet")
    with open(os.path.join(images, "val_map.txt")) as f:
        names = [line.split()[0] for line in f if line.strip()]
    for name in names:
        upload_func(1, name, os.path.join(images, name))
    return {
        "object": {"model": MODEL, "input": names[0]},
        "bucket": {"bucket": benchmarks_bucket, "model": input_paths[0], "input": input_paths[1]},
    }


def validate_output(data_dir, input_cfg, output, language, storage=None):
    """A class index in range with its label, the whole model downloaded on a cold start."""
    try:
        result, m = output["result"], output["measurement"]
        idx, label = result["idx"], result["class"]
    except (KeyError, TypeError) as exc:
        return False, f"malformed output: {exc!r}"
    if not (isinstance(idx, int) and 0 <= idx < CLASSES and label == f"class-{idx:03d}"):
        return False, f"class {idx!r} labelled {label!r}"
    model_size = os.path.getsize(os.path.join(data_dir, "model", input_cfg["object"]["model"]))
    if m.get("model_download_size") not in (0, model_size):
        return False, f"model_download_size {m.get('model_download_size')} is neither 0 (warm) nor {model_size}"
    if not m.get("compute_time", 0) > 0:
        return False, "no compute_time"
    if idx != EXPECTED:
        return False, f"class {idx}, expected {EXPECTED} for the seeded model"
    return True
