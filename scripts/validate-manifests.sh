#!/usr/bin/env bash
# Render every Kubernetes overlay in deploy/overlays and validate the output offline:
#   1. `kubectl kustomize deploy/overlays/<name>` must succeed;
#   2. kubernetes-validate --strict checks every object against the Kubernetes API schemas
#      (unknown fields are errors). It has no schema for KEDA's ScaledObject and only warns
#      on it; any other warning, error or a non-zero exit fails this script;
#   3. a Python check of how the objects fit together: selectors, resources, probes,
#      security contexts, autoscaling, and that every key of deploy/local/dataorch.toml is set.
# Exits 0 only when every overlay passes. Needs kubectl (1.30 or newer, which includes
# kustomize) and Python 3.11 or newer; installs kubernetes-validate into
# .tools/kubernetes-validate.
#
# Usage: scripts/validate-manifests.sh [OVERLAY...]   (default: every overlay)
# KUBERNETES_VERSIONS (default "1.30.0 1.32.0") sets the API versions validated against.
set -euo pipefail

cd "$(dirname "$0")/.."

KUBERNETES_VERSIONS=${KUBERNETES_VERSIONS:-"1.30.0 1.32.0"}
VALIDATOR_VERSION=1.37.0
TOOLS_DIR=.tools/kubernetes-validate

if ! command -v kubectl >/dev/null; then
    echo "error: kubectl not found; install kubectl 1.30 or newer (it includes kustomize)" >&2
    exit 1
fi
if ! command -v python3 >/dev/null; then
    echo "error: python3 not found; install it (apt-get install python3)" >&2
    exit 1
fi

# Sets VALIDATOR (the command) and PYTHON (an interpreter that imports yaml), installing
# kubernetes-validate into a venv, or with pip --target where venv is unavailable.
install_validator() {
    if [ -x "$TOOLS_DIR/bin/kubernetes-validate" ]; then
        VALIDATOR=("$TOOLS_DIR/bin/kubernetes-validate")
        PYTHON=("$TOOLS_DIR/bin/python")
        return
    fi
    if [ -d "$TOOLS_DIR/lib/kubernetes_validate" ]; then
        VALIDATOR=(env "PYTHONPATH=$TOOLS_DIR/lib" python3 -m kubernetes_validate)
        PYTHON=(env "PYTHONPATH=$TOOLS_DIR/lib" python3)
        return
    fi

    echo "installing kubernetes-validate $VALIDATOR_VERSION into $TOOLS_DIR"
    rm -rf "$TOOLS_DIR"
    if python3 -m venv "$TOOLS_DIR" >/dev/null 2>&1 \
        && "$TOOLS_DIR/bin/pip" install --quiet "kubernetes-validate==$VALIDATOR_VERSION"; then
        VALIDATOR=("$TOOLS_DIR/bin/kubernetes-validate")
        PYTHON=("$TOOLS_DIR/bin/python")
        return
    fi

    echo "python3 -m venv failed; installing with pip --target instead"
    rm -rf "$TOOLS_DIR"
    if ! python3 -m pip --version >/dev/null 2>&1; then
        echo "error: neither venv nor pip works for python3; install python3-venv or python3-pip" >&2
        exit 1
    fi
    python3 -m pip install --quiet --target "$TOOLS_DIR/lib" "kubernetes-validate==$VALIDATOR_VERSION"
    VALIDATOR=(env "PYTHONPATH=$TOOLS_DIR/lib" python3 -m kubernetes_validate)
    PYTHON=(env "PYTHONPATH=$TOOLS_DIR/lib" python3)
}

# Runs kubernetes-validate on one rendered file. Its exit code covers schema errors, but a
# kind or apiVersion it has no schema for is only a warning (exit 0), which would hide a
# mistyped apiVersion of a built-in kind. So every warning fails too, except the one for
# KEDA's ScaledObject, which the Python check below covers instead.
validate_schemas() {
    local file=$1 output status=0 version_args=() unexpected
    for version in $KUBERNETES_VERSIONS; do
        version_args+=(-k "$version")
    done
    output=$("${VALIDATOR[@]}" --strict --quiet "${version_args[@]}" "$file" 2>&1) || status=$?
    unexpected=$(printf '%s\n' "$output" \
        | grep -v -e '^$' \
            -e "^WARN .* Couldn't find schema for kind ScaledObject with api version keda\.sh/v1alpha1 " \
        || true)
    if [ "$status" -ne 0 ] || [ -n "$unexpected" ]; then
        printf '%s\n' "$output"
        echo "FAIL kubernetes-validate (exit $status) for $file"
        return 1
    fi
    local objects
    objects=$(grep -c '^kind:' "$file")
    echo "ok   kubernetes-validate --strict: $objects objects against Kubernetes $KUBERNETES_VERSIONS (ScaledObject has no schema there)"
}

