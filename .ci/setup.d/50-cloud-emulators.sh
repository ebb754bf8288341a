# Storage emulators for the Azure and Google Cloud platforms' tests: azurite (npm) serves Azure
# Blob storage, gcp-storage-emulator (PyPI) Cloud Storage's JSON API. Both start on free ports of
# 127.0.0.1 in each test. Measured on this machine: azurite ~30 s, gcp-storage-emulator ~5 s
# from the registries; nothing when already installed. npm keeps its download cache in
# ~/.npm and pip in ~/.cache/pip, so a reinstall on the same machine is faster.
if ! command -v azurite-blob >/dev/null; then
    npm install --global --no-audit --no-fund --loglevel=error azurite@3
fi
if ! command -v gcp-storage-emulator >/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check gcp-storage-emulator
fi
azurite-blob --version
python3 -m pip show gcp-storage-emulator 2>/dev/null | sed -n 's/^Version: /gcp-storage-emulator /p'
# The TLS trigger test makes its certificates with the openssl command.
command -v openssl >/dev/null || ci_apt_install openssl
