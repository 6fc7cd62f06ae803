#!/usr/bin/env python3
"""Validates Deploy/: the Kubernetes kinds against the real Kubernetes schemas
(kubernetes-validate, strict, Kubernetes KUBERNETES_VERSION) and the alert rules with Prometheus'
own checker (promtool check rules); the KEDA objects, the Kustomization and the PrometheusRule
wrapper against schemas here; and, for every kind, what Cashier requires of it and how the pieces
agree with each other and with the code — probes on the served paths, grace period over the
shutdown deadline, autoscaling capped at the partition count, selectors that select, settings
the code reads, metrics the code exports.

Usage: scripts/check-deploy.py   (scripts/ensure-deps.sh installs both tools)"""
import importlib.util, json, pathlib, re, shutil, subprocess, sys, tempfile
import warnings

import yaml
from jsonschema import Draft202012Validator

warnings.filterwarnings("ignore", category=DeprecationWarning)
root = pathlib.Path(__file__).resolve().parent.parent
deploy = root / "Deploy"
sources = "\n".join(p.read_text() for p in (root / "Sources").rglob("*.swift"))
telemetry = (root / "Sources/CashierWorker/Observability/Telemetry.swift").read_text()
exported = set(re.findall(r'"(cashier_[a-z_]+)"', telemetry))
problems = []

def problem(where, text):
    problems.append(f"{where}: {text}")

probe = {"type": "object", "required": ["httpGet"], "properties": {"httpGet": {"type": "object", "required": ["path", "port"]}}}
container = {
    "type": "object", "required": ["name", "image", "readinessProbe", "livenessProbe", "resources"],
    "properties": {
        "readinessProbe": {"allOf": [probe, {"properties": {"httpGet": {"properties": {"path": {"const": "/readyz"}}}}}]},
        "livenessProbe": {"allOf": [probe, {"properties": {"httpGet": {"properties": {"path": {"const": "/healthz"}}}}}]},
        "resources": {"type": "object", "required": ["requests", "limits"],
                      "properties": {"requests": {"type": "object", "required": ["cpu", "memory"]},
                                     "limits": {"type": "object", "required": ["memory"]}}},
    },
}
metadata = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"}}}
# The Kubernetes kinds' own schemas are kubernetes-validate's; these say what Cashier requires
# beyond them (probes, resources, a grace period, templates as stringData, PDB bounds), and,
# for the kinds Kubernetes does not define (KEDA, Kustomize, the Prometheus Operator), their
# shape as far as Cashier uses it.
kubernetes_kinds = {"Deployment", "Job", "PodDisruptionBudget", "Service", "ConfigMap", "Secret"}
KUBERNETES_VERSION = "1.35.0"
schemas = {
    "Deployment": {"type": "object", "required": ["spec"], "properties": {"spec": {
        "type": "object", "required": ["replicas", "selector", "template"],
        "properties": {"selector": {"type": "object", "required": ["matchLabels"]},
                       "template": {"type": "object", "required": ["metadata", "spec"], "properties": {"spec": {
                           "type": "object", "required": ["containers", "terminationGracePeriodSeconds"],
                           "properties": {"containers": {"type": "array", "minItems": 1, "items": container},
                                          "terminationGracePeriodSeconds": {"type": "integer"}}}}}}}}},
    "Job": {"type": "object"},
    "PodDisruptionBudget": {"type": "object", "required": ["spec"], "properties": {"spec": {
        "type": "object", "required": ["selector"], "oneOf": [{"required": ["maxUnavailable"]}, {"required": ["minAvailable"]}]}}},
    "ScaledObject": {"type": "object", "required": ["spec"], "properties": {"spec": {
        "type": "object", "required": ["scaleTargetRef", "minReplicaCount", "maxReplicaCount", "triggers"],
        "properties": {"triggers": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["type", "metadata"]}}}}}},
    "PrometheusRule": {"type": "object", "required": ["spec"], "properties": {"spec": {"type": "object", "required": ["groups"], "properties": {
        "groups": {"type": "array", "items": {"type": "object", "required": ["name", "rules"], "properties": {"rules": {"type": "array", "items": {
            "type": "object", "required": ["alert", "expr", "labels", "annotations"],
            "properties": {"labels": {"type": "object", "required": ["severity"]},
                           "annotations": {"type": "object", "required": ["summary"]}}}}}}}}}}},
    "Service": {"type": "object", "required": ["spec"], "properties": {"spec": {"type": "object", "required": ["selector", "ports"]}}},
    "ConfigMap": {"type": "object", "required": ["data"]},
    "Secret": {"type": "object", "required": ["stringData"]},
    "TriggerAuthentication": {"type": "object", "required": ["spec"]},
    "Kustomization": {"type": "object", "required": ["resources"]},
}

