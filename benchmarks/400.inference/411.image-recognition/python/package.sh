#!/usr/bin/env bash
# A CPU-only PyTorch from PyPI alone. PyPI's x86_64 torch wheel is built with CUDA and depends on
# ~3 GB of nvidia-* packages; its libraries link against CUDA's, so it does not import without
# them. Here the wheels are installed without their dependencies, and cuda_stubs.py gives every
# missing CUDA library a stub that only says "no device" (the CPU code never calls them):
# torch imports, torch.cuda.is_available() is False, and the package stays ~1.2 GB.
#
# Arguments (SeBS's): package directory, verbosity, architecture. $PYTHON is the runtime.
set -euo pipefail
package="$1"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"
"$python" -m pip install --disable-pip-version-check --no-input --quiet --no-deps \
    --no-warn-script-location --target "$package/.python_packages" \
    torch==2.15.0 torchvision==0.29.2
"$python" "$here/cuda_stubs.py" "$package/.python_packages"
rm -f "$here/cuda_stubs.py" "$here/package.sh"
