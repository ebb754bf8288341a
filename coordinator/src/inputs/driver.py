"""Runs a benchmark's input.py for the Rust tool and writes what it did as JSON.

Embedded into the sebs binary and written to a temporary file before it runs, so it is
self-contained and never looks at its own location.

Generate mode:
  python3 driver.py --input-py PATH --benchmark NAME --data-dir DIR --size SIZE --bucket BUCKET --out FILE
Validate mode:
  python3 driver.py --validate --input-py PATH --data-dir DIR --input-json FILE --output-json FILE
                    --language L --out FILE [--many] [--storage-dir DIR --storage-bucket B]
  With --many, --output-json holds a list of outputs and FILE gets {"results": [verdict, ...]}.
  With --storage-dir, validate_output's `storage` argument reads the objects the run downloaded
  there (object KEY of bucket B is DIR/KEY); without it, `storage` is None.

Nothing is uploaded here: uploads and NoSQL items are recorded and the Rust side performs them.
Any failure prints one line naming input.py and the failing hook, then the traceback, and exits 2.
"""

import argparse
import importlib.util
import inspect
import json
import os
import sys
import traceback

SIZES = ("test", "small", "large")
SIGNATURES = (
    "generate_input(data_dir, size, benchmarks_bucket, input_prefixes, output_prefixes, upload_func, nosql_func)"
    " or the older generate_input(data_dir, size, input_buckets, output_buckets, upload_func)"
)


class HookFailure(Exception):
    """A hook of input.py failed; `cause` (if any) carries the traceback to show."""

    def __init__(self, hook, message, cause=None):
        super().__init__(message)
        self.hook = hook
        self.cause = cause


def call_hook(module, hook, *args):
    try:
        return getattr(module, hook)(*args)
    except (Exception, SystemExit) as exc:
        raise HookFailure(hook, f"{type(exc).__name__}: {exc}", exc) from exc


def load_input_py(path):
    if not os.path.isfile(path):
        raise HookFailure("import", "no such file")
    # input.py may import modules that sit next to it.
    sys.path.insert(0, os.path.dirname(path))
    try:
        spec = importlib.util.spec_from_file_location("sebs_benchmark_input", path)
        if spec is None:
            raise ImportError(f"cannot load {path} as a Python module")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    except (Exception, SystemExit) as exc:
        raise HookFailure("import", f"{type(exc).__name__}: {exc}", exc) from exc


def check_json(hook, what, value):
    # allow_nan=False: NaN/Infinity are not JSON, and the Rust side could not read them back.
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise HookFailure(hook, f"{what} is not JSON-serialisable: {exc}") from exc


class Recorder:
    """The upload_func and nosql_func handed to generate_input."""

    def __init__(self, prefixes):
        self.prefixes = prefixes
        self.uploads = []
        self.nosql_items = []

    def upload(self, prefix_index, key, local_path):
        if not isinstance(prefix_index, int) or not 0 <= prefix_index < len(self.prefixes):
            raise ValueError(
                f"upload_func: prefix index {prefix_index!r} is out of range "
                f"(buckets_count() declares {len(self.prefixes)} input prefixes)"
            )
        path = os.path.abspath(local_path)
        if not os.path.isfile(path):
            raise ValueError(f"upload_func: file {path} (key {key!r}) does not exist")
        prefix = self.prefixes[prefix_index]
        self.uploads.append(
            {"prefix_index": prefix_index, "prefix": prefix, "key": key, "object_key": f"{prefix}/{key}", "path": path}
        )

    def nosql(self, *args, **kwargs):
        # Keyword arguments, if any, are kept as one trailing object.
        item = list(args) + ([kwargs] if kwargs else [])
        try:
            json.dumps(item, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"nosql_func: arguments are not JSON-serialisable: {exc}") from exc
        self.nosql_items.append(item)


def buckets_count(module):
    if not hasattr(module, "buckets_count"):
        raise HookFailure("buckets_count", "input.py has no buckets_count()")
    counts = call_hook(module, "buckets_count")
    if (
        not isinstance(counts, (tuple, list))
        or len(counts) != 2
        or not all(isinstance(n, int) and n >= 0 for n in counts)
    ):
        raise HookFailure("buckets_count", f"must return two non-negative integers, got {counts!r}")
    return list(counts)


def generate(args, module):
    n_in, n_out = buckets_count(module)
    inputs = [f"{args.benchmark}-{i}-input" for i in range(n_in)]
    outputs = [f"{args.benchmark}-{i}-output" for i in range(n_out)]
    recorder = Recorder(inputs)

    tables = None
    if hasattr(module, "allocate_nosql"):  # tables must exist before items are put into them
        tables = call_hook(module, "allocate_nosql")
        check_json("allocate_nosql", "its return value", tables)

    if not hasattr(module, "generate_input"):
        raise HookFailure("generate_input", "input.py has no generate_input()")
    try:
        params = len(inspect.signature(module.generate_input).parameters)
    except (TypeError, ValueError):
        params = None
    data_dir = os.path.abspath(args.data_dir)
    if params == 7:
        hook_args = (data_dir, args.size, args.bucket, inputs, outputs, recorder.upload, recorder.nosql)
    elif params == 5:
        hook_args = (data_dir, args.size, inputs, outputs, recorder.upload)
    else:
        raise HookFailure("generate_input", f"takes {params} parameters; accepted signatures: {SIGNATURES}")
    event = call_hook(module, "generate_input", *hook_args)

    if not isinstance(event, dict):
        raise HookFailure("generate_input", f"must return a dict (the event), got {type(event).__name__}")
    check_json("generate_input", "the returned event", event)
    return {
        "buckets_count": [n_in, n_out],
        "input_prefixes": inputs,
        "output_prefixes": outputs,
        "uploads": recorder.uploads,
        "nosql_tables": tables,
        "nosql_items": recorder.nosql_items,
        "event": event,
    }


