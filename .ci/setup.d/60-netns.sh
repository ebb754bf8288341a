# The fleet's region test (tests/fleet_regions.rs): network namespaces and veth pairs (`ip`,
# iproute2), netem delays (`tc`, iproute2) where the kernel has netem, else iptables DNAT to a
# delaying relay. Namespaces need root, which CI runs as.
missing=()
command -v ip >/dev/null && command -v tc >/dev/null || missing+=(iproute2)
command -v iptables >/dev/null || missing+=(iptables)
ci_apt_install "${missing[@]}"
ip -V