# Checks how the rendered objects fit together. Arguments: rendered file, overlay name.
check_consistency() {
    "${PYTHON[@]}" - "$1" "$2" deploy/local/dataorch.toml <<'PYTHON'
import re
import sys

import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python before 3.11
    print("error: the consistency check needs Python 3.11 or newer (tomllib)")
    sys.exit(1)

rendered_path, overlay, toml_path = sys.argv[1:4]
with open(rendered_path) as f:
    objects = [o for o in yaml.safe_load_all(f) if o]

errors = []

# Keys that the runtime contract sets although deploy/local/dataorch.toml does not list
# them yet. NOTE: drop an entry once the file gains the key.
KEYS_NOT_YET_IN_TOML = {"DATAORCH__OPS__LISTEN"}
# Keys that must come from the Secret dataorch-secrets, never from the ConfigMap.
SECRET_KEYS = {
    "DATAORCH__SECURITY__DATA_KEY",
    "DATAORCH__DATABASE__URL",
    "DATAORCH__GATEWAY__ADMIN_TOKEN",
    "DATAORCH__PROVIDERS__KYB__API_KEY",
    "DATAORCH__PROVIDERS__BUSINESS_CREDIT__API_KEY",
    "DATAORCH__PROVIDERS__CONSUMER_CREDIT__API_KEY",
    "DATAORCH__PROVIDERS__BANK_DATA__API_KEY",
}
# The Secret that production operators create. It is absent from the rendered output.
EXTERNAL_SECRET = "dataorch-secrets"
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}


def fail(message):
    errors.append(message)


def name_of(obj):
    return f"{obj['kind']}/{obj['metadata']['name']}"


def namespace_of(obj):
    return obj["metadata"].get("namespace", "")


