import datetime
import os
import shutil
import tempfile

from . import storage

client = storage.storage.get_instance()


def _us(begin, end):
    return (end - begin) / datetime.timedelta(microseconds=1)


def _folder_size(path):
    return sum(os.path.getsize(os.path.join(root, name))
               for root, _, files in os.walk(path) for name in files)


def handler(event):
    bucket = event["bucket"]["bucket"]
    input_prefix = event["bucket"]["input"]
    output_prefix = event["bucket"]["output"]
    key = event["object"]["key"]

    # A private working folder per call (mkdtemp honours TMPDIR): many
    # instances share the machine. The archive is written beside the
    # downloaded tree, not inside it, so it never zips itself.
    work = tempfile.mkdtemp(prefix="compression-")
    try:
        download_path = os.path.join(work, "data")
        os.makedirs(download_path)

        download_begin = datetime.datetime.now()
        # The trailing "/" keeps e.g. "text-corpus2/..." out of the listing.
        client.download_directory(bucket, f"{input_prefix}/{key}/", download_path)
        download_end = datetime.datetime.now()
        size = _folder_size(download_path)

        compress_begin = datetime.datetime.now()
        archive = shutil.make_archive(os.path.join(work, key), "zip", root_dir=download_path)
        compress_end = datetime.datetime.now()
        archive_size = os.path.getsize(archive)

        upload_begin = datetime.datetime.now()
        key_name = client.upload(bucket, f"{output_prefix}/{key}.zip", archive)
        upload_end = datetime.datetime.now()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    return {
        "result": {"bucket": bucket, "key": key_name},
        "measurement": {
            "download_time": _us(download_begin, download_end),
            "download_size": size,
            "upload_time": _us(upload_begin, upload_end),
            "upload_size": archive_size,
            "compute_time": _us(compress_begin, compress_end),
        },
    }
