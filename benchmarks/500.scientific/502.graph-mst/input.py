"""502.graph-mst: a minimum spanning tree of a Barabási-Albert graph (m = 10) with n vertices."""

SIZES = {"test": 10, "small": 10000, "large": 100000}
SEED = 42
M = 10


def buckets_count():
    return (0, 0)


def generate_input(data_dir, size, benchmarks_bucket, input_paths, output_paths, upload_func, nosql_func):
    return {"size": SIZES[size], "seed": SEED}


def barabasi_edges(n, m=M):
    """Edges of igraph's Barabási graph without multi-edges: vertex k links to min(k, m) others."""
    return sum(min(k, m) for k in range(n))


def validate_output(data_dir, input_cfg, output, language, storage=None):
    """The graph has the Barabási model's edge count, and its spanning tree n - 1 edges (the
    graph is connected)."""
    try:
        result, n = output["result"], input_cfg["size"]
        ok = (result["vertices"] == n and result["graph_edges"] == barabasi_edges(n)
              and result["tree_edges"] == n - 1)
        return ok, f"{result['graph_edges']} edges, tree of {result['tree_edges']}"
    except (KeyError, TypeError) as exc:
        return False, f"malformed output: {exc!r}"
