"""010.sleep: the function sleeps for a size-dependent number of seconds."""

SIZES = {"test": 1, "small": 100, "large": 1000}

# Timers may wake a little early or be measured with coarse clocks; allow this
# much (seconds) below the requested sleep before calling the output wrong.
SLACK = 0.005


def buckets_count():
    return (0, 0)


def generate_input(data_dir, size, benchmarks_bucket, input_paths, output_paths, upload_func, nosql_func):
    return {"sleep": SIZES[size]}


def validate_output(data_dir, input_cfg, output, language, storage=None):
    """The function reports the requested sleep as `result` (as SeBS does) and
    the time it really slept as `measurement.compute_time` (µs)."""
    try:
        requested = input_cfg["sleep"]
        slept_us = output["measurement"]["compute_time"]
        return output["result"] == requested and slept_us >= (requested - SLACK) * 1e6
    except (KeyError, TypeError):
        return False
