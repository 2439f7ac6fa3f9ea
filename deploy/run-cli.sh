#!/usr/bin/env bash
# Run one `dataorch` command in the cluster, in a Job built from the overlay's migrations
# Job (dataorch-migrate): the same CLI image, configuration, Secret, network policies and,
# in the dev overlay, the SQLite volume. Prints the command's output and exits with the
# command's status. A Job that succeeded is deleted at once; a failed one stays for
# inspection until its ttlSecondsAfterFinished (600 s). Needs kubectl (with access to the
# cluster) and jq.
#
# Usage: deploy/run-cli.sh OVERLAY DATAORCH-ARGS...
#   deploy/run-cli.sh production templates import templates/smb-funding.yaml --tenant acme
#   deploy/run-cli.sh production keys create --tenant acme --name backend
#   deploy/run-cli.sh production dead-letters list
# With PRINT_ONLY=1 it prints the Job as JSON instead of running it.
# TIMEOUT_SECS (default 300) bounds the wait for the command.
set -euo pipefail

if [ "$#" -lt 2 ]; then
    echo "usage: $0 OVERLAY DATAORCH-ARGS...   (for example: $0 dev dead-letters list)" >&2
    exit 2
fi
overlay=$1
shift
overlay_dir="$(dirname "$0")/overlays/$overlay"
if [ ! -f "$overlay_dir/kustomization.yaml" ]; then
    echo "error: no overlay $overlay_dir; choose one of: $(ls "$(dirname "$0")/overlays" | tr "\n" " ")" >&2
    exit 2
fi
for tool in kubectl jq; do
    if ! command -v "$tool" >/dev/null; then
        echo "error: $tool not found; install it first" >&2
        exit 1
    fi
done

job_name="dataorch-cli-$(date +%Y%m%d%H%M%S)"
args_json=$(jq -cn '$ARGS.positional' --args -- "$@")

# `kubectl label --local` turns the rendered YAML into JSON without contacting the cluster.
job_json=$(kubectl kustomize "$overlay_dir" \
    | kubectl label --local -f - -o json "dataorch/cli-job=$job_name" \
    | jq -c --arg name "$job_name" --argjson args "$args_json" '
        select(.kind == "Job" and .metadata.name == "dataorch-migrate")
        | .metadata.name = $name
        | .spec.backoffLimit = 0
        | .spec.ttlSecondsAfterFinished = 600
        | .spec.template.spec.containers[0].args = $args')
if [ -z "$job_json" ]; then
    echo "error: the overlay $overlay has no Job dataorch-migrate to copy" >&2
    exit 1
fi

if [ "${PRINT_ONLY:-0}" = 1 ]; then
    jq . <<<"$job_json"
    exit 0
fi

namespace=$(jq -r '.metadata.namespace' <<<"$job_json")
kubectl create -f - <<<"$job_json" >/dev/null

deadline=$((SECONDS + ${TIMEOUT_SECS:-300}))
status=""
while [ "$SECONDS" -lt "$deadline" ]; do
    status=$(kubectl -n "$namespace" get job "$job_name" \
        -o jsonpath='{.status.succeeded}/{.status.failed}')
    case "$status" in
        1/*) break ;;
        */1) break ;;
    esac
    sleep 2
done

kubectl -n "$namespace" logs "job/$job_name" --all-containers || true
case "$status" in
    1/*)
        kubectl -n "$namespace" delete job "$job_name" --wait=false >/dev/null
        exit 0
        ;;
    */1)
        echo "error: dataorch $* failed in Job $namespace/$job_name (output above), which" \
            "stays for 10 minutes: kubectl -n $namespace describe job $job_name" >&2
        exit 1
        ;;
    *)
        echo "error: dataorch $* timed out after ${TIMEOUT_SECS:-300} s in Job $namespace/$job_name;" \
            "see kubectl -n $namespace describe job $job_name" >&2
        exit 1
        ;;
esac
