"""Writes a small synthetic day in the Azure Functions 2019 trace format.

The public trace (Shahrad et al., "Serverless in the Wild", ATC '20) is hundreds of MB and is
downloaded from Azure's servers; sebs ships this stand-in instead, so that `trace-replay` runs
offline. It has the trace's layout, `invocations_per_function_md.anon.d01.csv`: a header
`HashOwner,HashApp,HashFunction,Trigger,1,...,1440`, then one row per function with its
invocations in each minute of the day. The functions mimic the shapes the paper describes:
diurnal HTTP traffic, timers firing on a fixed period, bursty queue and event functions, and
rarely invoked ones. Hashes are SHA-256 of names, 64 hex characters as in the trace.

    python3 make_synthetic_trace.py [OUTPUT]   # default: azure-functions-synthetic.d01.csv

The output depends only on the seed below and Python's `random` (3.2 or later).
"""

import hashlib
import math
import random
import sys

SEED = 2019
MINUTES = 1440


def digest(name):
    return hashlib.sha256(name.encode()).hexdigest()


def poisson(rng, mean):
    """A Poisson draw: Knuth's product of uniforms for small means, normal approximation above."""
    if mean <= 0:
        return 0
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def diurnal(peak_minute, base, swing):
    """Mean per minute: `base` scaled by a day-long sine peaking at `peak_minute`."""
    return lambda m: base * (1 + swing * math.cos(2 * math.pi * (m - peak_minute) / MINUTES))


def timer(period, count=1):
    return lambda m: count if m % period == 0 else 0


def bursts(rng, base, bursts_per_day, height, length):
    starts = {rng.randrange(MINUTES) for _ in range(bursts_per_day)}
    return lambda m: base + (height if any(s <= m < s + length for s in starts) else 0)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "azure-functions-synthetic.d01.csv"
    rng = random.Random(SEED)
    functions = [
        # (owner, app, function, trigger, mean invocations per minute at minute m, random?)
        ("shop", "frontend", "render-page", "http", diurnal(14 * 60, 20, 0.8), True),
        ("shop", "frontend", "search", "http", diurnal(13 * 60, 8, 0.9), True),
        ("shop", "backend", "checkout", "http", diurnal(19 * 60, 2, 0.9), True),
        ("shop", "backend", "nightly-report", "timer", timer(24 * 60 // 2), False),
        ("iot", "ingest", "telemetry", "event", bursts(rng, 3, 12, 40, 4), True),
        ("iot", "ingest", "heartbeat", "timer", timer(1), False),
        ("iot", "jobs", "resize", "queue", bursts(rng, 0.2, 20, 25, 2), True),
        ("media", "pipeline", "on-upload", "storage", diurnal(10 * 60, 1, 0.5), True),
        ("media", "pipeline", "cleanup", "timer", timer(15), False),
        ("tools", "admin", "rare-webhook", "http", lambda m: 0.01, True),
        ("tools", "admin", "orchestrate", "orchestration", diurnal(9 * 60, 0.5, 1.0), True),
        ("tools", "misc", "unused", "others", lambda m: 0, False),
    ]
    with open(out, "w", newline="\n") as f:
        f.write(",".join(["HashOwner", "HashApp", "HashFunction", "Trigger"] + [str(m) for m in range(1, MINUTES + 1)]))
        f.write("\n")
        for owner, app, name, trigger, mean, random_counts in functions:
            counts = [poisson(rng, mean(m)) if random_counts else int(mean(m)) for m in range(1, MINUTES + 1)]
            row = [digest(owner), digest(f"{owner}/{app}"), digest(f"{owner}/{app}/{name}"), trigger]
            f.write(",".join(row + [str(c) for c in counts]))
            f.write("\n")


if __name__ == "__main__":
    main()
