#!/usr/bin/env bash
# Builds the pinned Kubernetes binaries (kube-apiserver, kube-scheduler,
# kube-controller-manager, kubectl, etcd, helm, and our hollow-node: the real
# kubelet over a fake runtime, from hollownode/) into bin/ from the Go module
# proxy, with the version ldflags their own release builds set. A binary is
# rebuilt only when the version it reports is not the pinned one (for
# hollow-node: also when its source changed), so a warm bin/ costs a few
# milliseconds.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
tools="$root/test/tools"
bin="${BIN_DIR:-$root/bin}"
mkdir -p "$bin"

# Pinned versions: the require lines of test/tools/go.mod are the source of truth.
modver() { go -C "$tools" list -m -f '{{.Version}}' "$1"; }
kube=$(modver k8s.io/kubernetes)        # v1.37.2
etcd=$(modver go.etcd.io/etcd/server/v3) # v3.7.3
helm=$(modver helm.sh/helm/v3)           # v3.22.0
kube_major=$(echo "${kube#v}" | cut -d. -f1)
kube_minor=$(echo "${kube#v}" | cut -d. -f2)
date=$(date -u +%Y-%m-%dT%H:%M:%SZ)

kube_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $pkg.gitVersion=$kube -X $pkg.gitMajor=$kube_major -X $pkg.gitMinor=$kube_minor"
  kube_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.gitCommit=module-proxy -X $pkg.buildDate=$date"
done
etcd_ldflags="-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=module-proxy"
helm_ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$helm -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
  helm_ldflags+=" -X $pkg.k8sVersionMajor=$kube_major -X $pkg.k8sVersionMinor=$kube_minor"
done

# hollow-node's own source is part of its version, so an edit rebuilds it.
hollow_src=$(find "$tools/hollownode" -name "*.go" ! -name "*_test.go" | sort | xargs cat "$tools/go.sum" | sha256sum | cut -c1-12)
hollow="$kube+$hollow_src"

# current NAME prints the version the binary in bin/ reports, or nothing.
current() {
  local b="$bin/$1"
  [ -x "$b" ] || return 0
  case "$1" in
    kube-apiserver|kube-scheduler|kube-controller-manager) "$b" --version 2>/dev/null | awk '{print $2}' ;;
    hollow-node) "$b" --version 2>/dev/null | awk '{print $2}' ;;
    kubectl) "$b" version --client -o json 2>/dev/null | sed -n 's/.*"gitVersion": *"\([^"]*\)".*/\1/p' | head -1 ;;
    etcd) "$b" --version 2>/dev/null | awk '/etcd Version/ {print "v"$3}' ;;
    helm) "$b" version --template '{{.Version}}' 2>/dev/null ;;
  esac
}

build() { # name want pkg ldflags
  local name=$1 want=$2 pkg=$3 ldflags=$4 have
  have=$(current "$name")
  if [ "$have" = "$want" ]; then
    echo "bin/$name $want is up to date"
    return
  fi
  echo "building bin/$name $want (have: ${have:-none}); a cold build takes minutes"
  local start=$SECONDS
  CGO_ENABLED=0 go -C "$tools" build -trimpath -ldflags "$ldflags" -o "$bin/$name.tmp" "$pkg"
  mv "$bin/$name.tmp" "$bin/$name"
  echo "built bin/$name in $((SECONDS - start))s"
}

want="${*:-etcd kube-apiserver kubectl helm kube-scheduler kube-controller-manager hollow-node}"
for name in $want; do
  case "$name" in
    kube-apiserver) build kube-apiserver "$kube" k8s.io/kubernetes/cmd/kube-apiserver "$kube_ldflags" ;;
    kubectl) build kubectl "$kube" k8s.io/kubernetes/cmd/kubectl "$kube_ldflags" ;;
    kube-scheduler) build kube-scheduler "$kube" k8s.io/kubernetes/cmd/kube-scheduler "$kube_ldflags" ;;
    kube-controller-manager) build kube-controller-manager "$kube" k8s.io/kubernetes/cmd/kube-controller-manager "$kube_ldflags" ;;
    hollow-node) build hollow-node "$hollow" ./hollownode "${kube_ldflags//gitVersion=$kube/gitVersion=$hollow}" ;;
    etcd) build etcd "$etcd" go.etcd.io/etcd/server/v3 "$etcd_ldflags" ;;
    helm) build helm "$helm" helm.sh/helm/v3/cmd/helm "$helm_ldflags" ;;
    *) echo "unknown tool $name" >&2; exit 2 ;;
  esac
done
