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
    order, layers, _parents = graph.bfs(0)
    process_end = datetime.datetime.now()

    # A summary rather than SeBS's three lists of n vertices each.
    return {
        "result": {"visited": len(order), "first": order[0], "levels": len(layers) - 2},
        "measurement": {
            "graph_generating_time": _us(generate_begin, generate_end),
            "compute_time": _us(process_begin, process_end),
        },
    }