def selector_matches(selector, labels):
    """Return whether a LabelSelector (matchLabels and matchExpressions) selects labels."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def pod_template(obj):
    return obj["spec"]["template"]


workloads = [o for o in objects if o["kind"] in WORKLOAD_KINDS]
by_kind_name = {(o["kind"], o["metadata"]["name"]): o for o in objects}


def workloads_selected(namespace, selector):
    return [
        workload
        for workload in workloads
        if namespace_of(workload) == namespace
        and selector_matches(selector, pod_template(workload)["metadata"].get("labels") or {})
    ]


# Namespace: an overlay is deployed to one namespace.
namespaces = {namespace_of(o) for o in objects}
if len(namespaces) != 1 or "" in namespaces:
    fail(f"objects must all share one namespace set by the overlay, found {sorted(namespaces)}")

# Pods: resources, probes, security context, images, referenced ConfigMaps, Secrets, PVCs.
config_maps = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ConfigMap"}
secrets = {o["metadata"]["name"] for o in objects if o["kind"] == "Secret"}
claims = {o["metadata"]["name"] for o in objects if o["kind"] == "PersistentVolumeClaim"}
secret_env = set()

for workload in workloads:
    where = name_of(workload)
    spec = pod_template(workload)["spec"]
    pod_security = spec.get("securityContext") or {}
    template_claims = {
        t["metadata"]["name"] for t in workload["spec"].get("volumeClaimTemplates") or []
    }
    for volume in spec.get("volumes") or []:
        if "configMap" in volume and volume["configMap"]["name"] not in config_maps:
            fail(f"{where}: volume {volume['name']} uses missing ConfigMap {volume['configMap']['name']}")
        if "persistentVolumeClaim" in volume:
            claim = volume["persistentVolumeClaim"]["claimName"]
            if claim not in claims:
                fail(f"{where}: volume {volume['name']} uses missing PersistentVolumeClaim {claim}")
    if pod_security.get("runAsUser") == 0:
        fail(f"{where}: pod securityContext.runAsUser is 0 (root)")
    if spec.get("automountServiceAccountToken") is not False:
        fail(f"{where}: set automountServiceAccountToken: false (no pod calls the Kubernetes API)")

    for container in spec["containers"]:
        location = f"{where} container {container['name']}"
        security = container.get("securityContext") or {}

        image = container.get("image", "")
        last_part = image.rsplit("/", 1)[-1]
        if "@" not in image and (":" not in last_part or last_part.endswith(":latest")):
            fail(f"{location}: image {image!r} needs a fixed tag or digest (the overlay's images: list)")

        resources = container.get("resources") or {}
        for section in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in (resources.get(section) or {}):
                    fail(f"{location}: missing resources.{section}.{resource}")

        if workload["kind"] != "Job":
            for probe in ("livenessProbe", "readinessProbe"):
                if probe not in container:
                    fail(f"{location}: missing {probe}")

        run_as_non_root = security.get("runAsNonRoot", pod_security.get("runAsNonRoot"))
        if run_as_non_root is not True:
            fail(f"{location}: runAsNonRoot must be true")
        if security.get("runAsUser", pod_security.get("runAsUser")) in (0, None):
            fail(f"{location}: runAsUser must be a non-zero numeric user")
        if security.get("readOnlyRootFilesystem") is not True:
            fail(f"{location}: readOnlyRootFilesystem must be true")
        if security.get("allowPrivilegeEscalation") is not False:
            fail(f"{location}: allowPrivilegeEscalation must be false")
        if "ALL" not in ((security.get("capabilities") or {}).get("drop") or []):
            fail(f"{location}: capabilities.drop must contain ALL")
        seccomp = security.get("seccompProfile", pod_security.get("seccompProfile")) or {}
        if seccomp.get("type") != "RuntimeDefault":
            fail(f"{location}: seccompProfile.type must be RuntimeDefault")

        for source in container.get("envFrom") or []:
            if "configMapRef" in source and source["configMapRef"]["name"] not in config_maps:
                fail(f"{location}: envFrom uses missing ConfigMap {source['configMapRef']['name']}")
        for variable in container.get("env") or []:
            value_from = variable.get("valueFrom") or {}
            if "secretKeyRef" in value_from:
                ref = value_from["secretKeyRef"]
                secret_env.add(variable["name"])
                if variable["name"] != ref["key"]:
                    fail(f"{location}: {variable['name']} reads Secret key {ref['key']}; use the variable's name as the key")
                if ref["name"] not in secrets and ref["name"] != EXTERNAL_SECRET:
                    fail(f"{location}: {variable['name']} reads missing Secret {ref['name']}")
            if "configMapKeyRef" in value_from:
                ref = value_from["configMapKeyRef"]
                if ref["name"] not in config_maps and not ref.get("optional"):
                    fail(f"{location}: {variable['name']} reads missing ConfigMap {ref['name']}")
        for mount in container.get("volumeMounts") or []:
            names = {v["name"] for v in spec.get("volumes") or []} | template_claims
            if mount["name"] not in names:
                fail(f"{location}: volumeMount {mount['name']} has no volume")

# Services: each selector selects a workload that has the target port.
for service in (o for o in objects if o["kind"] == "Service"):
    where = name_of(service)
    selector = service["spec"].get("selector")
    if not selector:
        fail(f"{where}: has no selector")
        continue
    selected = workloads_selected(namespace_of(service), {"matchLabels": selector})
    if not selected:
        fail(f"{where}: selector {selector} matches no workload's pod labels")
    for port in service["spec"]["ports"]:
        target = port.get("targetPort", port["port"])
        for workload in selected:
            container_ports = [
                p for c in pod_template(workload)["spec"]["containers"] for p in c.get("ports") or []
            ]
            if not any(p.get("name") == target or p["containerPort"] == target for p in container_ports):
                fail(f"{where}: targetPort {target} is not a port of {name_of(workload)}")

# NetworkPolicies: the policy's podSelector and every in-namespace pod peer select a workload.
for policy in (o for o in objects if o["kind"] == "NetworkPolicy"):
    where = name_of(policy)
    namespace = namespace_of(policy)
    if not workloads_selected(namespace, policy["spec"]["podSelector"]):
        fail(f"{where}: podSelector {policy['spec']['podSelector']} matches no workload's pod labels")
    rules = [("from", r) for r in policy["spec"].get("ingress") or []]
    rules += [("to", r) for r in policy["spec"].get("egress") or []]
    for direction, rule in rules:
        for peer in rule.get(direction) or []:
            if "podSelector" in peer and "namespaceSelector" not in peer:
                if not workloads_selected(namespace, peer["podSelector"]):
                    fail(f"{where}: peer podSelector {peer['podSelector']} matches no workload's pod labels")

# PodDisruptionBudgets: maxUnavailable 1 (minAvailable 1 would block draining a node that
# runs a single-replica workload), and the selector selects a workload.
for budget in (o for o in objects if o["kind"] == "PodDisruptionBudget"):
    where = name_of(budget)
    if budget["spec"].get("maxUnavailable") != 1 or "minAvailable" in budget["spec"]:
        fail(f"{where}: use maxUnavailable: 1 and no minAvailable")
    if not workloads_selected(namespace_of(budget), budget["spec"]["selector"]):
        fail(f"{where}: selector matches no workload's pod labels")
for workload in workloads:
    if workload["kind"] == "Job":
        continue
    labels = pod_template(workload)["metadata"].get("labels") or {}
    if not any(
        selector_matches(budget["spec"]["selector"], labels)
        for budget in objects
        if budget["kind"] == "PodDisruptionBudget"
    ):
        fail(f"{name_of(workload)}: no PodDisruptionBudget selects its pods")

# Autoscaling: every target exists, KEDA alone scales the worker, and its NATS settings
# match the configuration.
# kustomize appends a hash of the contents to generated names: dataorch-config-<hash>.
config_names = [n for n in config_maps if re.fullmatch(r"dataorch-config(-[a-z0-9]{10})?", n)]
if len(config_names) != 1:
    fail(f"expected one ConfigMap dataorch-config, found {config_names}")
config = config_maps[config_names[0]].get("data", {}) if config_names else {}

autoscaled = {}
for scaler in (o for o in objects if o["kind"] in ("HorizontalPodAutoscaler", "ScaledObject")):
    target = scaler["spec"]["scaleTargetRef"]
    key = (target.get("kind", "Deployment"), target["name"])
    if key not in by_kind_name:
        fail(f"{name_of(scaler)}: scaleTargetRef {key[0]}/{key[1]} does not exist")
    autoscaled.setdefault(key, []).append(name_of(scaler))
for key, scalers in autoscaled.items():
    if len(scalers) > 1:
        fail(f"{key[0]}/{key[1]} has more than one autoscaler: {scalers}")
    if "replicas" in by_kind_name.get(key, {}).get("spec", {}):
        fail(f"{key[0]}/{key[1]} sets spec.replicas although {scalers[0]} owns the replica count")

scaled_objects = [o for o in objects if o["kind"] == "ScaledObject"]
if not scaled_objects:
    fail("no KEDA ScaledObject for the workers")
stream_prefix = config.get("DATAORCH__NATS__STREAM_PREFIX", "DATAORCH")
for scaled in scaled_objects:
    where = name_of(scaled)
    spec = scaled["spec"]
    if not spec.get("minReplicaCount", 0) <= spec.get("maxReplicaCount", 100):
        fail(f"{where}: minReplicaCount exceeds maxReplicaCount")
    for trigger in spec.get("triggers") or []:
        if trigger.get("type") != "nats-jetstream":
            fail(f"{where}: unexpected trigger type {trigger.get('type')}")
            continue
        metadata = trigger.get("metadata") or {}
        for field in ("natsServerMonitoringEndpoint", "account", "stream", "consumer", "lagThreshold"):
            if field not in metadata:
                fail(f"{where}: nats-jetstream trigger misses {field}")
        if metadata.get("stream") != f"{stream_prefix}_COMMANDS":
            fail(f"{where}: stream {metadata.get('stream')} is not {stream_prefix}_COMMANDS")
        if metadata.get("consumer") != f"{stream_prefix}_worker":
            fail(f"{where}: consumer {metadata.get('consumer')} is not {stream_prefix}_worker")
        if not str(metadata.get("lagThreshold", "")).isdigit():
            fail(f"{where}: lagThreshold must be a whole number in a string")
        endpoint = metadata.get("natsServerMonitoringEndpoint", "")
        host, _, port = endpoint.partition(":")
        parts = host.split(".")
        if len(parts) < 3 or parts[2] != "svc":
            fail(f"{where}: endpoint {endpoint} must be <service>.<namespace>.svc..., because KEDA runs in another namespace")
            continue
        if parts[1] != namespace_of(scaled):
            fail(f"{where}: endpoint {endpoint} names namespace {parts[1]}, not {namespace_of(scaled)}")
        service = by_kind_name.get(("Service", parts[0]))
        if service is None:
            fail(f"{where}: endpoint {endpoint} names missing Service {parts[0]}")
        elif not any(str(p["port"]) == port for p in service["spec"]["ports"]):
            fail(f"{where}: Service {parts[0]} has no port {port}")

# Workers drain for worker.shutdown_grace_secs after SIGTERM, so the pod must outlive that.
worker = by_kind_name.get(("Deployment", "dataorch-worker"))
if worker:
    grace = pod_template(worker)["spec"].get("terminationGracePeriodSeconds", 30)
    drain = int(config.get("DATAORCH__WORKER__SHUTDOWN_GRACE_SECS", 20))
    if grace <= drain + 5:
        fail(f"Deployment/dataorch-worker: terminationGracePeriodSeconds {grace} must exceed worker.shutdown_grace_secs ({drain}) by more than 5 s")

projector = by_kind_name.get(("Deployment", "dataorch-projector"))
if projector and projector["spec"].get("replicas") != 1:
    fail("Deployment/dataorch-projector: run exactly one projector per database (replicas: 1)")

nats = by_kind_name.get(("StatefulSet", "nats"))
stream_replicas = int(config.get("DATAORCH__NATS__REPLICAS", 1))
if nats and stream_replicas > nats["spec"].get("replicas", 1):
    fail(f"DATAORCH__NATS__REPLICAS={stream_replicas} exceeds the {nats['spec'].get('replicas', 1)} NATS servers")

# Configuration: every key of deploy/local/dataorch.toml is an environment variable in the
# ConfigMap, or a Secret reference when it is secret.
with open(toml_path, "rb") as f:
    toml = tomllib.load(f)


def leaf_keys(table, path=()):
    for key, value in table.items():
        if isinstance(value, dict):
            yield from leaf_keys(value, path + (key,))
        else:
            yield path + (key,)


toml_keys = {"DATAORCH__" + "__".join(path).upper() for path in leaf_keys(toml)}
for key in sorted(toml_keys):
    if key in SECRET_KEYS:
        if key not in secret_env:
            fail(f"{key} (secret) is read by no container from the Secret")
        if key in config:
            fail(f"{key} is secret but set in ConfigMap dataorch-config")
    elif key not in config:
        fail(f"{key} from {toml_path} is not set in ConfigMap dataorch-config")
for key in sorted(config):
    if key.startswith("DATAORCH__") and key not in toml_keys and key not in KEYS_NOT_YET_IN_TOML:
        fail(f"ConfigMap dataorch-config sets {key}, which is not a key of {toml_path}")

if errors:
    for message in errors:
        print(f"FAIL {message}")
    sys.exit(1)
print(
    f"ok   consistency of {overlay}: {len(workloads)} workloads, {len(objects)} objects; "
    f"selectors, probes, limits, security contexts and {len(toml_keys)} configuration keys"
)
PYTHON
}

install_validator

if [ "$#" -gt 0 ]; then
    overlays=("$@")
else
    overlays=()
    for dir in deploy/overlays/*/; do
        overlays+=("$(basename "$dir")")
    done
fi

rendered_dir=$(mktemp -d)
trap 'rm -rf "$rendered_dir"' EXIT

failed=()
for overlay in "${overlays[@]}"; do
    echo "== deploy/overlays/$overlay"
    rendered="$rendered_dir/$overlay.yaml"
    if ! kubectl kustomize "deploy/overlays/$overlay" >"$rendered"; then
        echo "FAIL kubectl kustomize deploy/overlays/$overlay"
        failed+=("$overlay")
        continue
    fi
    overlay_ok=true
    validate_schemas "$rendered" || overlay_ok=false
    check_consistency "$rendered" "$overlay" || overlay_ok=false
    if [ "$overlay_ok" = false ]; then
        failed+=("$overlay")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "manifest validation failed for: ${failed[*]}"
    exit 1
fi
echo "manifest validation passed for: ${overlays[*]}"
