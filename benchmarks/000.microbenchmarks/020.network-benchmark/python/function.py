import csv
import os
import socket
import tempfile
from datetime import datetime

from . import storage

client = storage.storage.get_instance()

# Give up after this many lost datagrams in a row: the server is not reachable.
MAX_CONSECUTIVE_LOSSES = 5


def handler(event):
    request_id = event["request-id"]
    address = (event["server-address"], event["server-port"])
    repetitions = event["repetitions"]
    bucket = event["bucket"]["bucket"]
    output_prefix = event["bucket"]["output"]

    message = request_id.encode()
    times = []
    losses = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        sock.bind(("", 0))
        i = 0
        # Round trip 0 warms up the path and is not recorded.
        while i < repetitions + 1:
            try:
                send_begin = datetime.now().timestamp()
                sock.sendto(message, address)
                sock.recvfrom(1024)
                recv_end = datetime.now().timestamp()
            except socket.timeout:
                i += 1
                losses += 1
                if losses == MAX_CONSECUTIVE_LOSSES:
                    raise RuntimeError(f"no answer from {address[0]}:{address[1]} {losses} times in a row")
                continue
            if i > 0:
                times.append([i, send_begin, recv_end])
            i += 1
            losses = 0
            sock.settimeout(2)

    fd, path = tempfile.mkstemp(suffix=".csv")
    try:
        with os.fdopen(fd, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["id", "client_send", "client_rcv"])
            writer.writerows(times)
        key = client.upload(bucket, f"{output_prefix}/results-{request_id}.csv", path)
    finally:
        os.unlink(path)
    return {"result": key}
