#!/usr/bin/env bash
# Starts a Docker engine on this machine unless one answers already, and waits until it does.
#
# It runs without a bridge network and without touching iptables: every container of sebs uses
# the host's network (functions listen on 127.0.0.1 only), so no private-range network is made.
# Its log is /var/log/sebs-dockerd.log. The engine is left running for whoever needs it next.
set -euo pipefail
if docker info >/dev/null 2>&1; then
    exit 0
fi
command -v dockerd >/dev/null || { echo "engine.sh: dockerd is not installed (apt-get install docker.io)" >&2; exit 1; }
log=/var/log/sebs-dockerd.log
nohup dockerd --bridge=none --iptables=false --ip-masq=false >"$log" 2>&1 &
for _ in $(seq 1 120); do
    if docker info >/dev/null 2>&1; then
        echo "dockerd started (log: $log)"
        exit 0
    fi
    sleep 0.5
done
echo "engine.sh: dockerd did not answer within 60 s; its log ($log) ends with:" >&2
tail -20 "$log" >&2
exit 1
