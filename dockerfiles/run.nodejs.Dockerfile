# sebs/run:nodejs-<version>: runs a Node.js function package mounted (Docker) or copied
# (OpenWhisk) at /function with the wrapper's server.js.
ARG BASE=sebs/base:bookworm
FROM ${BASE}
# The build image of the same Debian release installs this runtime's dependencies.
ARG SUITE=bookworm
LABEL org.sebs.build-image=sebs/build:${SUITE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y nodejs \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /function
CMD ["node", "server.js"]
