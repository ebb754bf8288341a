#!/usr/bin/env bash
# Builds the images of a sebs fleet, without pulling anything:
#
#   sebs/coordinator:<tag>   `sebs coordinator` + the catalogue + python3/node (on sebs/build)
#   sebs/worker:<tag>        `sebs worker` alone (on sebs/base)
#   sebs/etcd:<suite>        Debian's etcd-server (on sebs/base), for docker-compose
#
#   dockerfiles/fleet-images.sh [--binary PATH] [--tag TAG] [--suite SUITE]
#                               [--coordinator-packages "DEBIAN PACKAGES"]
#
#   --binary PATH   the sebs binary to put in the images [default: build it with
#                   `cargo build --release --locked -p sebs-coordinator --bin sebs`]
#   --tag TAG       the coordinator's and the worker's tag [default: the workspace's version]
#   --suite SUITE   the Debian release of the base images [default: bookworm]; the binary is
#                   built on the host, so its glibc must be no newer than the suite's
#   --coordinator-packages "P..."   more Debian packages in the coordinator image, e.g.
#                   "ffmpeg gcc binutils" for the benchmarks whose config.json asks for them
#
# The base and build images come from images.sh (made when missing). The binary is stripped of
# its debug information into a staging folder with the catalogue, and each image is rebuilt from
# Docker's layer cache: only a changed binary or catalogue makes new layers, so a second run takes
# seconds. Untagged images these builds left behind are removed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"

binary=""
tag=""
suite=bookworm
packages=""
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) binary="$2"; shift 2 ;;
        --tag) tag="$2"; shift 2 ;;
        --suite) suite="$2"; shift 2 ;;
        --coordinator-packages) packages="$2"; shift 2 ;;
        -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
        *) echo "fleet-images.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
if [ -z "$tag" ]; then
    tag="$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' "$root/Cargo.toml")"
fi
if [ -z "$binary" ]; then
    (cd "$root" && cargo build --release --locked -p sebs-coordinator --bin sebs)
    binary="${CARGO_TARGET_DIR:-$root/target}/release/sebs"
fi
[ -x "$binary" ] || { echo "fleet-images.sh: $binary is not an executable" >&2; exit 2; }

# The build image (for the coordinator) and the base image; cached, seconds when present.
if ! docker image inspect "sebs/build:$suite" "sebs/base:$suite" >/dev/null 2>&1; then
    "$here/images.sh" "$suite"
fi

context="$(mktemp -d "${TMPDIR:-/tmp}/sebs-fleet-images.XXXXXX")"
trap 'rm -rf "$context"' EXIT
# Without debug information the binary is a third of a debug build's size; the layer cache
# compares contents, so the same binary gives the same layer.
strip --strip-debug -o "$context/sebs" "$binary" 2>/dev/null || cp "$binary" "$context/sebs"
chmod 0755 "$context/sebs"
mkdir "$context/catalogue"
cp -r "$root/benchmarks" "$root/benchmark-data" "$root/config" "$context/catalogue/"
find "$context/catalogue" \( -name __pycache__ -o -name node_modules \) -prune -exec rm -rf {} +

build() { # TAG DOCKERFILE BASE [BUILD-ARG...]
    local started=$SECONDS log
    log="$(mktemp)"
    if ! DOCKER_BUILDKIT=0 docker build --network host --build-arg "BASE=$3" "${@:4}" \
        -t "$1" -f "$here/$2" "$context" >"$log" 2>&1; then
        tail -30 "$log" >&2
        rm -f "$log"
        echo "fleet-images.sh: building $1 from dockerfiles/$2 failed" >&2
        exit 1
    fi
    rm -f "$log"
    echo "image $1 ready in $((SECONDS - started)) s"
}

build "sebs/etcd:$suite" etcd.Dockerfile "sebs/base:$suite"
build "sebs/worker:$tag" worker.Dockerfile "sebs/base:$suite"
build "sebs/coordinator:$tag" coordinator.Dockerfile "sebs/build:$suite" --build-arg "EXTRA_PACKAGES=$packages"

# Each image must run here: the binary against the image's libraries, etcd as installed.
docker run --rm --network none "sebs/worker:$tag" --version >/dev/null
docker run --rm --network none --entrypoint python3 "sebs/coordinator:$tag" -c 'import venv, ensurepip'
docker run --rm --network none "sebs/etcd:$suite" --version >/dev/null
# A rebuilt binary leaves the previous images untagged; only those of these Dockerfiles go.
docker image prune --force --filter label=org.sebs.fleet-image >/dev/null
