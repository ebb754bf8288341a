"""S3 storage for benchmarks on AWS Lambda, through boto3 (part of Lambda's Python runtime).

The same API as every platform's storage (docs/local-protocol.md, "Object storage API"), on the
shared `ObjectStore`: uploads get SeBS's unique names, missing objects raise FileNotFoundError
naming bucket and key. Files and streams go through boto3's transfer manager (multipart, not
held in memory), which Lambda's memory limits call for.
"""

import io
import os

import boto3
from botocore.exceptions import ClientError

from sebs_storage import ObjectStore  # the package root's shared part


def _missing(err):
    return err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")


class storage(ObjectStore):
    def __init__(self):
        # AWS_ENDPOINT_URL (boto3 reads it) points the client at an emulator in tests.
        self.client = boto3.client("s3")

    def write_object(self, bucket, key, data):
        """Stores bytes under exactly `key` (the wrapper stores logs with it)."""
        self.client.put_object(Bucket=bucket, Key=key, Body=data)
        return key

    def upload(self, bucket, key, filepath):
        key = self.unique_name(key)
        self.client.upload_file(filepath, bucket, key)
        return key

    def upload_stream(self, bucket, key, data):
        key = self.unique_name(key)
        if isinstance(data, (bytes, bytearray, memoryview)):
            data = io.BytesIO(bytes(data))
        self.client.upload_fileobj(data, bucket, key)
        return key

    def download(self, bucket, key, filepath):
        os.makedirs(os.path.dirname(os.path.abspath(filepath)), exist_ok=True)
        try:
            self.client.download_file(bucket, key, filepath)
        except ClientError as err:
            if _missing(err):
                raise FileNotFoundError(f"object {key!r} not found in bucket {bucket!r}") from err
            raise

    def download_stream(self, bucket, key):
        try:
            return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as err:
            if _missing(err):
                raise FileNotFoundError(f"object {key!r} not found in bucket {bucket!r}") from err
            raise

    def list_directory(self, bucket, prefix):
        """Every key of `bucket` starting with `prefix`, sorted."""
        keys = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
        return sorted(keys)