class StoredOutputs:
    """The `storage` handed to validate_output: read access to the objects the function wrote,
    as the run downloaded them (object KEY of the benchmarks bucket is the file DIR/KEY). It has
    the reading half of the wrappers' storage API."""

    def __init__(self, root, bucket):
        self.root = os.path.abspath(root)
        self.bucket = bucket

    def _path(self, bucket, key):
        if bucket != self.bucket:
            raise FileNotFoundError(f"bucket {bucket!r} was not downloaded (only {self.bucket!r})")
        parts = key.split("/")
        if any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"invalid object key {key!r}")
        path = os.path.join(self.root, *parts)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"object {key!r} not found in bucket {bucket!r}")
        return path

    def download(self, bucket, key, filepath):
        with open(self._path(bucket, key), "rb") as src, open(filepath, "wb") as dst:
            dst.write(src.read())

    def download_stream(self, bucket, key):
        with open(self._path(bucket, key), "rb") as f:
            return f.read()

    def list_directory(self, bucket, prefix):
        if bucket != self.bucket:
            return []
        keys = []
        for directory, _, files in os.walk(self.root):
            for name in files:
                key = os.path.relpath(os.path.join(directory, name), self.root).replace(os.sep, "/")
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)


def read_json(path, what):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as exc:
        raise HookFailure("validate_output", f"cannot read {what} {path}: {exc}") from exc


def validate(args, module):
    if not hasattr(module, "validate_output"):
        return {"valid": None, "message": "input.py has no validate_output"}
    input_cfg = read_json(args.input_json, "--input-json")
    output = read_json(args.output_json, "--output-json")
    if not args.many:
        return judge(module, args, input_cfg, output)
    if not isinstance(output, list):
        raise HookFailure("validate_output", "--many needs a JSON list in --output-json")
    results = []
    for one in output:
        try:
            results.append(judge(module, args, input_cfg, one))
        except HookFailure as failure:  # one bad output must not hide the verdicts on the others
            results.append({"valid": False, "message": f"validate_output failed: {failure}"})
    return {"results": results}


def judge(module, args, input_cfg, output):
    storage = StoredOutputs(args.storage_dir, args.storage_bucket) if args.storage_dir else None
    data_dir = os.path.abspath(args.data_dir)
    verdict = call_hook(module, "validate_output", data_dir, input_cfg, output, args.language, storage)
    # A bare bool, or (bool, message).
    if isinstance(verdict, bool):
        return {"valid": verdict, "message": ""}
    if isinstance(verdict, (tuple, list)) and len(verdict) == 2 and isinstance(verdict[0], bool):
        return {"valid": verdict[0], "message": str(verdict[1])}
    raise HookFailure("validate_output", f"must return a bool or (bool, message), got {verdict!r}")


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Run a SeBS benchmark's input.py and record the result as JSON.")
    parser.add_argument("--input-py", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--benchmark")
    parser.add_argument("--size", choices=SIZES)
    parser.add_argument("--bucket")
    parser.add_argument("--validate", action="store_true")
    parser.add_argument("--many", action="store_true", help="--output-json holds a list of outputs")
    parser.add_argument("--input-json")
    parser.add_argument("--output-json")
    parser.add_argument("--language")
    parser.add_argument("--storage-dir", help="the function's output objects, downloaded")
    parser.add_argument("--storage-bucket", help="the bucket --storage-dir holds")
    args = parser.parse_args(argv)  # exits with status 2 on bad arguments
    needed = ("input_json", "output_json", "language") if args.validate else ("benchmark", "size", "bucket")
    missing = ["--" + name.replace("_", "-") for name in needed if getattr(args, name) is None]
    if missing:
        parser.error(f"missing {', '.join(missing)}" + (" with --validate" if args.validate else ""))
    return args


def main(argv=None):
    args = parse_args(argv)
    input_py = os.path.abspath(args.input_py)
    try:
        module = load_input_py(input_py)
        result = validate(args, module) if args.validate else generate(args, module)
    except HookFailure as failure:
        print(f"error: {input_py}: {failure.hook} failed: {failure}", file=sys.stderr)
        if failure.cause is not None:
            traceback.print_exception(failure.cause, file=sys.stderr)
        return 2
    try:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
    except OSError as exc:
        print(f"error: {input_py}: cannot write --out {args.out}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
