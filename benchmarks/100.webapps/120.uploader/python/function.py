import datetime
import os
import shutil
import tempfile
import urllib.request

from . import storage

client = storage.storage.get_instance()

USER_AGENT = "sebs 120.uploader"


def _us(begin, end):
    return (end - begin) / datetime.timedelta(microseconds=1)


def handler(event):
    bucket = event["bucket"]["bucket"]
    output_prefix = event["bucket"]["output"]
    url = event["object"]["url"]
    name = os.path.basename(url)

    work = tempfile.mkdtemp(prefix="uploader-")
    try:
        path = os.path.join(work, name)
        download_begin = datetime.datetime.now()
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        with urllib.request.urlopen(request, timeout=60) as response, open(path, "wb") as f:
            shutil.copyfileobj(response, f)
        size = os.path.getsize(path)
        download_end = datetime.datetime.now()

        upload_begin = datetime.datetime.now()
        key = client.upload(bucket, f"{output_prefix}/{name}", path)
        upload_end = datetime.datetime.now()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    return {
        "result": {"bucket": bucket, "url": url, "key": key},
        "measurement": {
            "download_time": _us(download_begin, download_end),
            "download_size": size,
            "upload_time": _us(upload_begin, upload_end),
            "upload_size": size,
            "compute_time": _us(download_begin, download_end),
        },
    }
