"""Cloud Functions entry point (Python, Functions Framework): `handler(request)`.

The package's dependencies travel in `.python_packages/` (installed by sebs for this Python
version), put first on `sys.path` here. The reply logic is the one every sebs wrapper shares
(`sebs_handler.py`, docs/local-protocol.md). The request id is Cloud Functions' execution id.
"""

import os
import site
import sys

_PACKAGES = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".python_packages")
if os.path.isdir(_PACKAGES):
    sys.path.insert(0, _PACKAGES)
    site.addsitedir(_PACKAGES)  # *.pth files of `pip install -t`

import sebs_handler  # noqa: E402  (after the sys.path set-up)


def handler(request):
    request_id = request.headers.get("Function-Execution-Id") or None
    status, body = sebs_handler.handle(request.get_data(), request_id)
    return body, status, {"Content-Type": "application/json"}
