import csv
import os
import socket
import tempfile
from datetime import datetime

from . import storage

client = storage.storage.get_instance()

MAX_ROUND_TRIPS = 1000
MAX_CONSECUTIVE_LOSSES = 7


def handler(event):
    request_id = event["request-id"]
    address = (event["server-address"], event["server-port"])
    repetitions = event["repetitions"]
    bucket = event["bucket"]["bucket"]
    output_prefix = event["bucket"]["output"]

    message = request_id.encode()
    times = []
    losses = 0
    not_smaller = 0
    fastest = 0.0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(4)
        sock.bind(("", 0))
        i = 0
        while i < MAX_ROUND_TRIPS:
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
            losses = 0
            # Round trip 0 warms up the path and is not recorded.
            if i > 0:
                times.append([i, send_begin, recv_end])
                rtt = recv_end - send_begin
                if fastest > 0 and rtt >= fastest:
                    not_smaller += 1
                    if not_smaller == repetitions:
                        sock.sendto(b"stop", address)
                        break
                else:
                    fastest = rtt
                    not_smaller = 0
            i += 1

    fd, path = tempfile.mkstemp(suffix=".csv")
    try:
        with os.fdopen(fd, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["id", "client_send", "client_rcv"])
            writer.writerows(times)
        key = client.upload(bucket, f"{output_prefix}/results-{request_id}.csv", path)
    finally:
        os.unlink(path)
    return {"result": {"bucket-key": key, "timestamp": event["income-timestamp"]}}
