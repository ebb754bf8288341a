"""040.server-reply: the function opens a TCP connection to the client side and returns what
the server writes (SeBS's eviction-model experiment uses it to tell live containers apart).

The run starts a TCP server that answers every connection with `accepted` and hands its address
to this file as SEBS_CLIENT_SIDE_URL (`tcp://host:port`); the event carries it in SeBS's fields
`ip-address` and `port`.
"""

import os
from urllib.parse import urlsplit

REPLY = "accepted"


def buckets_count():
    return (0, 0)


def generate_input(data_dir, size, benchmarks_bucket, input_paths, output_paths, upload_func, nosql_func):
    url = urlsplit(os.environ.get("SEBS_CLIENT_SIDE_URL", ""))
    if url.scheme != "tcp" or not url.hostname or not url.port:
        raise RuntimeError("040.server-reply needs the run's TCP client side: "
                           "SEBS_CLIENT_SIDE_URL must be tcp://host:port")
    return {"ip-address": url.hostname, "port": url.port}


def validate_output(data_dir, input_cfg, output, language, storage=None):
    """The function returns exactly what the server wrote."""
    result = output.get("result") if isinstance(output, dict) else None
    if result != REPLY:
        return False, f"the function returned {result!r}, the server wrote {REPLY!r}"
    return True
