"""Turns one event into the wrapper reply (SEBS-CONTRACT §2, docs/local-protocol.md): the reply
logic of every platform's Python wrapper, which the others link as `sebs_handler.py`.

`handle(body, request_id)` (a request body) and `handle_event(event, request_id)` (an event the
platform already decoded, as Lambda hands it) never raise: every failure becomes a 500 reply
with a traceback. The benchmark (`function/function.py`) is imported lazily, inside the
begin/end window, so its first-import cost is part of the first (cold) invocation's measured
time.
"""

import base64
import importlib
import json
import os
import secrets
import time
import traceback
import uuid

COLD_MARKER = "cold_run"


def _now():
    return round(time.time(), 6)


def _marker_path():
    # $TMPDIR is private to the instance, so the marker survives exactly as long as the instance.
    return os.path.join(os.environ.get("TMPDIR") or "/tmp", COLD_MARKER)


def _cold_start(mark):
    """Returns (is_cold, container_id).

    Without the marker this is a cold start; with `mark` the marker is then written with a new
    container id.  A request rejected before the benchmark ran does not mark the instance, so the
    next real invocation is still reported as cold (its import cost is not hidden).
    """
    path = _marker_path()
    try:
        with open(path) as f:
            return False, f.read().strip()
    except FileNotFoundError:
        pass
    if not mark:
        return True, ""
    container_id = secrets.token_hex(4)
    with open(path, "w") as f:
        f.write(container_id)
    return True, container_id


def _unwrap(event):
    if isinstance(event, dict) and isinstance(event.get("body"), str):  # an HTTP gateway envelope
        body = event["body"]
        event = json.loads(base64.b64decode(body) if event.get("isBase64Encoded") else body)
    if not isinstance(event, dict):
        raise TypeError(f"the event must be a JSON object, got {type(event).__name__}")
    return event


def _upload_logs(bucket, request_id, result):
    """Stores the result as `<request-id>.json` in `bucket`; returns the time taken in µs."""
    from function import storage  # after the window: not part of the benchmark's time

    log = {"output": result, "measurement": None}
    if isinstance(result, dict):
        log = {"output": result.get("result"), "measurement": result.get("measurement")}
    began = time.perf_counter()
    storage.storage.get_instance().write_object(bucket, f"{request_id}.json", _to_json(log))
    return round((time.perf_counter() - began) * 1e6)


def _error_reply(exc, request_id, mark):
    is_cold, container_id = _cold_start(mark)
    reply = {
        "error": f"{type(exc).__name__}: {exc}",
        "traceback": "".join(traceback.format_exception(exc)),
        "request_id": request_id,
        "is_cold": is_cold,
        "container_id": container_id,
    }
    return 500, json.dumps(reply).encode()


def _to_json(reply):
    # allow_nan=False: NaN/Infinity are not JSON and the platform could not parse them.
    try:
        return json.dumps(reply, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise TypeError(f"the handler's result cannot be sent as JSON: {exc}") from exc


def handle(body, request_id=None):
    """Runs one invocation of a request body; returns (HTTP status, JSON reply bytes)."""
    return _invoke(_now(), lambda: json.loads(body or b"null"), request_id)


def handle_event(event, request_id=None):
    """Runs one invocation of an event already decoded from JSON (or an HTTP gateway's envelope
    of one); returns (HTTP status, JSON reply bytes)."""
    return _invoke(_now(), lambda: event, request_id)


def _invoke(income, decode, request_id):
    request_id = request_id or str(uuid.uuid4())
    try:
        event = _unwrap(decode())
    except Exception as exc:
        return _error_reply(exc, request_id, mark=False)

    event["request-id"] = request_id
    event["income-timestamp"] = income
    try:
        begin = _now()
        function = importlib.import_module("function.function")
        result = function.handler(event)
        end = _now()
        is_cold, container_id = _cold_start(mark=True)

        results_time = 0
        logs = event.get("logs")
        if isinstance(logs, dict) and logs.get("bucket"):
            results_time = _upload_logs(logs["bucket"], request_id, result)

        reply = {
            "begin": begin,
            "end": end,
            "results_time": results_time,
            "is_cold": is_cold,
            "result": result,
            "request_id": request_id,
            "cold_start_var": os.environ.get("cold_start", ""),
            "container_id": container_id,
        }
        return 200, _to_json(reply)
    except (Exception, SystemExit) as exc:  # SystemExit: a benchmark calling sys.exit() must not end the server
        return _error_reply(exc, request_id, mark=True)
