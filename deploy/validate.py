#!/usr/bin/env python3
"""Validates deploy/ offline: the Helm chart, the Kubernetes manifests and the compose file.

    python3 deploy/validate.py [--kube-version 1.32.0] [--update]

Needs the packages of .ci/setup.d/70-cluster.sh (its venv: ~/.cache/sebs-cluster-tools):
helm-python-sdk (Helm's own Go SDK as a library: lint and template exactly as `helm lint` and
`helm template` do) and kubernetes-validate (the JSON schemas of each Kubernetes release). What it
checks, in order:

1. `helm lint --strict` of deploy/helm/sebs, against --kube-version, for every variant below.
2. `helm template` of each variant; every object it renders is checked against the schema of
   --kube-version in strict mode (unknown fields are errors), then against what the fleet
   needs (probes, non-root, resources, scrape annotations, one workload per region, etcd's
   endpoints).
3. Values the chart must refuse (by values.schema.json or its templates: a wrong workers.kind,
   a region that is no label, two regions with one workload name, etcd off without endpoints,
   no coordinator and no coordinatorUrl, ...) fail to render, naming the value.
4. deploy/kubernetes/sebs.yaml is the chart rendered with its defaults (--update rewrites it),
   and every file of deploy/kubernetes/ passes the schema check; `kubectl kustomize` (offline)
   builds the kustomization when kubectl is installed.
5. deploy/docker-compose.yaml parses as Compose v2 (`docker compose config`) when installed.

No cluster is contacted: whether the objects are accepted by an API server, and run, is not
checked here (deploy/README.md).
"""

import argparse
import copy
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import helm_python as helm
import kubernetes_validate
import yaml

DEPLOY = Path(__file__).resolve().parent
CHART = DEPLOY / "helm" / "sebs"
PLAIN = DEPLOY / "kubernetes"
GENERATED = PLAIN / "sebs.yaml"
RELEASE, NAMESPACE = "sebs", "sebs"
HEADER = """\
# Generated from the Helm chart deploy/helm/sebs with its default values (release "sebs",
# namespace "sebs") by `python3 deploy/validate.py --update`: change the chart, not this file.
# Apply with `kubectl apply -k deploy/kubernetes` after making the secrets (deploy/README.md).
"""

# Values beside the defaults that every template branch is rendered with at least once.
VARIANTS = {
    "defaults": {},
    "external etcd, DaemonSet workers, persistence, tracing": {
        "etcd": {"enabled": False, "external": {"endpoints": ["https://etcd-0.example:2379", "https://etcd-1.example:2379"],
                                                "caSecret": "etcd-ca"}},
        "workers": {"kind": "DaemonSet", "regions": [
            {"name": "us-east-1", "nodeSelector": {"topology.kubernetes.io/region": "us-east-1"}},
            {"name": "eu-west-1", "nodeSelector": {"topology.kubernetes.io/region": "eu-west-1"}},
            {"name": "ap_south.1", "nodeSelector": {"topology.kubernetes.io/region": "ap-south-1"}},
        ]},
        "coordinator": {
            "persistence": {"enabled": True, "storageClass": "fast"},
            "service": {"type": "LoadBalancer"},
            "envFrom": [{"secretRef": {"name": "sebs-aws-credentials"}}],
        },
        "otel": {"endpoint": "http://otel-collector.observability:4317", "env": {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}},
        "image": {"registry": "registry.example.com/", "tag": "0.1.0-test"},
        "imagePullSecrets": [{"name": "registry"}],
        "prometheus": {"annotations": False},
    },
    "workers only, for a regional cluster": {
        "coordinator": {"enabled": False},
        "etcd": {"enabled": False, "external": {"endpoints": ["https://etcd.example:2379"]}},
        "workers": {"coordinatorUrl": "https://coordinator.example:7070",
                    "regions": [{"name": "eu-central-1", "replicas": 4}, {"name": "eu-north-1", "replicas": 0},
                                {"name": "eu-south-1"}]},
    },
}

# Values the chart must refuse, with what its error must say.
REFUSED = [
    ({"workers": {"kind": "ReplicaSet"}}, "/workers/kind"),
    ({"workers": {"regions": [{"name": "US East"}]}}, "/workers/regions/0/name"),
    ({"workers": {"regions": [{"name": "eu-west-1-"}]}}, "/workers/regions/0/name"),
    ({"workers": {"regions": []}}, "/workers/regions"),
    ({"workers": {"regions": [{"name": "eu-west-1", "replica": 2}]}}, "replica"),
    ({"workers": {"coordinatorUrl": "coordinator:7070"}}, "/workers/coordinatorUrl"),
    ({"etcd": {"replicas": 0}}, "/etcd/replicas"),
    ({"etcd": {"enabled": False, "external": {"endpoints": ["http://etcd.example:2379"]}}}, "/etcd/external/endpoints/0"),
    ({"workers": {"regions": [{"name": "eu.west"}, {"name": "eu-west"}]}}, "both make the workload"),
    ({"etcd": {"enabled": False}}, "etcd.external.endpoints"),
    ({"coordinator": {"enabled": False}}, "workers.coordinatorUrl"),
]


