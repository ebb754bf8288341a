import datetime
import json
import os
import shutil
import tempfile

from squiggle import transform

from . import storage

client = storage.storage.get_instance()


def _us(begin, end):
    return (end - begin) / datetime.timedelta(microseconds=1)


def read_sequence(path):
    """The bases of a FASTA file: header lines dropped, lines joined."""
    with open(path) as f:
        return "".join(line.strip() for line in f if not line.startswith(">"))


def handler(event):
    bucket = event["bucket"]["bucket"]
    key = event["object"]["key"]

    work = tempfile.mkdtemp(prefix="dna-")
    try:
        path = os.path.join(work, os.path.basename(key))
        download_begin = datetime.datetime.now()
        client.download(bucket, f"{event['bucket']['input']}/{key}", path)
        download_end = datetime.datetime.now()
        download_size = os.path.getsize(path)
        sequence = read_sequence(path)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    process_begin = datetime.datetime.now()
    x, y = transform(sequence)
    process_end = datetime.datetime.now()

    upload_begin = datetime.datetime.now()
    data = json.dumps([list(x), list(y)]).encode()
    key_name = client.upload_stream(bucket, f"{event['bucket']['output']}/{key}.json", data)
    upload_end = datetime.datetime.now()

    return {
        "result": {"bucket": bucket, "key": key_name},
        "measurement": {
            "download_time": _us(download_begin, download_end),
            "download_size": download_size,
            "compute_time": _us(process_begin, process_end),
            "upload_time": _us(upload_begin, upload_end),
            "upload_size": len(data),
        },
    }
