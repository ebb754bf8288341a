"""The AWS Lambda entry point (`handler.handler`): SEBS-CONTRACT §2 around the benchmark.

Lambda calls `handler(event, context)` with the event itself (SDK invocations) or, through a
function URL or API gateway, an envelope whose `body` is the event as a JSON string. The reply is
always `{"statusCode", "headers", "body"}` with the wrapper JSON as the body: a function URL
turns it into the HTTP response, and sebs unwraps it from SDK invocations. The wrapper never
raises: a failing benchmark gives a 500 reply with its traceback.
"""

import base64
import importlib
import json
import os
import secrets
import site
import time
import traceback

# Dependencies sit at the package root (/var/task, already on sys.path); their .pth files are
# processed only for site directories.
site.addsitedir(os.path.dirname(os.path.abspath(__file__)))

# $TMPDIR is unset on Lambda (so /tmp); tests give each run a private one.
COLD_MARKER = os.path.join(os.environ.get("TMPDIR") or "/tmp", "cold_run")


def _now():
    return round(time.time(), 6)


def _cold_start(mark):
    """(is_cold, container_id): the marker in /tmp lives exactly as long as the instance."""
    try:
        with open(COLD_MARKER) as f:
            return False, f.read().strip()
    except FileNotFoundError:
        pass
    if not mark:
        return True, ""
    container_id = secrets.token_hex(4)
    with open(COLD_MARKER, "w") as f:
        f.write(container_id)
    return True, container_id


def _event_of(event):
    if isinstance(event, dict) and isinstance(event.get("body"), str):
        body = event["body"]
        if event.get("isBase64Encoded"):
            body = base64.b64decode(body)
        event = json.loads(body)
    if not isinstance(event, dict):
        raise TypeError(f"the event must be a JSON object, got {type(event).__name__}")
    return event


def _reply(status, payload):
    # allow_nan=False: NaN/Infinity are not JSON and the client could not parse them.
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(payload, allow_nan=False),
    }


def _error_reply(exc, request_id, mark):
    is_cold, container_id = _cold_start(mark)
    return _reply(500, {
        "error": f"{type(exc).__name__}: {exc}",
        "traceback": "".join(traceback.format_exception(exc)),
        "request_id": request_id,
        "is_cold": is_cold,
        "container_id": container_id,
    })


def _upload_logs(bucket, request_id, result):
    """Stores the result as `<request-id>.json`; returns the time taken in µs."""
    from function import storage  # after the window: not part of the benchmark's time

    log = {"output": result, "measurement": None}
    if isinstance(result, dict):
        log = {"output": result.get("result"), "measurement": result.get("measurement")}
    began = time.perf_counter()
    storage.storage.get_instance().write_object(bucket, f"{request_id}.json", json.dumps(log).encode())
    return round((time.perf_counter() - began) * 1e6)


def handler(event, context):
    income = _now()
    request_id = context.aws_request_id
    try:
        event = _event_of(event)
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

        return _reply(200, {
            "begin": begin,
            "end": end,
            "results_time": results_time,
            "is_cold": is_cold,
            "result": result,
            "request_id": request_id,
            "cold_start_var": os.environ.get("cold_start", ""),
            "container_id": container_id,
        })
    except (Exception, SystemExit) as exc:
        return _error_reply(exc, request_id, mark=True)
