#!/usr/bin/env bash
# End to end on a kind cluster, for machines with Docker (the local stack needs none):
#   1. a kind cluster with a real controller-manager and scheduler;
#   2. the operator image built from the Dockerfile and loaded into it;
#   3. deploy/base applied with that image, and the Deployment rolling out (probes passing
#      with the in-cluster identity);
#   4. the integration tests run against the cluster (GANTRY_TEST_KUBECONFIG), with the
#      in-cluster operator scaled to zero so the tests' own operator process is the only one.
# Needs docker, kind and kubectl on PATH. KEEP_CLUSTER=1 leaves the cluster running.
set -euo pipefail

cd "$(dirname "$0")/.."
CLUSTER="${KIND_CLUSTER:-gantry-e2e}"
IMAGE="gantry:e2e"
workdir="$(mktemp -d)"

for tool in docker kind kubectl; do
  command -v "$tool" >/dev/null || { echo "kind-e2e: $tool is required" >&2; exit 2; }
done

cleanup() {
  rm -rf "$workdir"
  if [[ -z "${KEEP_CLUSTER:-}" ]]; then kind delete cluster --name "$CLUSTER" || true; fi
}
trap cleanup EXIT

kind create cluster --name "$CLUSTER" --wait 120s
kubeconfig="$workdir/kubeconfig"
kind get kubeconfig --name "$CLUSTER" > "$kubeconfig"
export KUBECONFIG="$kubeconfig"

docker build -t "$IMAGE" .
kind load docker-image "$IMAGE" --name "$CLUSTER"

# An overlay that only swaps the image; everything else is deploy/base as shipped.
mkdir -p "$workdir/overlay"
cat > "$workdir/overlay/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $(pwd)/deploy/base
images:
  - name: gantry
    newName: gantry
    newTag: e2e
YAML
kubectl apply --server-side -k "$workdir/overlay"
kubectl -n gantry-system rollout status deployment/gantry --timeout=180s

kubectl -n gantry-system scale deployment/gantry --replicas=0
make venv
GANTRY_TEST_KUBECONFIG="$kubeconfig" .venv/bin/python -m pytest tests/integration "$@"
