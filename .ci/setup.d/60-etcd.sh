# The fleet on etcd: etcd itself for tests/fleet_etcd.rs (Debian's etcd-server, binary `etcd`),
# and protoc, which the etcd-client crate's build script compiles etcd's API with.
missing=()
command -v etcd >/dev/null || missing+=(etcd-server)
command -v protoc >/dev/null || missing+=(protobuf-compiler)
ci_apt_install "${missing[@]}"
etcd --version | sed -n 1p
protoc --version
