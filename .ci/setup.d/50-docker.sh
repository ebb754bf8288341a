# The Docker platform's engine and images (tests of coordinator/platforms/docker and
# tests/docker_invoke.rs): Debian's docker.io and debootstrap, a running dockerd, and the images of
# dockerfiles/ (base image made once, the others rebuilt from Docker's layer cache in seconds).
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
ci_apt_install "${missing[@]}"
bash dockerfiles/engine.sh
bash dockerfiles/images.sh
