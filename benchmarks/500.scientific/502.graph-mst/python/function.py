import datetime
import random

import igraph


def _us(begin, end):
    return (end - begin) / datetime.timedelta(microseconds=1)


def handler(event):
    size = event.get("size")
    if "seed" in event:
        random.seed(event["seed"])  # python-igraph draws from Python's `random`

    generate_begin = datetime.datetime.now()
    graph = igraph.Graph.Barabasi(size, 10)
    generate_end = datetime.datetime.now()

    process_begin = datetime.datetime.now()
    tree_edges = graph.spanning_tree(None, False)  # the tree's edge ids
    process_end = datetime.datetime.now()

    # A summary rather than the tree itself, which for n = 100000 would be megabytes of JSON.
    return {
        "result": {"vertices": graph.vcount(), "graph_edges": graph.ecount(), "tree_edges": len(tree_edges)},
        "measurement": {
            "graph_generating_time": _us(generate_begin, generate_end),
            "compute_time": _us(process_begin, process_end),
        },
    }
