#!/usr/bin/env bash
# Runs the engine benchmark (worker/benches/engine.rs) after installing the load generators it
# compares against: wrk (Debian's package) and oha (crates.io, built with `cargo install`).
# Arguments are passed to the benchmark, e.g. `bash worker/benches/run.sh --invocations 2000000`.
# A missing oha is not fatal: the benchmark then says that it skipped it.
set -uo pipefail

cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sebs-target}"
export PATH="$HOME/.cargo/bin:$PATH"

if ! command -v wrk >/dev/null 2>&1; then
    echo "run.sh: installing wrk (apt-get)" >&2
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq >/dev/null \
        && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null \
        || echo "run.sh: could not install wrk; the benchmark will skip it" >&2
fi

if ! command -v oha >/dev/null 2>&1; then
    echo "run.sh: installing oha (cargo install --locked oha); this compiles it and takes minutes" >&2
    started=$(date +%s)
    if cargo install --locked oha >/tmp/sebs-oha-install.log 2>&1; then
        echo "run.sh: oha installed in $(($(date +%s) - started)) s" >&2
    else
        echo "run.sh: could not install oha after $(($(date +%s) - started)) s (log: /tmp/sebs-oha-install.log); the benchmark will skip it" >&2
    fi
fi

exec cargo bench -p sebs-worker --bench engine -- "$@"
