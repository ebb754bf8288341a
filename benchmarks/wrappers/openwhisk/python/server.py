"""OpenWhisk action proxy of a sebs function (OpenWhisk's action interface, docs/actions-new.md
of OpenWhisk): listens on 0.0.0.0:8080 (`SEBS_OPENWHISK_PORT` overrides it), accepts one
`POST /init` and runs each `POST /run` through the local wrapper's handler (handler.py).

A `/run` body is `{"value": PARAMS, "activation_id": ..., "namespace": ..., ...}`. PARAMS are the
action's default parameters (the storage settings `SEBS_S3_*` and `cold_start`, and the
function's own environment in the object `SEBS_ENVIRONMENT`, which become environment variables
of the process) merged with the request's: for a web action, the JSON
body's fields plus `__ow_method`, `__ow_headers`, `__ow_path`. What is left is the event. The
request id is the caller's `X-Request-Id` header when a web request carried one, else the
activation id (as in SeBS).

The reply is the handler's: 200 with the wrapper JSON, or, when the benchmark failed, a non-200
status with `{"error": ..., ...}`, which OpenWhisk records as an application error. Each
activation's log ends with OpenWhisk's end-of-activation markers on stdout and stderr.
"""

import json
import os
import site
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
PACKAGES = os.path.join(PACKAGE_DIR, ".python_packages")
# Installed dependencies win over anything else of the same name; their *.pth files are read.
sys.path[:0] = [PACKAGE_DIR, PACKAGES]
if os.path.isdir(PACKAGES):
    site.addsitedir(PACKAGES)

import handler  # noqa: E402  (after the sys.path set-up)

END_MARKER = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"
# Parameters that configure the process rather than belong to the event.
SETTINGS = ("SEBS_S3_ENDPOINT", "SEBS_S3_ACCESS_KEY", "SEBS_S3_SECRET_KEY", "SEBS_S3_REGION", "cold_start")


def split_params(params):
    """(event, request id from a web request's headers or None); settings go to os.environ."""
    event = {}
    request_id = None
    for key, value in params.items():
        if key in SETTINGS:
            os.environ[key] = str(value)
        elif key == "SEBS_ENVIRONMENT" and isinstance(value, dict):
            os.environ.update({k: str(v) for k, v in value.items()})
        elif key == "__ow_headers" and isinstance(value, dict):
            request_id = value.get("x-request-id")
        elif not key.startswith("__ow_"):
            event[key] = value
    return event, request_id


class ActionProxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sebs-openwhisk"
    disable_nagle_algorithm = True
    initialized = False

    def do_POST(self):
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        except ValueError as exc:
            self._reply(400, {"error": f"the request is not JSON: {exc}"})
            return
        if self.path == "/init":
            if ActionProxy.initialized:
                self._reply(403, {"error": "this container is initialized already"})
            else:
                ActionProxy.initialized = True
                self._reply(200, {"ok": True})
        elif self.path == "/run":
            self._run(body)
        else:
            self._reply(404, {"error": f"no route {self.path}"})

    def _run(self, body):
        params = body.get("value") if isinstance(body, dict) else None
        if not isinstance(params, dict):
            self._reply(400, {"error": "a /run body has the parameters as the object `value`"})
            return
        for key in ("activation_id", "action_name", "namespace", "deadline"):
            if key in body:
                os.environ[f"__OW_{key.upper()}"] = str(body[key])
        event, request_id = split_params(params)
        request_id = request_id or body.get("activation_id")
        status, reply = handler.handle(json.dumps(event).encode(), request_id)
        self._send(status, reply)
        for stream in (sys.stdout, sys.stderr):
            print(END_MARKER, file=stream, flush=True)

    def _reply(self, status, obj):
        self._send(status, json.dumps(obj).encode())

    def _send(self, status, payload):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_request(self, code="-", size="-"):
        pass


def main():
    port = int(os.environ.get("SEBS_OPENWHISK_PORT", "8080"))
    # OpenWhisk never overlaps activations on one container: a single-threaded server suffices.
    server = HTTPServer(("0.0.0.0", port), ActionProxy)
    print(f"SEBS-LISTENING {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