documents = []
for path in sorted(list((deploy / "kubernetes").glob("*.yaml")) + list((deploy / "monitoring").glob("*.yaml"))):
    try:
        for document in yaml.safe_load_all(path.read_text()):
            if document is not None:
                documents.append((path.name, document))
    except yaml.YAMLError as error:
        problem(path.name, f"does not parse: {error}")

by_kind = {}
for name, document in documents:
    kind = document.get("kind")
    if not document.get("apiVersion") or not kind:
        problem(name, "apiVersion and kind are required")
        continue
    if kind != "Kustomization":
        for error in Draft202012Validator(metadata).iter_errors(document.get("metadata", {})):
            problem(name, f"metadata: {error.message}")
    if kind not in schemas:
        problem(name, f"kind {kind} has no schema here; add one")
        continue
    for error in Draft202012Validator(schemas[kind]).iter_errors(document):
        problem(name, f"{kind} {'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}")
    by_kind.setdefault(kind, []).append((name, document))

def run_tool(command, what, installed=None):
    """Runs a validator; (exit status, output). A missing tool is a problem naming the fix."""
    if not (installed if installed is not None else shutil.which(command[0])):
        problem(what, f"{what} is not installed; run scripts/ensure-deps.sh")
        return None, ""
    done = subprocess.run(command, capture_output=True, text=True)
    return done.returncode, (done.stdout + done.stderr).strip()

# The Kubernetes kinds against the real schemas; kinds Kubernetes does not define are checked
# above, so only their "no schema" notices are expected.
manifests = sorted(str(p) for p in (deploy / "kubernetes").glob("*.yaml"))
status, output = run_tool(
    [sys.executable, "-m", "kubernetes_validate", "--strict", "--quiet", "-k", KUBERNETES_VERSION, *manifests], "kubernetes-validate",
    installed=importlib.util.find_spec("kubernetes_validate") is not None)
own_kinds = "|".join(sorted(set(schemas) - kubernetes_kinds))
for line in output.splitlines():
    if re.search(rf"Couldn't find schema for kind ({own_kinds}) ", line):
        continue
    problem("kubernetes-validate", line.replace(str(deploy) + "/", ""))
if status not in (None, 0) and not output:
    problem("kubernetes-validate", f"exited with status {status}")

# The alert rules (a PrometheusRule's spec is a Prometheus rule file) with promtool.
for name, document in by_kind.get("PrometheusRule", []):
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="cashier-rules-") as rules:
        yaml.safe_dump(document["spec"], rules, sort_keys=False)
        rules.flush()
        status, output = run_tool(["promtool", "check", "rules", "--lint-fatal", rules.name], name)
        if status not in (None, 0):
            found = [l.strip() for l in output.replace(rules.name, f"{name} spec").splitlines() if l.strip() and not l.startswith("Checking") and l.strip() != "FAILED:"]
            problem(name, "promtool check rules: " + "; ".join(found))

# The shutdown deadline in the code, plus the 4 s the service group allows for the flush.
deadline = int(re.search(r"shutdownDeadline: Duration = \.seconds\((\d+)\)", sources).group(1)) + 4
deployments = {d["metadata"]["name"]: d for _, d in by_kind.get("Deployment", [])}
for name, document in deployments.items():
    spec = document["spec"]
    labels = spec["template"]["metadata"].get("labels", {})
    if any(labels.get(k) != v for k, v in spec["selector"]["matchLabels"].items()):
        problem(name, "selector does not match the pod template's labels")
    grace = spec["template"]["spec"]["terminationGracePeriodSeconds"]
    if grace <= deadline:
        problem(name, f"terminationGracePeriodSeconds {grace} must exceed the shutdown deadline ({deadline} s)")

