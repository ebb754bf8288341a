"""Azure Blob storage for benchmarks, over the Blob REST API with the standard library only.

A bucket is a blob container. The account and its key come from the app setting
`STORAGE_CONNECTION_STRING` (`AccountName=...;AccountKey=...;BlobEndpoint=...`), which sebs sets;
requests are signed with Shared Key. No Azure SDK is installed into the function, so it adds
nothing to the package or to the cold start.
"""

import base64
import hashlib
import hmac
import os
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ElementTree
from email.utils import formatdate

from sebs_storage import ObjectStore, as_bytes  # the package root's shared part

_VERSION = "2021-08-06"

def _parse_connection_string(text):
    fields = dict(part.split("=", 1) for part in text.split(";") if "=" in part)
    account, key = fields.get("AccountName"), fields.get("AccountKey")
    if not account or not key:
        raise RuntimeError("STORAGE_CONNECTION_STRING has no AccountName or AccountKey")
    endpoint = fields.get("BlobEndpoint") or "{}://{}.blob.{}".format(
        fields.get("DefaultEndpointsProtocol", "https"), account, fields.get("EndpointSuffix", "core.windows.net")
    )
    return account, base64.b64decode(key), endpoint.rstrip("/")

class storage(ObjectStore):
    def __init__(self):
        text = os.environ.get("STORAGE_CONNECTION_STRING")
        if not text:
            raise RuntimeError("STORAGE_CONNECTION_STRING is not set: sebs did not configure storage")
        self.account, self.key, self.endpoint = _parse_connection_string(text)
        self.base_path = urllib.parse.urlsplit(self.endpoint).path  # "/devstoreaccount1" on azurite

    def _sign(self, method, path, query, headers):
        canonical_headers = "".join(
            f"{name}:{headers[name]}\n" for name in sorted(h for h in headers if h.startswith("x-ms-"))
        )
        resource = f"/{self.account}{path}" + "".join(
            f"\n{name.lower()}:{value}" for name, value in sorted(query.items())
        )
        length = headers.get("content-length", "")
        fields = [
            method,
            "",  # Content-Encoding
            "",  # Content-Language
            "" if length in ("", "0") else length,
            "",  # Content-MD5
            headers.get("content-type", ""),
            "",  # Date (x-ms-date is used)
            "",  # If-Modified-Since
            "",  # If-Match
            "",  # If-None-Match
            "",  # If-Unmodified-Since
            "",  # Range
        ]
        text = "\n".join(fields) + "\n" + canonical_headers + resource
        signature = base64.b64encode(hmac.new(self.key, text.encode("utf-8"), hashlib.sha256).digest())
        return f"SharedKey {self.account}:{signature.decode()}"

    def _request(self, method, container, blob=None, query=None, body=b"", extra=None):
        query = dict(query or {})
        path = self.base_path + "/" + urllib.parse.quote(container)
        if blob is not None:
            path += "/" + urllib.parse.quote(blob)
        headers = {
            "x-ms-date": formatdate(usegmt=True),
            "x-ms-version": _VERSION,
            "content-length": str(len(body)),
        }
        headers.update(extra or {})
        headers["authorization"] = self._sign(method, path, query, headers)
        url = urllib.parse.urlsplit(self.endpoint)
        target = urllib.parse.urlunsplit((url.scheme, url.netloc, path, urllib.parse.urlencode(query), ""))
        request = urllib.request.Request(target, data=body if method == "PUT" else None, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=300) as reply:
                return reply.read()
        except urllib.error.HTTPError as err:
            detail = err.read().decode("utf-8", "replace")
            if err.code == 404:
                raise FileNotFoundError(
                    f"{method} {container}/{blob or ''}: not found ({err.headers.get('x-ms-error-code')})"
                ) from None
            raise RuntimeError(f"Blob storage {method} {container}/{blob or ''}: HTTP {err.code}: {detail[:500]}") from None

    def write_object(self, bucket, key, source):
        """Stores `source` (bytes or a binary file object) under exactly `key`."""
        data = as_bytes(source)
        # An explicit content type: urllib would add its own form type, outside the signature.
        extra = {"x-ms-blob-type": "BlockBlob", "content-type": "application/octet-stream"}
        self._request("PUT", bucket, key, body=data, extra=extra)
        return key

    def download_stream(self, bucket, key):
        return self._request("GET", bucket, key)

    def list_directory(self, bucket, prefix):
        """Every key of `bucket` starting with `prefix` (a string prefix), sorted."""
        keys, marker = [], None
        while True:
            query = {"restype": "container", "comp": "list", "prefix": prefix}
            if marker:
                query["marker"] = marker
            root = ElementTree.fromstring(self._request("GET", bucket, query=query))
            keys.extend(name.text for name in root.iter("Name") if name.text)
            marker = root.findtext("NextMarker")
            if not marker:
                return sorted(keys)
