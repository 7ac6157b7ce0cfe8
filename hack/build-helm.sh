#!/usr/bin/env bash
# Builds the helm CLI from its pinned Go module into the same cache folder as the control
# plane, so the chart under deploy/helm can be rendered and dry-run in tests. Prints the
# binary's path on its last line. Set HELM to use a helm you already have.
set -euo pipefail

HELM_VERSION="${GANTRY_HELM_VERSION:-v4.3.2}"
CACHE_ROOT="${GANTRY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gantry}"
OUT="$CACHE_ROOT/helm-$HELM_VERSION"

log() { printf 'helm: %s\n' "$*" >&2; }

if [[ -n "${HELM:-}" ]]; then
  echo "$HELM"
  exit 0
fi
if [[ -x "$OUT/helm" ]]; then
  log "reusing helm built earlier in $OUT"
  echo "$OUT/helm"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  log "Go is needed once to build helm $HELM_VERSION, or set HELM to an existing helm binary."
  exit 3
fi

mkdir -p "$CACHE_ROOT"
exec 9>"$CACHE_ROOT/.helm-build.lock"
flock 9
if [[ -x "$OUT/helm" ]]; then
  echo "$OUT/helm"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
log "building helm $HELM_VERSION (first time only)"
(
  cd "$work"
  go mod init gantry.local/helm >/dev/null 2>&1
  go mod edit -require="helm.sh/helm/v4@$HELM_VERSION"
  printf '//go:build tools\n\npackage tools\n\nimport _ "helm.sh/helm/v4/cmd/helm"\n' > tools.go
  go mod tidy >&2
  mkdir -p "$OUT.partial"
  CGO_ENABLED=0 go build -ldflags "-X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" \
    -o "$OUT.partial/helm" helm.sh/helm/v4/cmd/helm
)
rm -rf "$OUT"
mv "$OUT.partial" "$OUT"
log "built into $OUT"
echo "$OUT/helm"
