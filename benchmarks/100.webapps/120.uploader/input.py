"""120.uploader: the function downloads a file from a URL and uploads it to storage.

SeBS fetches three files from the web; here benchmark-data/generate.py makes three files of the
same sizes and the run serves them over HTTP (SEBS_CLIENT_SIDE_URL, `http://host:port`, or the
base URL given with --data-url).
"""

import hashlib
import os

# Size -> the file fetched: stand-ins of SeBS's ~230 kB image, ~6.7 MB archive and ~98 MB model.
FILES = {"test": "photo-800px.jpg", "small": "source-archive.zip", "large": "model-weights.bin"}


def buckets_count():
    return (0, 1)


def generate_input(data_dir, size, benchmarks_bucket, input_paths, output_paths, upload_func, nosql_func):
    base = os.environ.get("SEBS_CLIENT_SIDE_URL", "")
    if not base.startswith(("http://", "https://")):
        raise RuntimeError("120.uploader needs a file server: SEBS_CLIENT_SIDE_URL must be an http(s) URL")
    name = FILES[size]
    if not os.path.isfile(os.path.join(data_dir, name)):
        raise RuntimeError(f"{name} is missing from {data_dir}: run benchmark-data/generate.py 120.uploader")
    return {
        "object": {"url": f"{base.rstrip('/')}/{name}"},
        "bucket": {"bucket": benchmarks_bucket, "output": output_paths[0]},
    }


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def validate_output(data_dir, input_cfg, output, language, storage=None):
    """The stored object is the served file, byte for byte."""
    try:
        result, m = output["result"], output["measurement"]
        name = os.path.basename(input_cfg["object"]["url"])
        bucket = input_cfg["bucket"]
        with open(os.path.join(data_dir, name), "rb") as f:
            original = f.read()
    except (KeyError, TypeError, OSError) as exc:
        return False, f"malformed output or missing data: {exc!r}"
    key = result.get("key", "")
    stem, ext = os.path.splitext(name)
    if result.get("bucket") != bucket["bucket"] or not key.startswith(f"{bucket['output']}/{stem}.") or not key.endswith(ext):
        return False, f"{key!r} is not an upload of {name} under {bucket['output']}"
    if m.get("upload_size") != len(original):
        return False, f"upload_size {m.get('upload_size')} is not the file's {len(original)} bytes"
    if storage is None:
        return False, "the stored object cannot be checked without storage"
    stored = storage.download_stream(bucket["bucket"], key)
    if _sha256(stored) != _sha256(original):
        return False, f"{key} ({len(stored)} bytes) differs from {name}"
    return True
