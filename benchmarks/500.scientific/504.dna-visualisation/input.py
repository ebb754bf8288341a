"""504.dna-visualisation: squiggle's 2-D walk of a ~4 MB FASTA sequence, stored as JSON.

The sequence is made by benchmark-data/generate.py (seeded), the same for every size.
"""

import glob
import json
import os


def buckets_count():
    return (1, 1)


def generate_input(data_dir, size, benchmarks_bucket, input_paths, output_paths, upload_func, nosql_func):
    files = sorted(glob.glob(os.path.join(data_dir, "*.fasta")))
    if not files:
        raise RuntimeError(f"no FASTA file in {data_dir}: run benchmark-data/generate.py 504.dna-visualisation")
    name = os.path.basename(files[0])
    upload_func(0, name, files[0])
    return {
        "object": {"key": name},
        "bucket": {"bucket": benchmarks_bucket, "input": input_paths[0], "output": output_paths[0]},
    }


def _bases(path):
    with open(path) as f:
        return sum(len(line.strip()) for line in f if not line.startswith(">"))


def validate_output(data_dir, input_cfg, output, language, storage=None):
    """The stored JSON is squiggle's walk: two coordinate lists of one point more than twice the
    sequence's bases (squiggle draws each base as two half steps), x ending at the base count."""
    try:
        key = output["result"]["key"]
    except (KeyError, TypeError) as exc:
        return False, f"malformed output: {exc!r}"
    if not key.startswith(input_cfg["bucket"]["output"] + "/"):
        return False, f"{key} is not under the output prefix"
    if storage is None:
        return False, "the stored walk cannot be checked without storage"
    walk = json.loads(storage.download_stream(input_cfg["bucket"]["bucket"], key))
    bases = _bases(os.path.join(data_dir, input_cfg["object"]["key"]))
    if not (isinstance(walk, list) and len(walk) == 2):
        return False, "the stored JSON is not an (x, y) pair"
    x, y = walk
    ok = len(x) == len(y) == 2 * bases + 1 and x[-1] == bases
    return ok, f"{len(x)} points for {bases} bases"
