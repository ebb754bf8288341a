"""030.clock-synchronization: UDP round trips until the minimum round-trip time is stable.

The function sends its request id to the run's UDP echo server until `repetitions` round trips
in a row fail to beat the smallest one seen (at most 1000), sends `stop`, and uploads its
timestamps as `results-<request id>.csv` (`id,client_send,client_rcv`). Paired with the server's
`client-side/server-<request id>.csv`, the fastest round trip bounds the offset between the
function's clock and the client's (SeBS's invocation-overhead experiment). The run hands the
server's address to this file as SEBS_CLIENT_SIDE_URL (`udp://host:port`).
"""

import importlib.util
import os

# `repetitions` is the stopping rule (round trips in a row without a new minimum), as SeBS's
# experiments set it; the same for every size.
SIZES = {"test": 10, "small": 10, "large": 10}
MAX_ROUND_TRIPS = 1000


def _network_benchmark():
    """020's input.py, whose client-side and CSV checks this benchmark shares."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "020.network-benchmark", "input.py")
    spec = importlib.util.spec_from_file_location("sebs_020_input", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def buckets_count():
    return (0, 1)


def generate_input(data_dir, size, benchmarks_bucket, input_paths, output_paths, upload_func, nosql_func):
    host, port = _network_benchmark().client_side()
    return {
        "bucket": {"bucket": benchmarks_bucket, "output": output_paths[0]},
        "server-address": host,
        "server-port": port,
        "repetitions": SIZES[size],
    }


def validate_output(data_dir, input_cfg, output, language, storage=None):
    """`result` names the stored CSV and echoes the income timestamp; the CSV ends with
    `repetitions` round trips none faster than the fastest before them."""
    result = output.get("result") if isinstance(output, dict) else None
    if not isinstance(result, dict) or not isinstance(result.get("bucket-key"), str):
        return False, f"result {result!r} has no bucket-key"
    if not isinstance(result.get("timestamp"), (int, float)):
        return False, "result has no income timestamp"
    if storage is None:
        return False, "the stored CSV cannot be checked without storage"
    key = result["bucket-key"]
    if not key.startswith(input_cfg["bucket"]["output"] + "/results-"):
        return False, f"{key} is not under the output prefix"
    try:
        rows = _network_benchmark().read_rows(storage, input_cfg["bucket"]["bucket"], key)
    except (OSError, ValueError) as exc:
        return False, str(exc)
    n = input_cfg["repetitions"]
    if not n < len(rows) <= MAX_ROUND_TRIPS:
        return False, f"{len(rows)} round trips recorded; expected more than {n}"
    rtts = [recv - send for _, send, recv in rows]
    fastest_before = min(rtts[: len(rtts) - n])
    if len(rows) < MAX_ROUND_TRIPS and min(rtts[-n:]) < fastest_before:
        return False, "the last round trips beat the minimum, yet the function stopped"
    return True, f"{len(rows)} round trips, minimum {fastest_before * 1e6:.0f} us"
