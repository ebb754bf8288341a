import datetime
import io
import os
from urllib.parse import unquote_plus

from PIL import Image

from . import storage

client = storage.storage.get_instance()


def _us(begin, end):
    return (end - begin) / datetime.timedelta(microseconds=1)


def resize_image(data, width, height):
    """Shrinks the image to fit (width, height), keeping its aspect ratio.
    Everything stays in memory: no temporary files to clash between instances."""
    with Image.open(io.BytesIO(data)) as image:
        image.thumbnail((width, height))
        out = io.BytesIO()
        image.save(out, format="JPEG")
        return out.getvalue(), image.size


def handler(event):
    bucket = event["bucket"]["bucket"]
    input_prefix = event["bucket"]["input"]
    output_prefix = event["bucket"]["output"]
    key = unquote_plus(event["object"]["key"])
    width = event["object"]["width"]
    height = event["object"]["height"]

    download_begin = datetime.datetime.now()
    data = client.download_stream(bucket, f"{input_prefix}/{key}")
    download_end = datetime.datetime.now()

    process_begin = datetime.datetime.now()
    thumbnail, (thumb_w, thumb_h) = resize_image(data, width, height)
    process_end = datetime.datetime.now()

    upload_begin = datetime.datetime.now()
    key_name = client.upload_stream(bucket, f"{output_prefix}/{os.path.basename(key)}", thumbnail)
    upload_end = datetime.datetime.now()

    return {
        "result": {"bucket": bucket, "key": key_name, "width": thumb_w, "height": thumb_h},
        "measurement": {
            "download_time": _us(download_begin, download_end),
            "download_size": len(data),
            "upload_time": _us(upload_begin, upload_end),
            "upload_size": len(thumbnail),
            "compute_time": _us(process_begin, process_end),
        },
    }
