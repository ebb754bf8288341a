"""503.graph-bfs: breadth-first search from vertex 0 of a Barabási-Albert graph (m = 10)."""

SIZES = {"test": 10, "small": 10000, "large": 100000}
SEED = 42


def buckets_count():
    return (0, 0)


def generate_input(data_dir, size, benchmarks_bucket, input_paths, output_paths, upload_func, nosql_func):
    return {"size": SIZES[size], "seed": SEED}


def validate_output(data_dir, input_cfg, output, language, storage=None):
    """The search starts at 0 and reaches every vertex (the graph is connected) in few levels:
    a preferential-attachment graph's diameter grows like log n / log log n."""
    try:
        result, n = output["result"], input_cfg["size"]
        ok = (result["visited"] == n and result["first"] == 0
              and 1 <= result["levels"] <= max(2, n.bit_length()))
        return ok, f"{result['visited']} visited in {result['levels']} levels"
    except (KeyError, TypeError) as exc:
        return False, f"malformed output: {exc!r}"