class Failures:
    def __init__(self):
        self.messages = []

    def check(self, condition, message):
        if not condition:
            self.messages.append(message)


def merged(base, extra):
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def render(values):
    """The chart's objects for `values` (added to the defaults), in template order."""
    with helm.Chart.load(CHART) as chart:
        manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    text = ""
    for path in sorted(manifests):
        if path.endswith(".yaml") and manifests[path].strip():
            text += f"---\n# Source: {path}\n{manifests[path].strip()}\n"
    return text


def objects(text):
    return [doc for doc in yaml.safe_load_all(text) if doc]


def schema_check(docs, where, version, failures):
    for doc in docs:
        name = f"{where}: {doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            failures.messages.append(f"{name}: {e.message} at {'.'.join(map(str, e.path))}")
        except Exception as e:  # a schema missing for a kind is a failure too
            failures.messages.append(f"{name}: {e}")


def fleet_check(docs, values, where, failures):
    """What a sebs fleet needs of the rendered objects, beyond the schema."""
    kinds = {}
    for doc in docs:
        kinds.setdefault(doc["kind"], []).append(doc)
    workloads = [d for k in ("Deployment", "DaemonSet", "StatefulSet") for d in kinds.get(k, [])]
    for w in workloads:
        name = f"{where}: {w['kind']}/{w['metadata']['name']}"
        pod = w["spec"]["template"]
        spec = pod["spec"]
        failures.check(spec.get("securityContext", {}).get("runAsNonRoot") is True, f"{name}: not runAsNonRoot")
        failures.check(spec.get("automountServiceAccountToken") is False, f"{name}: mounts a service account token")
        for c in spec["containers"]:
            failures.check("limits" in c.get("resources", {}) and "requests" in c["resources"], f"{name}: no resources")
            failures.check(c.get("securityContext", {}).get("allowPrivilegeEscalation") is False, f"{name}: privilege escalation")
            failures.check("readinessProbe" in c and "livenessProbe" in c, f"{name}: no probes")
        component = pod["metadata"]["labels"]["app.kubernetes.io/component"]
        if component in ("coordinator", "worker"):
            c = spec["containers"][0]
            failures.check(c["readinessProbe"]["httpGet"]["path"] == "/readyz", f"{name}: readiness is not /readyz")
            failures.check(c["livenessProbe"]["httpGet"]["path"] == "/healthz", f"{name}: liveness is not /healthz")
            env = {e["name"] for e in c.get("env", [])}
            failures.check({"SEBS_METRICS_LISTEN", "SEBS_ETCD"} <= env, f"{name}: SEBS_METRICS_LISTEN or SEBS_ETCD missing")
            annotations = pod["metadata"].get("annotations") or {}
            scrape = values["prometheus"]["annotations"]
            failures.check((annotations.get("prometheus.io/scrape") == "true") == scrape, f"{name}: scrape annotations")
            failures.check(c["securityContext"].get("readOnlyRootFilesystem") is True, f"{name}: root file system writable")
    workers = [w for w in workloads if w["metadata"]["labels"].get("app.kubernetes.io/component") == "worker"]
    regions = [r["name"] for r in values["workers"]["regions"]]
    failures.check(sorted(w["metadata"]["labels"]["sebs/region"] for w in workers) == sorted(regions),
                   f"{where}: worker workloads are not one per region {regions}")
    replicas = {r["name"]: r.get("replicas", 1) for r in values["workers"]["regions"]}
    for w in workers:
        region = w["metadata"]["labels"]["sebs/region"]
        if w["kind"] == "Deployment":
            failures.check(w["spec"]["replicas"] == replicas[region],
                           f"{where}: the workers of {region} are not {replicas[region]}")
        failures.check(w["kind"] == values["workers"]["kind"], f"{where}: workers are not {values['workers']['kind']}s")
        failures.check(f"--region={region}" in w["spec"]["template"]["spec"]["containers"][0]["args"],
                       f"{where}: the workers of {region} do not say --region={region}")
        failures.check(w["spec"]["selector"]["matchLabels"].get("sebs/region") == region,
                       f"{where}: the workers of {region} select other regions' pods")
    config = next(d for d in kinds["ConfigMap"])["data"]
    etcd = values["etcd"]
    want = etcd["replicas"] if etcd["enabled"] else len(etcd["external"]["endpoints"])
    failures.check(len(config["SEBS_ETCD"].split(",")) == want, f"{where}: SEBS_ETCD has not {want} endpoints")
    failures.check(all(url.startswith("https://") for url in config["SEBS_ETCD"].split(",")),
                   f"{where}: SEBS_ETCD is not https:// (sebs refuses plain HTTP beyond the loopback)")
    ca = etcd["tlsSecret"] if etcd["enabled"] else etcd["external"].get("caSecret")
    for c in (w["spec"]["template"]["spec"]["containers"][0] for w in workloads
              if w["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] != "etcd"):
        env = {e["name"]: e.get("value") for e in c.get("env", [])}
        failures.check((env.get("SEBS_ETCD_CA") == "/etc/sebs/etcd/ca.crt") == bool(ca),
                       f"{where}: SEBS_ETCD_CA set iff etcd's CA is given")
    failures.check(("StatefulSet" in kinds) == etcd["enabled"], f"{where}: etcd StatefulSet present iff etcd.enabled")
    if etcd["enabled"]:
        headless = [s for s in kinds["Service"] if s["spec"].get("clusterIP") == "None"]
        failures.check(len(headless) == 1, f"{where}: etcd has no headless Service")
    failures.check(("NetworkPolicy" in kinds) == (etcd["enabled"] and etcd["networkPolicy"]),
                   f"{where}: etcd's NetworkPolicy present iff etcd.enabled and etcd.networkPolicy")
    failures.check(("Service" in kinds and any(s["metadata"]["name"].endswith("-coordinator") for s in kinds["Service"]))
                   == values["coordinator"]["enabled"], f"{where}: coordinator Service present iff coordinator.enabled")


def run(command, failures, what):
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    failures.check(result.returncode == 0, f"{what} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kube-version", default="1.32.0", help="the Kubernetes release to check against")
    parser.add_argument("--update", action="store_true", help="rewrite deploy/kubernetes/sebs.yaml")
    args = parser.parse_args()
    version = args.kube_version
    failures = Failures()
    with helm.Chart.load(CHART) as chart:
        defaults = chart.values

    for name, extra in VARIANTS.items():
        report = helm.lint(CHART, extra, strict=True, namespace=NAMESPACE, kube_version=f"v{version}")
        for m in report.get("messages", []):
            failures.check(m["severity"] < 2, f"helm lint ({name}): {m['path']}: {m['error']}")
        for e in report.get("errors") or []:
            failures.messages.append(f"helm lint ({name}): {e}")
        try:
            docs = objects(render(extra))
        except helm.HelmError as e:
            failures.messages.append(f"helm template ({name}): {e}")
            continue
        schema_check(docs, name, version, failures)
        fleet_check(docs, merged(defaults, extra), name, failures)
        print(f"chart ({name}): {len(docs)} objects")

    for extra, needle in REFUSED:
        try:
            render(extra)
            failures.messages.append(f"the chart accepted {extra}")
        except helm.HelmError as e:
            failures.check(needle in str(e), f"refusing {extra}, the chart does not name {needle}: {e}")
    print(f"chart: {len(REFUSED)} wrong values refused")

    generated = HEADER + render({})
    if args.update:
        GENERATED.write_text(generated)
    failures.check(GENERATED.is_file() and GENERATED.read_text() == generated,
                   f"{GENERATED.relative_to(DEPLOY.parent)} is not the chart's rendering: run python3 deploy/validate.py --update")
    for path in sorted(PLAIN.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            schema_check(objects(path.read_text()), path.name, version, failures)
    if shutil.which("kubectl"):
        built = objects(run(["kubectl", "kustomize", str(PLAIN)], failures, "kubectl kustomize"))
        failures.check(any(d["kind"] == "Namespace" for d in built), "kubectl kustomize: no Namespace")
        schema_check(built, "kustomize", version, failures)
        print(f"kubectl kustomize: {len(built)} objects")

    compose = next((c for c in (["docker", "compose"], ["docker-compose"])
                    if shutil.which(c[0]) and subprocess.run(c + ["version"], capture_output=True).returncode == 0), None)
    if compose:
        with tempfile.TemporaryDirectory() as secrets:
            for name in ("ca.pem", "coordinator.pem", "coordinator.key", "fleet.token"):
                Path(secrets, name).touch()
            env = dict(os.environ, SEBS_SECRETS=secrets)
            result = subprocess.run(compose + ["-f", str(DEPLOY / "docker-compose.yaml"), "config", "--quiet"],
                                    capture_output=True, text=True, env=env, timeout=60)
            failures.check(result.returncode == 0, f"docker compose config: {result.stderr}")
        print("docker-compose.yaml: valid")

    if failures.messages:
        print("\n".join(f"error: {m}" for m in failures.messages), file=sys.stderr)
        sys.exit(1)
    print(f"deploy/ is valid against Kubernetes {version}")


if __name__ == "__main__":
    main()