def group_of(deployment):
    for container in deployment["spec"]["template"]["spec"]["containers"]:
        for variable in container.get("env", []):
            if variable.get("name") == "CASHIER_GROUP_ID":
                return variable.get("value")

def selects(selector):
    return [n for n, d in deployments.items() if all(d["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in selector.items())]

for name, document in by_kind.get("PodDisruptionBudget", []):
    if not selects(document["spec"]["selector"]["matchLabels"]):
        problem(name, f"PodDisruptionBudget {document['metadata']['name']} selects no Deployment")
for name, document in by_kind.get("Service", []):
    if not selects(document["spec"]["selector"]):
        problem(name, f"Service {document['metadata']['name']} selects no Deployment")

config = next((d for _, d in by_kind.get("ConfigMap", []) if d["metadata"]["name"] == "cashier-config"), {})
partitions = {"orders.created": int(config.get("metadata", {}).get("annotations", {}).get("cashier.example/partitions-orders", 0)),
              "payments.retry": int(config.get("metadata", {}).get("annotations", {}).get("cashier.example/partitions-retry", 0))}
for name, document in by_kind.get("ScaledObject", []):
    spec = document["spec"]
    target = deployments.get(spec["scaleTargetRef"]["name"])
    if target is None:
        problem(name, f"ScaledObject {document['metadata']['name']} scales no Deployment of ours")
        continue
    for trigger in spec["triggers"]:
        topic, group = trigger["metadata"].get("topic"), trigger["metadata"].get("consumerGroup")
        if group != group_of(target):
            problem(name, f"trigger watches group {group}, but {target['metadata']['name']} consumes as {group_of(target)}")
        if not partitions.get(topic) or spec["maxReplicaCount"] > partitions[topic]:
            problem(name, f"maxReplicaCount {spec['maxReplicaCount']} must not exceed the {partitions.get(topic)} partitions of {topic}")

for name, document in by_kind.get("ConfigMap", []) + by_kind.get("Secret", []):
    values = document.get("data") or document.get("stringData") or {}
    for key in values:
        if key.startswith("CASHIER_") and f'"{key}"' not in sources and f'{key}' not in sources:
            problem(name, f"{key} is not a setting Cashier reads")

def metrics_in(expression):
    return {re.sub(r"_(bucket|count|sum)$", "", m) for m in re.findall(r"\bcashier_[a-z_]+", expression)}

for name, document in by_kind.get("PrometheusRule", []):
    for group in document["spec"]["groups"]:
        for rule in group["rules"]:
            for metric in metrics_in(rule["expr"]) - exported:
                problem(name, f"alert {rule['alert']} uses {metric}, which Cashier does not export")

dashboard = json.loads((deploy / "monitoring/grafana-dashboard.json").read_text())
expressions = [t["expr"] for p in dashboard.get("panels", []) for t in p.get("targets", [])]
if not expressions:
    problem("grafana-dashboard.json", "no panel queries")
for expression in expressions:
    for metric in metrics_in(expression) - exported:
        problem("grafana-dashboard.json", f"{metric} is not exported by Cashier")

for name, document in by_kind.get("Kustomization", []):
    for resource in document["resources"]:
        if not (deploy / "kubernetes" / resource).resolve().exists():
            problem(name, f"resource {resource} does not exist")

dockerfile = (deploy / "Dockerfile").read_text()
if "ge 2.2" not in dockerfile:
    problem("Dockerfile", "must refuse a runtime librdkafka older than 2.2")
if not re.search(r"^USER \d+", dockerfile, re.M):
    problem("Dockerfile", "must run as a non-root user")

for line in problems:
    print(line, file=sys.stderr)
print(f"deploy: {len(documents)} manifests, {len(expressions)} dashboard queries, {len(problems)} problems")
sys.exit(1 if problems else 0)
