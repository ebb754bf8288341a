#!/usr/bin/env bash
# Makes a Debian base image without pulling anything: debootstrap a minimal root file system, then
# `docker import` it. Reusable by every image of the project (function runtimes, the coordinator,
# the workers): `FROM sebs/base:<suite>`.
#
#   dockerfiles/base-image.sh [SUITE] [IMAGE]     defaults: bookworm, sebs/base:SUITE
#
# Does nothing when IMAGE exists (pass --rebuild to replace it). Needs root (debootstrap, chroot),
# debootstrap and a running Docker engine. About a minute on two cores.
#
# The image trusts the same certificate authorities as this machine: every certificate in
# /usr/local/share/ca-certificates is copied in, so that pip and npm inside the images reach
# package indexes behind a TLS-intercepting proxy as the host does.
set -euo pipefail

rebuild=""
args=()
for a in "$@"; do
    case "$a" in
        --rebuild) rebuild=1 ;;
        -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
        *) args+=("$a") ;;
    esac
done
suite="${args[0]:-bookworm}"
image="${args[1]:-sebs/base:$suite}"
mirror="${SEBS_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if [ -z "$rebuild" ] && docker image inspect "$image" >/dev/null 2>&1; then
    echo "base image $image exists"
    exit 0
fi
for tool in debootstrap docker chroot; do
    command -v "$tool" >/dev/null || { echo "base-image.sh: $tool is not installed" >&2; exit 1; }
done

root="$(mktemp -d "${TMPDIR:-/tmp}/sebs-base-$suite.XXXXXX")"
trap 'rm -rf "$root"' EXIT
started=$SECONDS
echo "debootstrap $suite into $root (from $mirror)"
debootstrap --variant=minbase --include=ca-certificates "$suite" "$root" "$mirror" \
    >"$root.log" 2>&1 || { tail -20 "$root.log" >&2; rm -f "$root.log"; exit 1; }
rm -f "$root.log"

# Security and point-release updates as well as the release itself.
case "$suite" in
    sid | unstable) ;;
    *)
        cat >"$root/etc/apt/sources.list" <<SOURCES
deb $mirror $suite main
deb $mirror $suite-updates main
deb ${SEBS_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security} $suite-security main
SOURCES
        ;;
esac
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    chroot "$root" update-ca-certificates >/dev/null 2>&1
fi
# Smaller image: no package cache, lists, documentation or locales beyond C.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/*
cat >"$root/etc/apt/apt.conf.d/90sebs" <<'APT'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
APT

tar --numeric-owner -C "$root" -c . | docker import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    --message "debootstrap --variant=minbase $suite" \
    - "$image" >/dev/null
echo "base image $image built in $((SECONDS - started)) s ($(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}'))"
