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


def _archive_members(data, name):
    """{member path: bytes} of a zip (Python) or tar.gz (Node.js) archive."""
    import io
    import tarfile
    import zipfile

    if name.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return {info.filename: z.read(info) for info in z.infolist() if not info.is_dir()}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as t:
        return {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}


def validate_output(data_dir, input_cfg, output, language, storage=None):
    """The archive stored under the output prefix (a zip from Python, a tar.gz from Node.js)
    holds every file of the folder, byte for byte, and is smaller than it."""
    try:
        result, m = output["result"], output["measurement"]
        bucket = input_cfg["bucket"]
        key = input_cfg["object"]["key"]
    except (KeyError, TypeError) as exc:
        return False, f"malformed output: {exc!r}"
    # Uploads get a unique name before their last extension: text-corpus.tar.<hex>.gz.
    suffix = ".zip" if language == "python" else ".gz"
    stored_key = result.get("key", "")
    if result.get("bucket") != bucket["bucket"] or not stored_key.startswith(f"{bucket['output']}/{key}.") \
            or not stored_key.endswith(suffix):
        return False, f"{stored_key!r} is not a {suffix} of {key} under {bucket['output']}"
    folder = os.path.join(data_dir, key)
    if not 0 < m["upload_size"] < m["download_size"] == _folder_size(folder):
        return False, f"sizes: archive {m['upload_size']}, downloaded {m['download_size']}"
    if storage is None:
        return False, "the stored archive cannot be checked without storage"
    members = _archive_members(storage.download_stream(bucket["bucket"], stored_key), stored_key)
    expected = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                expected[os.path.relpath(path, folder).replace(os.sep, "/")] = f.read()
    # The members carry the input prefix (the whole key became the download path, as in SeBS).
    prefix = f"{bucket['input']}/{key}/"
    got = {name[len(prefix):]: data for name, data in members.items() if name.startswith(prefix)}
    if len(got) != len(members) or got != expected:
        return False, f"the archive's {len(members)} members are not the folder's {len(expected)} files"
    return True, f"{len(members)} files, {m['upload_size']} bytes"
