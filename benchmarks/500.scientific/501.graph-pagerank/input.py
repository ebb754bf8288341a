"""501.graph-pagerank: PageRank of a Barabási-Albert graph (m = 10) with n vertices."""

import math

SIZES = {"test": 10, "small": 10000, "large": 100000}
SEED = 42

# PageRank of vertex 0 for seed 42 with python-igraph (Python's `random` seeds
# igraph's generator). Same values as SeBS's; a different igraph may drift a
# little, hence the tolerance.
EXPECTED_FIRST = {10: 0.1, 10000: 0.0012122480931530588, 100000: 0.00033384438552589005}


def buckets_count():
    return (0, 0)


def generate_input(data_dir, size, benchmarks_bucket, input_paths, output_paths, upload_func, nosql_func):
    return {"size": SIZES[size], "seed": SEED}


def validate_output(data_dir, input_cfg, output, language, storage=None):
    """One rank per vertex, summing to 1; for seed 42 vertex 0's rank is known."""
    try:
        result = output["result"]
        n = input_cfg["size"]
        first = float(result["first_rank"])
        ok = (result["vertices"] == n
              and math.isclose(result["rank_sum"], 1.0, abs_tol=1e-6)
              and 0.0 < first <= 1.0)
        if ok and language == "python" and input_cfg.get("seed") == SEED and n in EXPECTED_FIRST:
            ok = math.isclose(first, EXPECTED_FIRST[n], rel_tol=1e-6)
        return ok
    except (KeyError, TypeError, ValueError):
        return False
