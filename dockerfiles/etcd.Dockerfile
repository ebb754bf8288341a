# sebs/etcd:<suite>: Debian's etcd-server, for the docker-compose deployment on a machine that
# cannot pull an etcd image. Kubernetes deployments may use this image or an upstream one.
ARG BASE=sebs/base:bookworm
FROM ${BASE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y etcd-server \
    && rm -rf /var/lib/apt/lists/* \
    && install -d -o etcd -g etcd -m 0700 /var/lib/etcd/data
LABEL org.sebs.fleet-image=etcd \
      org.opencontainers.image.title="etcd (Debian)"
USER etcd
WORKDIR /var/lib/etcd
EXPOSE 2379 2380
ENTRYPOINT ["/usr/bin/etcd"]
CMD ["--data-dir", "/var/lib/etcd/data"]
