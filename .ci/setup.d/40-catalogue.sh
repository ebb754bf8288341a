# The benchmark catalogue: what its end-to-end regression test (tests/catalogue.rs) needs.
#
# - ffmpeg/ffprobe (Debian) for 220.video-processing and its generated video;
# - gcc, readelf and nm for 411.image-recognition's CUDA stub libraries (CPU-only torch);
# - caches under ~/.cache, kept between CI runs: the test's sebs cache (built packages, torch's
#   1.4 GB among them, the tools venv, generated data), torch's wheels (~/.cache/sebs-wheels,
#   540 MB, kept by 411's package.sh) and npm's packages. A warm run builds and generates nothing.
missing=()
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || missing+=(ffmpeg)
command -v gcc >/dev/null || missing+=(gcc)
command -v readelf >/dev/null && command -v nm >/dev/null || missing+=(binutils)
ci_apt_install "${missing[@]}"
export npm_config_cache="$HOME/.cache/npm"
export SEBS_CATALOGUE_CACHE="$HOME/.cache/sebs-catalogue"
mkdir -p "$SEBS_CATALOGUE_CACHE"
ffmpeg -version | sed -n 1p
