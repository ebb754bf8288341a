"""What every platform's storage module shares: SeBS's storage API for benchmarks on top of
three primitives each platform implements (`write_object`, `download_stream`, `list_directory`).

It sits at the package root; `function/storage.py` subclasses `ObjectStore` as `storage`.
"""

import os
import uuid


class ObjectStore:
    instance = None

    @classmethod
    def get_instance(cls):
        if cls.instance is None:
            cls.instance = cls()
        return cls.instance

    @staticmethod
    def unique_name(name):
        """`dir/name.ext` -> `dir/name.<8 hex chars>.ext`, as SeBS names uploaded objects."""
        base, ext = os.path.splitext(name)
        return f"{base}.{uuid.uuid4().hex[:8]}{ext}"

    def write_object(self, bucket, key, source):
        """Stores `source` (bytes or a binary file object) under exactly `key`; returns `key`."""
        raise NotImplementedError

    def download_stream(self, bucket, key):
        """The object's bytes; `FileNotFoundError` when it does not exist."""
        raise NotImplementedError

    def list_directory(self, bucket, prefix):
        """Every key of `bucket` starting with `prefix` (a string prefix), sorted."""
        raise NotImplementedError

    def upload(self, bucket, key, filepath):
        with open(filepath, "rb") as f:
            return self.write_object(bucket, self.unique_name(key), f)

    def upload_stream(self, bucket, key, data):
        return self.write_object(bucket, self.unique_name(key), data)

    def download(self, bucket, key, filepath):
        data = self.download_stream(bucket, key)
        os.makedirs(os.path.dirname(os.path.abspath(filepath)), exist_ok=True)
        with open(filepath, "wb") as f:
            f.write(data)

    def download_directory(self, bucket, prefix, path):
        """Downloads every object under `prefix` to `path/<key>` (the whole key, as SeBS does)."""
        keys = self.list_directory(bucket, prefix)
        if not keys:
            raise FileNotFoundError(f"no objects under prefix {prefix!r} in bucket {bucket!r}")
        for key in keys:
            self.download(bucket, key, os.path.join(path, *key.split("/")))


def as_bytes(source):
    """`source` (bytes or a binary file object) as bytes."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    return source.read()
