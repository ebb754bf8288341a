"""Azure Functions entry point (Python programming model v1): one HTTP-triggered function.

The reply logic is the one every sebs wrapper shares (`sebs_handler.py`, docs/local-protocol.md);
this file only adapts Azure's request and response types. The request id is the invocation id
Azure logs the invocation under.
"""

import azure.functions as func

import sebs_handler


def main(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    status, body = sebs_handler.handle(req.get_body(), context.invocation_id)
    return func.HttpResponse(body=body, status_code=status, mimetype="application/json")
