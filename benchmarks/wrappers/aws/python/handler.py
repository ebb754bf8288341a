"""The AWS Lambda entry point (`handler.handler`).

The reply logic is the one every sebs wrapper shares (`sebs_handler.py`, SEBS-CONTRACT §2);
this file only adapts Lambda's calling convention. Lambda calls `handler(event, context)` with
the event itself (SDK invocations) or, through a function URL, an envelope whose `body` is the
event as a JSON string. The reply is always `{"statusCode", "headers", "body"}` with the wrapper
JSON as the body: a function URL turns it into the HTTP response, and sebs unwraps it from SDK
invocations. The request id is Lambda's.
"""

import os
import site

# Dependencies sit at the package root (/var/task, already on sys.path); their .pth files are
# processed only for site directories.
site.addsitedir(os.path.dirname(os.path.abspath(__file__)))

import sebs_handler  # noqa: E402  (after the site set-up)


def handler(event, context):
    status, body = sebs_handler.handle_event(event, context.aws_request_id)
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": body.decode(),
    }
