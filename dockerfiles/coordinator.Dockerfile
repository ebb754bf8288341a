# sebs/coordinator:<tag>: `sebs coordinator` with what it needs at run time. Built by
# fleet-images.sh from a staging folder holding the `sebs` binary (built on the host, whose
# Debian bookworm glibc matches this image's) and the catalogue.
#
# On top of the build image (python3 + pip, nodejs + npm, the layers the Docker platform already
# built): python3-venv for the tools environment (generate.py and input.py), so that the
# coordinator prepares inputs and builds packages as on a developer's machine, and runs the local
# platform's functions when its workers share its network (docker-compose with host networking).
#
# The programs some benchmarks' config.json asks for are left out by default, being large:
# ffmpeg (220.video-processing) and gcc with binutils (411.image-recognition's package build).
# fleet-images.sh --coordinator-packages "ffmpeg gcc binutils" adds them (EXTRA_PACKAGES).
ARG BASE=sebs/build:bookworm
FROM ${BASE}
ARG EXTRA_PACKAGES=""
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv ${EXTRA_PACKAGES} \
    && rm -rf /var/lib/apt/lists/*
# One unprivileged user; its home holds the cache and the results (one volume in a deployment).
RUN groupadd --gid 10001 sebs \
    && useradd --uid 10001 --gid sebs --home-dir /var/lib/sebs --create-home --shell /usr/sbin/nologin sebs
LABEL org.sebs.fleet-image=coordinator \
      org.opencontainers.image.title="sebs coordinator" \
      org.opencontainers.image.description="The sebs fleet's coordinator: prepares, deploys and plans runs for its workers"
ENV SEBS_ROOT=/opt/sebs \
    HOME=/var/lib/sebs \
    npm_config_cache=/var/lib/sebs/.npm \
    npm_config_update_notifier=false
# The catalogue changes more often than the packages above and less often than the binary.
COPY catalogue/ /opt/sebs/
COPY sebs /usr/local/bin/sebs
USER 10001:10001
WORKDIR /var/lib/sebs
# 7070: gRPC (fleet and runs); 9090: --metrics-listen (/metrics, /healthz, /readyz).
EXPOSE 7070 9090
ENTRYPOINT ["/usr/local/bin/sebs"]
CMD ["coordinator", "--cache", "/var/lib/sebs/cache", "--results-dir", "/var/lib/sebs/results"]
