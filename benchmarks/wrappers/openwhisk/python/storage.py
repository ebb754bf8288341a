"""Object storage for benchmarks on OpenWhisk: an S3-compatible store (Minio in SeBS), spoken to
with the standard library only (Signature Version 4 over http.client), so that packages need no
S3 SDK. The action's default parameters give the address and keys: SEBS_S3_ENDPOINT
(http://HOST:PORT), SEBS_S3_ACCESS_KEY, SEBS_S3_SECRET_KEY, SEBS_S3_REGION. The API is the one
of docs/local-protocol.md ("Object storage API for benchmarks"), on the shared `ObjectStore`.
"""

import datetime
import hashlib
import hmac
import http.client
import os
import re
import urllib.parse
from xml.sax.saxutils import unescape

from sebs_storage import ObjectStore, as_bytes  # the package root's shared part


class storage(ObjectStore):
    def __init__(self):
        endpoint = os.environ.get("SEBS_S3_ENDPOINT", "")
        if not endpoint.startswith("http://"):
            raise RuntimeError(f"SEBS_S3_ENDPOINT is {endpoint!r}, not an http:// address: the platform did not configure storage")
        self.host = endpoint[len("http://"):].rstrip("/")
        self.access_key = os.environ.get("SEBS_S3_ACCESS_KEY", "")
        self.secret_key = os.environ.get("SEBS_S3_SECRET_KEY", "")
        self.region = os.environ.get("SEBS_S3_REGION", "us-east-1")

    def _request(self, method, path, query=(), body=b""):
        """One signed request; returns (status, body bytes)."""
        now = datetime.datetime.now(datetime.timezone.utc)
        stamp, date = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        quote = lambda s: urllib.parse.quote(s, safe="-_.~")  # noqa: E731
        canonical_path = urllib.parse.quote(path, safe="/-_.~")
        canonical_query = "&".join(f"{quote(k)}={quote(v)}" for k, v in sorted(query))
        payload_hash = hashlib.sha256(body).hexdigest()
        signed = "host;x-amz-content-sha256;x-amz-date"
        canonical = "\n".join([method, canonical_path, canonical_query, f"host:{self.host}",
                               f"x-amz-content-sha256:{payload_hash}", f"x-amz-date:{stamp}", "",
                               signed, payload_hash])
        scope = f"{date}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        key = ("AWS4" + self.secret_key).encode()
        for part in (date, self.region, "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        headers = {
            "Host": self.host,
            "x-amz-date": stamp,
            "x-amz-content-sha256": payload_hash,
            "Authorization": f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, "
                             f"SignedHeaders={signed}, Signature={signature}",
        }
        conn = http.client.HTTPConnection(self.host, timeout=300)
        try:
            target = canonical_path + (f"?{canonical_query}" if canonical_query else "")
            conn.request(method, target, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def _check(self, status, reply, bucket, key):
        if status == 404:
            raise FileNotFoundError(f"object {key!r} not found in bucket {bucket!r}")
        if status >= 300:
            raise RuntimeError(f"S3 {status} for {key!r} in bucket {bucket!r}: {reply[:300]!r}")

    def write_object(self, bucket, key, source):
        """Stores `source` (bytes or a binary file object) under exactly `key`."""
        status, reply = self._request("PUT", f"/{bucket}/{key}", body=as_bytes(source))
        self._check(status, reply, bucket, key)
        return key

    def download_stream(self, bucket, key):
        status, reply = self._request("GET", f"/{bucket}/{key}")
        self._check(status, reply, bucket, key)
        return reply

    def list_directory(self, bucket, prefix):
        """Every key of `bucket` starting with `prefix` (ListObjectsV2, all pages), sorted."""
        keys, token = [], None
        while True:
            query = [("list-type", "2"), ("prefix", prefix or "")]
            if token:
                query.append(("continuation-token", token))
            status, reply = self._request("GET", f"/{bucket}", query)
            self._check(status, reply, bucket, prefix)
            text = reply.decode()
            keys += [unescape(k) for k in re.findall(r"<Key>(.*?)</Key>", text)]
            token = next(iter(re.findall(r"<NextContinuationToken>(.*?)</NextContinuationToken>", text)), None)
            if "<IsTruncated>true</IsTruncated>" not in text or not token:
                return sorted(keys)
