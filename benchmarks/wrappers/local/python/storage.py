"""Directory-backed object storage for benchmarks on the local platform.

Object KEY of bucket B is the file $SEBS_STORAGE_ROOT/B/KEY (keys may contain '/').  Several
instances share the root, so every write goes to a temporary file in the target directory and is
then renamed into place: readers see either the old object or the new one, never a partial file.
The API on top (`get_instance`, `unique_name`, uploads, `download_directory`) is the shared
`ObjectStore`'s.
"""

import os
import shutil
import tempfile

from sebs_storage import ObjectStore  # the package root's shared part

_TMP_PREFIX = ".sebs-tmp-"  # temporary files are never listed as objects


class storage(ObjectStore):
    def __init__(self):
        root = os.environ.get("SEBS_STORAGE_ROOT")
        if not root:
            raise RuntimeError("SEBS_STORAGE_ROOT is not set: the local platform did not configure storage")
        self.root = os.path.abspath(root)

    def _bucket_dir(self, bucket):
        if not bucket or "/" in bucket or bucket in (".", ".."):
            raise ValueError(f"invalid bucket name {bucket!r}")
        return os.path.join(self.root, bucket)

    def _path(self, bucket, key):
        # Keys are relative paths that must stay inside the bucket's directory.
        parts = key.split("/")
        if any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"invalid object key {key!r} in bucket {bucket!r}")
        return os.path.join(self._bucket_dir(bucket), *parts)

    def _existing(self, bucket, key):
        path = self._path(bucket, key)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"object {key!r} not found in bucket {bucket!r} (no file {path})")
        return path

    def write_object(self, bucket, key, source):
        """Stores `source` (bytes or a binary file object) under exactly `key`.

        Wrapper-internal (the handler stores logs with it); benchmarks use upload/upload_stream.
        """
        path = self._path(bucket, key)
        directory = os.path.dirname(path)
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                if isinstance(source, (bytes, bytearray, memoryview)):
                    f.write(source)
                else:
                    shutil.copyfileobj(source, f)
            os.chmod(tmp, 0o644)  # mkstemp creates 0600 files
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
        return key

    def download(self, bucket, key, filepath):
        source = self._existing(bucket, key)
        os.makedirs(os.path.dirname(os.path.abspath(filepath)), exist_ok=True)
        shutil.copyfile(source, filepath)

    def download_stream(self, bucket, key):
        with open(self._existing(bucket, key), "rb") as f:
            return f.read()

    def list_directory(self, bucket, prefix):
        """Every key of `bucket` starting with `prefix` (a string prefix, as in S3), sorted."""
        bucket_dir = self._bucket_dir(bucket)
        if prefix.startswith("/") or ".." in prefix.split("/"):
            raise ValueError(f"invalid prefix {prefix!r} in bucket {bucket!r}")
        # Only the directory holding the prefix's last component can contain matching keys.
        start = os.path.join(bucket_dir, os.path.dirname(prefix))
        keys = []
        for directory, _, files in os.walk(start):
            for name in files:
                if name.startswith(_TMP_PREFIX):
                    continue
                key = os.path.relpath(os.path.join(directory, name), bucket_dir).replace(os.sep, "/")
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)
