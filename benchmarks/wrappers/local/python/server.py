"""HTTP server of one local function instance (see docs/local-protocol.md).

Started as `python3 server.py` in the package directory.  It binds 127.0.0.1:$SEBS_PORT, prints
`SEBS-LISTENING <port>` and serves `POST /` (one invocation) and `GET /health`.

Connections are accepted on background threads so that a second connection (a health check by
hand, or a client that opened a fresh connection) is never stuck behind an idle keep-alive one.
The benchmark itself always runs on the main thread, one invocation at a time: some libraries only
work there (signal handlers, for instance), and an instance serves a single request at a time.
"""

import json
import os
import queue
import site
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _setup_sys_path():
    # Installed dependencies must win over anything else of the same name, so they go first.
    packages = os.path.join(PACKAGE_DIR, ".python_packages")
    for entry in (PACKAGE_DIR, packages):
        if entry in sys.path:
            sys.path.remove(entry)
        sys.path.insert(0, entry)
    if os.path.isdir(packages):
        # Process *.pth files of `pip install -t`; the directory is already on sys.path, so
        # addsitedir does not append it a second time.
        site.addsitedir(packages)


_setup_sys_path()

import handler  # noqa: E402  (must come after the sys.path set-up)


class _Job:
    """One invocation handed from a connection thread to the main thread."""

    def __init__(self, body, request_id):
        self.body = body
        self.request_id = request_id
        self.done = threading.Event()
        self.status = 500
        self.reply = b""

    def run(self):
        try:
            self.status, self.reply = handler.handle(self.body, self.request_id)
        except Exception as exc:  # handle() replies to every failure itself; this is a last resort
            self.status, self.reply = 500, json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode()
        finally:
            self.done.set()


_jobs = queue.Queue()


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every reply therefore carries Content-Length
    server_version = "sebs-local"
    # Headers and body leave in separate writes; with Nagle's algorithm on, the body waits for
    # the client's delayed ACK (~40 ms on Linux) and every warm invocation looks 40 ms slower.
    disable_nagle_algorithm = True

    def do_POST(self):
        if self.path.split("?", 1)[0] != "/":
            self._send(404, b"not found\n", "text/plain")
            return
        body = self._read_body()
        if body is None:
            return
        job = _Job(body, self.headers.get("X-Request-Id"))
        _jobs.put(job)
        job.done.wait()
        self._send(job.status, job.reply, "application/json")

    def do_GET(self):
        if self.path.split("?", 1)[0] == "/health":
            self._send(200, b"ok", "text/plain")
        else:
            self._send(404, b"not found\n", "text/plain")

    def _read_body(self):
        """Reads the request body (Content-Length or chunked); None after replying 400."""
        try:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                return self._read_chunked()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))
        except ValueError as exc:
            self.close_connection = True
            self._send(400, f"bad request body: {exc}\n".encode(), "text/plain")
            return None

    def _read_chunked(self):
        parts = []
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip(), 16)
            if size == 0:
                break
            parts.append(self.rfile.read(size))
            self.rfile.readline()  # the CRLF after each chunk
        while self.rfile.readline().strip():  # optional trailers, then an empty line
            pass
        return b"".join(parts)

    def _send(self, status, payload, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    def log_request(self, code="-", size="-"):
        pass  # no line per request; errors still go to stderr through log_message


def main():
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("SEBS_PORT", "0"))), _RequestHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"SEBS-LISTENING {server.server_address[1]}", flush=True)
    try:
        while True:
            _jobs.get().run()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
