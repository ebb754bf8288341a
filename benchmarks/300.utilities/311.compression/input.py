"""311.compression: download a ~10 MB folder of ~40 text files, zip it, upload
the zip. The same folder for every size.

The folder is made by benchmark-data/generate.py (nothing is downloaded).
"""

import os

FOLDER = "text-corpus"


def buckets_count():
    return (1, 1)


def _folder_size(path):
    return sum(os.path.getsize(os.path.join(root, name))
               for root, _, files in os.walk(path) for name in files)


def generate_input(data_dir, size, benchmarks_bucket, input_paths, output_paths, upload_func, nosql_func):
    # Every file keeps its path relative to data_dir, so the whole folder lands
    # under <input prefix>/text-corpus/.
    for root, _, files in os.walk(os.path.join(data_dir, FOLDER)):
        for name in sorted(files):
            path = os.path.join(root, name)
            upload_func(0, os.path.relpath(path, data_dir).replace(os.sep, "/"), path)
    return {
        "object": {"key": FOLDER},
        "bucket": {"bucket": benchmarks_bucket, "input": input_paths[0], "output": output_paths[0]},
    }


def validate_output(data_dir, input_cfg, output, language, storage=None):
    """The zip was stored under the output prefix, and it is smaller than the
    folder, which was downloaded whole (text compresses ~3.4x)."""
    try:
        result, m = output["result"], output["measurement"]
        bucket = input_cfg["bucket"]
        key = input_cfg["object"]["key"]
        ok = (result["bucket"] == bucket["bucket"]
              and result["key"].startswith(f"{bucket['output']}/{key}.")
              and result["key"].endswith(".zip")
              and 0 < m["upload_size"] < m["download_size"])
        if ok and data_dir:
            ok = m["download_size"] == _folder_size(os.path.join(data_dir, key))
        return ok
    except (KeyError, TypeError, AttributeError, OSError):
        return False
