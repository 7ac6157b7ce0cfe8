#!/usr/bin/env bash
# Builds kube-apiserver, kubectl and etcd from pinned Go modules into a cache folder outside
# the repository, keyed by version, so the test control plane is a real one and is built once.
#
# k8s.io/kubernetes requires its staging modules at v0.0.0, a version the module proxy does
# not serve; a throwaway wrapper module maps each of them to the published v0.N.P that pairs
# with v1.N.P. etcd's server is built the same way because `go install` refuses a module whose
# own go.mod has replace directives.
#
# Prints the folder holding the binaries on its last line. Set KUBEBUILDER_ASSETS to skip the
# build and use binaries you already have (the envtest convention).
set -euo pipefail

K8S_VERSION="${GANTRY_K8S_VERSION:-v1.36.3}"
ETCD_VERSION="${GANTRY_ETCD_VERSION:-v3.6.16}"
CACHE_ROOT="${GANTRY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gantry}"
# Bump BUILD_REVISION when the way the binaries are built changes, so caches are rebuilt.
BUILD_REVISION=2
OUT="$CACHE_ROOT/control-plane/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-r$BUILD_REVISION"

log() { printf 'control-plane: %s\n' "$*" >&2; }

built() { [[ -x "$OUT/kube-apiserver" && -x "$OUT/etcd" && -x "$OUT/kubectl" ]]; }

if built; then
  log "reusing the control plane built earlier in $OUT"
  echo "$OUT"
  exit 0
fi

# One build at a time: parallel test runs wait for the first one instead of racing it.
mkdir -p "$CACHE_ROOT/control-plane"
exec 9>"$CACHE_ROOT/control-plane/.build.lock"
flock 9
if built; then
  log "reusing the control plane another run just built in $OUT"
  echo "$OUT"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  log "Go is not installed, and it is needed once to build kube-apiserver and etcd."
  log "Install Go (the version named in k8s.io/kubernetes $K8S_VERSION's go.mod or newer),"
  log "or point KUBEBUILDER_ASSETS at a folder holding etcd, kube-apiserver and kubectl."
  exit 3
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
rm -rf "$OUT.partial"
mkdir -p "$OUT.partial"

# kube-apiserver and kubectl from one wrapper module.
minor_patch="${K8S_VERSION#v1.}"
staging_version="v0.$minor_patch"
log "building kube-apiserver and kubectl $K8S_VERSION (first time only; several minutes)"
mkdir -p "$work/k8s"
(
  cd "$work/k8s"
  go mod init gantry.local/controlplane >/dev/null 2>&1
  gomod_file="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" |
    sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  go_directive="$(sed -n 's/^go \(.*\)$/\1/p' "$gomod_file" | head -n1)"
  go mod edit -go="$go_directive" -require="k8s.io/kubernetes@$K8S_VERSION"
  # Every staging module: a k8s.io requirement at exactly v0.0.0.
  grep -E '^\s+k8s\.io/[a-z0-9-]+ v0\.0\.0$' "$gomod_file" | awk '{print $1}' |
    while read -r module; do
      go mod edit -replace="$module=$module@$staging_version"
    done
  cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  go mod tidy >&2
  # Stamp the release into the binaries, as Kubernetes' own build does; without it the
  # server reports v0.0.0-master and `kubectl version` cannot parse it.
  version_pkg=k8s.io/component-base/version
  minor="${minor_patch%%.*}"
  ldflags="-X $version_pkg.gitVersion=$K8S_VERSION -X $version_pkg.gitMajor=1"
  ldflags="$ldflags -X $version_pkg.gitMinor=$minor -X $version_pkg.gitTreeState=clean"
  CGO_ENABLED=0 go build -ldflags "$ldflags" -o "$OUT.partial/kube-apiserver" \
    k8s.io/kubernetes/cmd/kube-apiserver
  CGO_ENABLED=0 go build -ldflags "$ldflags" -o "$OUT.partial/kubectl" \
    k8s.io/kubernetes/cmd/kubectl
)

log "building etcd $ETCD_VERSION"
mkdir -p "$work/etcd"
(
  cd "$work/etcd"
  go mod init gantry.local/etcd >/dev/null 2>&1
  go mod edit -require="go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  cat > tools.go <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
  go mod tidy >&2
  CGO_ENABLED=0 go build -o "$OUT.partial/etcd" go.etcd.io/etcd/server/v3
)

rm -rf "$OUT"
mv "$OUT.partial" "$OUT"
log "built into $OUT"
echo "$OUT"
