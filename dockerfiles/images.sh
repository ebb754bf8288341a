#!/usr/bin/env bash
# Builds the images of the Docker and OpenWhisk platforms, without pulling anything:
#
#   sebs/base:<suite>              Debian, from base-image.sh (debootstrap + docker import)
#   sebs/build:<suite>             python3 + pip, nodejs + npm: installs function dependencies
#   sebs/run:<language>-<version>  one per runtime of `runtimes` for the suite
#
#   dockerfiles/images.sh [SUITE...]      default: bookworm (python 3.11, nodejs 18)
#
# The base image is made only when missing; the others are rebuilt from Docker's layer cache, so
# a second run takes seconds. Each run image is checked to have the version its tag says.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(bookworm)

# The classic builder: it needs no buildx plugin and, with the host's network, reaches the
# package mirrors the way the host does (builds run no bridge network).
build() { # TAG DOCKERFILE BASE
    local started=$SECONDS log
    log="$(mktemp)"
    if ! DOCKER_BUILDKIT=0 docker build --network host --build-arg "BASE=$3" --build-arg "SUITE=$suite" \
        -t "$1" -f "$here/$2" "$here" >"$log" 2>&1; then
        tail -30 "$log" >&2
        rm -f "$log"
        echo "images.sh: building $1 from dockerfiles/$2 failed" >&2
        exit 1
    fi
    rm -f "$log"
    echo "image $1 ready in $((SECONDS - started)) s"
}

for suite in "${suites[@]}"; do
    grep -qE "^[a-z]+ +[0-9.]+ +$suite\$" "$here/runtimes" \
        || { echo "images.sh: no runtime of dockerfiles/runtimes comes from '$suite'" >&2; exit 2; }
    "$here/base-image.sh" "$suite"
    build "sebs/build:$suite" build.Dockerfile "sebs/base:$suite"
    while read -r language version from; do
        [ "$from" = "$suite" ] || continue
        tag="sebs/run:$language-$version"
        build "$tag" "run.$language.Dockerfile" "sebs/base:$suite"
        case "$language" in
            python) found="$(docker run --rm --network none "$tag" python3 --version)" ;;
            nodejs) found="$(docker run --rm --network none "$tag" node --version)" ;;
        esac
        found="${found##* }"; found="${found#v}"
        case "$found" in
            "$version" | "$version".*) ;;
            *) echo "images.sh: $tag has $language $found, not $version: fix dockerfiles/runtimes" >&2; exit 1 ;;
        esac
    done < <(grep -vE '^\s*(#|$)' "$here/runtimes")
done
