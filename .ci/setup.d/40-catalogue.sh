# The benchmark catalogue: what its end-to-end regression test (tests/catalogue.rs) needs.
#
# - ffmpeg/ffprobe (Debian) for 220.video-processing and its generated video;
# - gcc, readelf and nm for 411.image-recognition's CUDA stub libraries (CPU-only torch);
# - caches under ~/.cache, kept between CI runs: pip's wheels (torch's 540 MB among them, pip's
#   default ~/.cache/pip), npm's packages, and the test's sebs cache (built packages, the tools
#   venv, generated data), so that a warm run builds and generates nothing.
missing=()
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || missing+=(ffmpeg)
command -v gcc >/dev/null || missing+=(gcc)
command -v readelf >/dev/null && command -v nm >/dev/null || missing+=(binutils)
ci_apt_install "${missing[@]}"
export npm_config_cache="$HOME/.cache/npm"
export SEBS_CATALOGUE_CACHE="$HOME/.cache/sebs-catalogue"
mkdir -p "$SEBS_CATALOGUE_CACHE"
ffmpeg -version | head -n 1
