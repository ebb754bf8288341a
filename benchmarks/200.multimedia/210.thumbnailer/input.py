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
    """The thumbnail was stored under the output prefix, fits the box, and is
    smaller than the source, which was read whole."""
    try:
        result, m = output["result"], output["measurement"]
        obj, bucket = input_cfg["object"], input_cfg["bucket"]
        ok = (result["bucket"] == bucket["bucket"]
              and result["key"].startswith(bucket["output"] + "/")
              and result["key"].endswith(".jpg")
              and 0 < result["width"] <= obj["width"] and 0 < result["height"] <= obj["height"]
              and 0 < m["upload_size"] < m["download_size"])
        if ok and data_dir:
            ok = m["download_size"] == os.path.getsize(os.path.join(data_dir, obj["key"]))
        return ok
    except (KeyError, TypeError, AttributeError, OSError):
        return False
