# sebs/build:<suite>: installs a function package's dependencies (pip for Python, npm for
# Node.js) with the same interpreters as the run images of the same Debian release, so that
# compiled wheels and native modules match the runtime.
ARG BASE=sebs/base:bookworm
FROM ${BASE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y python3 python3-pip nodejs npm \
    && rm -rf /var/lib/apt/lists/*
# The platform runs builds as the calling user, who has no home in the image.
ENV HOME=/tmp \
    npm_config_cache=/tmp/.npm \
    npm_config_update_notifier=false \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_BREAK_SYSTEM_PACKAGES=1
WORKDIR /package
