# sebs/run:python-<version>: runs a Python function package mounted (Docker) or copied
# (OpenWhisk) at /function with the wrapper's server.py.
ARG BASE=sebs/base:bookworm
FROM ${BASE}
# The build image of the same Debian release installs this runtime's dependencies.
ARG SUITE=bookworm
LABEL org.sebs.build-image=sebs/build:${SUITE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y python3 \
    && rm -rf /var/lib/apt/lists/*
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /function
CMD ["python3", "server.py"]
