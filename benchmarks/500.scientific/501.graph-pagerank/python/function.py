import datetime
import random

import igraph


def _us(begin, end):
    return (end - begin) / datetime.timedelta(microseconds=1)


def handler(event):
    size = event.get("size")
    if "seed" in event:
        # python-igraph draws from Python's `random` module by default, so
        # this makes the graph reproducible.
        random.seed(event["seed"])

    generate_begin = datetime.datetime.now()
    graph = igraph.Graph.Barabasi(size, 10)
    generate_end = datetime.datetime.now()

    process_begin = datetime.datetime.now()
    ranks = graph.pagerank()
    process_end = datetime.datetime.now()

    # A summary, not the whole list: n = 100000 ranks would make every reply
    # ~2 MB. `first_rank` is the value SeBS returns as its result.
    return {
        "result": {"first_rank": ranks[0], "vertices": len(ranks), "rank_sum": sum(ranks)},
        "measurement": {
            "graph_generating_time": _us(generate_begin, generate_end),
            "compute_time": _us(process_begin, process_end),
        },
    }
