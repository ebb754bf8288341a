"""210.thumbnailer: fit one ~2 MB JPEG into 200x200; the same image for every size.

The image is made by benchmark-data/generate.py (nothing is downloaded).
"""

import glob
import os

IMAGE = "evening-landscape.jpg"
WIDTH, HEIGHT = 200, 200


def buckets_count():
    return (1, 1)


def generate_input(data_dir, size, benchmarks_bucket, input_paths, output_paths, upload_func, nosql_func):
    for path in sorted(glob.glob(os.path.join(data_dir, "*.jpg"))):
        upload_func(0, os.path.basename(path), path)
    return {
        "object": {"key": IMAGE, "width": WIDTH, "height": HEIGHT},
        "bucket": {"bucket": benchmarks_bucket, "input": input_paths[0], "output": output_paths[0]},
    }


def validate_output(data_dir, input_cfg, output, language, storage=None):
    """The thumbnail stored under the output prefix is a JPEG that fits the box with the
    source's aspect ratio, and the source was read whole."""
    import io

    from PIL import Image

    try:
        result, m = output["result"], output["measurement"]
        obj, bucket = input_cfg["object"], input_cfg["bucket"]
        key = result["key"]
    except (KeyError, TypeError) as exc:
        return False, f"malformed output: {exc!r}"
    if result.get("bucket") != bucket["bucket"] or not key.startswith(bucket["output"] + "/") or not key.endswith(".jpg"):
        return False, f"{key!r} is not a JPEG under {bucket['output']}"
    source = os.path.join(data_dir, obj["key"])
    if m.get("download_size") != os.path.getsize(source):
        return False, "the source image was not downloaded whole"
    if storage is None:
        return False, "the stored thumbnail cannot be checked without storage"
    stored = storage.download_stream(bucket["bucket"], key)
    with Image.open(source) as original, Image.open(io.BytesIO(stored)) as thumb:
        w, h = thumb.size
        ratio_ok = abs(w / h - original.width / original.height) < 0.02
        fits = w == obj["width"] or h == obj["height"]  # one side touches the box
        ok = (thumb.format == "JPEG" and (w, h) == (result["width"], result["height"])
              and w <= obj["width"] and h <= obj["height"] and fits and ratio_ok
              and len(stored) == m["upload_size"])
        return ok, f"{thumb.format} {w}x{h}"
