# sebs/worker:<tag>: `sebs worker` alone. A worker only invokes (HTTP and the cloud SDKs are
# compiled into the binary, and TLS is rustls with the image's CA bundle), so it needs nothing
# but the base image: about 80 MB plus the binary, against the coordinator's runtimes.
ARG BASE=sebs/base:bookworm
FROM ${BASE}
RUN groupadd --gid 10001 sebs \
    && useradd --uid 10001 --gid sebs --home-dir /var/lib/sebs --create-home --shell /usr/sbin/nologin sebs
LABEL org.sebs.fleet-image=worker \
      org.opencontainers.image.title="sebs worker" \
      org.opencontainers.image.description="A sebs fleet worker: invokes the functions its coordinator deploys, from one region"
ENV HOME=/var/lib/sebs
COPY sebs /usr/local/bin/sebs
USER 10001:10001
WORKDIR /var/lib/sebs
# 9090: --metrics-listen (/metrics, /healthz, /readyz). A worker listens on nothing else.
EXPOSE 9090
ENTRYPOINT ["/usr/local/bin/sebs"]
CMD ["worker"]
