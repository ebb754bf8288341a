"""Google Cloud Storage for benchmarks, over the JSON API with the standard library only.

On Cloud Functions the function's service account token comes from the metadata server. With
`STORAGE_EMULATOR_HOST` set (`http://127.0.0.1:9023`), requests go to that emulator without
credentials, as Google's client libraries do. No Google SDK is installed into the function, so it
adds nothing to the package or to the cold start.
"""

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

from sebs_storage import ObjectStore, as_bytes  # the package root's shared part

_METADATA_TOKEN = "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"

class storage(ObjectStore):
    def __init__(self):
        emulator = os.environ.get("STORAGE_EMULATOR_HOST")
        self.endpoint = (emulator or "https://storage.googleapis.com").rstrip("/")
        self.anonymous = bool(emulator)
        self._token, self._expires = None, 0.0

    def _authorization(self):
        if self.anonymous:
            return {}
        if self._token is None or time.time() > self._expires - 60:
            request = urllib.request.Request(_METADATA_TOKEN, headers={"Metadata-Flavor": "Google"})
            with urllib.request.urlopen(request, timeout=10) as reply:
                token = json.load(reply)
            self._token, self._expires = token["access_token"], time.time() + token["expires_in"]
        return {"Authorization": f"Bearer {self._token}"}

    def _request(self, method, url, body=None, headers=None, what=""):
        request = urllib.request.Request(
            url, data=body, method=method, headers={**self._authorization(), **(headers or {})}
        )
        try:
            with urllib.request.urlopen(request, timeout=300) as reply:
                return reply.read()
        except urllib.error.HTTPError as err:
            detail = err.read().decode("utf-8", "replace")
            if err.code == 404:
                raise FileNotFoundError(f"{what}: not found") from None
            raise RuntimeError(f"Cloud Storage {method} {what}: HTTP {err.code}: {detail[:500]}") from None

    def _object_url(self, bucket, key):
        return f"{self.endpoint}/storage/v1/b/{urllib.parse.quote(bucket, safe='')}/o/{urllib.parse.quote(key, safe='')}"

    def write_object(self, bucket, key, source):
        """Stores `source` (bytes or a binary file object) under exactly `key`.

        A multipart upload (metadata and content in one request), as Google's libraries send
        small objects; it also works for empty objects on the emulator, where a media upload
        does not.
        """
        data = as_bytes(source)
        boundary = uuid.uuid4().hex
        metadata = json.dumps({"name": key}).encode()
        body = (
            f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n".encode()
            + metadata
            + f"\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n".encode()
            + data
            + f"\r\n--{boundary}--\r\n".encode()
        )
        url = f"{self.endpoint}/upload/storage/v1/b/{urllib.parse.quote(bucket, safe='')}/o?uploadType=multipart"
        self._request(
            "POST", url, body, {"Content-Type": f"multipart/related; boundary={boundary}"}, what=f"{bucket}/{key}"
        )
        return key

    def download_stream(self, bucket, key):
        return self._request("GET", self._object_url(bucket, key) + "?alt=media", what=f"{bucket}/{key}")

    def list_directory(self, bucket, prefix):
        """Every key of `bucket` starting with `prefix` (a string prefix), sorted."""
        keys, token = [], None
        while True:
            query = {"prefix": prefix, "fields": "items(name),nextPageToken"}
            if token:
                query["pageToken"] = token
            url = f"{self.endpoint}/storage/v1/b/{urllib.parse.quote(bucket, safe='')}/o?{urllib.parse.urlencode(query)}"
            page = json.loads(self._request("GET", url, what=f"{bucket}/{prefix}*"))
            keys.extend(item["name"] for item in page.get("items", []))
            token = page.get("nextPageToken")
            if not token:
                return sorted(keys)
