"""020.network-benchmark: UDP ping-pong between the function and the client side.

The function sends its request id `repetitions + 1` times to the run's UDP echo server (the
first round trip is a warm-up and is not recorded), and uploads a CSV of its send and receive
timestamps, `results-<request id>.csv` (`id,client_send,client_rcv`), under the output prefix.
The server records its own timestamps in the run's `client-side/server-<request id>.csv`
(`id,server_rcv,server_send`), so each round trip splits into its two directions as SeBS's
network-ping-pong experiment does. The run starts the server and hands its address to this file
as SEBS_CLIENT_SIDE_URL (`udp://host:port`).
"""

import csv
import io
import os
from urllib.parse import urlsplit

SIZES = {"test": 10, "small": 100, "large": 1000}
HEADER = ["id", "client_send", "client_rcv"]


def client_side():
    url = urlsplit(os.environ.get("SEBS_CLIENT_SIDE_URL", ""))
    if url.scheme != "udp" or not url.hostname or not url.port:
        raise RuntimeError("020.network-benchmark needs the run's UDP client side: "
                           "SEBS_CLIENT_SIDE_URL must be udp://host:port")
    return url.hostname, url.port


def buckets_count():
    return (0, 1)


def generate_input(data_dir, size, benchmarks_bucket, input_paths, output_paths, upload_func, nosql_func):
    host, port = client_side()
    return {
        "bucket": {"bucket": benchmarks_bucket, "output": output_paths[0]},
        "server-address": host,
        "server-port": port,
        "repetitions": SIZES[size],
    }


def read_rows(storage, bucket, key):
    """The rows of a stored CSV of round trips, checked: SeBS's header, ids counting up from 1,
    every answer received after it was sent and in order."""
    rows = list(csv.reader(io.StringIO(storage.download_stream(bucket, key).decode())))
    if not rows or rows[0] != HEADER:
        raise ValueError(f"{key}: header {rows[:1]} is not {HEADER}")
    parsed = [(int(i), float(send), float(recv)) for i, send, recv in rows[1:]]
    for (i, send, recv), expected_id in zip(parsed, range(1, len(parsed) + 1)):
        if i != expected_id or not recv >= send > 1.6e9:
            raise ValueError(f"{key}: bad round trip {i} ({send}, {recv})")
    for before, after in zip(parsed, parsed[1:]):
        if after[1] < before[2]:
            raise ValueError(f"{key}: round trip {after[0]} was sent before {before[0]} came back")
    return parsed


def validate_output(data_dir, input_cfg, output, language, storage=None):
    """The CSV named by `result` is stored under the output prefix and holds one round trip per
    repetition (none lost on loopback)."""
    key = output.get("result") if isinstance(output, dict) else None
    prefix = input_cfg["bucket"]["output"] + "/results-"
    if not isinstance(key, str) or not key.startswith(prefix) or not key.endswith(".csv"):
        return False, f"result {key!r} is not a results-<request id>.csv key under {prefix}"
    if storage is None:
        return False, "the stored CSV cannot be checked without storage"
    try:
        rows = read_rows(storage, input_cfg["bucket"]["bucket"], key)
    except (OSError, ValueError) as exc:
        return False, str(exc)
    if len(rows) != input_cfg["repetitions"]:
        return False, f"{len(rows)} round trips recorded, {input_cfg['repetitions']} asked for"
    return True, f"{len(rows)} round trips"
