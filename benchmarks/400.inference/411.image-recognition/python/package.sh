#!/usr/bin/env bash
# A CPU-only PyTorch from PyPI alone. PyPI's x86_64 torch wheel is built with CUDA and depends on
# ~3 GB of nvidia-* packages; its libraries link against CUDA's, so it does not import without
# them. Here the wheels are installed without their dependencies, and cuda_stubs.py gives every
# missing CUDA library a stub that only says "no device" (the CPU code never calls them):
# torch imports, torch.cuda.is_available() is False, and the package is ~1.4 GB.
#
# Arguments (SeBS's): package directory, verbosity, architecture. $PYTHON is the runtime.
set -euo pipefail
package="$1"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"
wheels=(torch==2.15.0 torchvision==0.29.2)
# The wheels (540 MB) are kept in a cache of their own, so that a rebuilt package does not
# download them again (pip's HTTP cache does not keep them on every index).
cache="${SEBS_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sebs-wheels}"
mkdir -p "$cache"
pip=("$python" -m pip --disable-pip-version-check --no-input --quiet)
"${pip[@]}" download --no-deps --dest "$cache" "${wheels[@]}"
"${pip[@]}" install --no-deps --no-index --find-links "$cache" --no-warn-script-location \
    --target "$package/.python_packages" "${wheels[@]}"
"$python" "$here/cuda_stubs.py" "$package/.python_packages"
