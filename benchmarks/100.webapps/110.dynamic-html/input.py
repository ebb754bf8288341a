"""110.dynamic-html: render an HTML page holding N random numbers."""

import re

SIZES = {"test": 10, "small": 1000, "large": 100000}

# Both templates render each number as its own list item.
ITEM = re.compile(r"<li>\s*(\d+)\s*</li>")


def buckets_count():
    return (0, 0)


def generate_input(data_dir, size, benchmarks_bucket, input_paths, output_paths, upload_func, nosql_func):
    return {"username": "testname", "random_len": SIZES[size]}


def validate_output(data_dir, input_cfg, output, language, storage=None):
    """`result` is the page itself (as in SeBS): it must greet the user and
    list exactly `random_len` numbers."""
    html = output.get("result") if isinstance(output, dict) else None
    if not isinstance(html, str):
        return False
    return (f"Welcome {input_cfg['username']}!" in html
            and len(ITEM.findall(html)) == input_cfg["random_len"])
