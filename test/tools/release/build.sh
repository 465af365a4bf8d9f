#!/usr/bin/env bash
# Builds the release linters (actionlint, promtool) into bin/ from the Go
# module proxy. Each tool has its own module here (their dependency graphs
# disagree); its tool line pins the version. A binary is rebuilt only when the
# version it reports is not the pinned one, so a warm bin/ costs milliseconds.
set -euo pipefail

root=$(cd "$(dirname "$0")/../../.." && pwd)
here="$root/test/tools/release"
bin="${BIN_DIR:-$root/bin}"
mkdir -p "$bin"

modver() { go -C "$here/$1" list -m -f '{{.Version}}' "$2"; }

# current NAME prints the version the binary in bin/ reports, or nothing.
current() {
  local b="$bin/$1"
  [ -x "$b" ] || return 0
  case "$1" in
    actionlint) "$b" -version 2>/dev/null | head -1 ;;
    # promtool reports the Prometheus release (3.x), not the module version
    # (v0.3xx): compare with what the linker was told.
    promtool) "$b" --version 2>/dev/null | sed -n 's/^promtool, version \([^ ]*\).*/\1/p' ;;
  esac
}

build() { # name want module-dir pkg tags ldflags
  local name=$1 want=$2 dir=$3 pkg=$4 tags=$5 ldflags=$6 have
  have=$(current "$name")
  if [ "$have" = "$want" ]; then
    echo "bin/$name $want is up to date"
    return
  fi
  echo "building bin/$name $want (have: ${have:-none})"
  local start=$SECONDS
  CGO_ENABLED=0 go -C "$here/$dir" build -trimpath -tags "$tags" -ldflags "$ldflags" -o "$bin/$name.tmp" "$pkg"
  mv "$bin/$name.tmp" "$bin/$name"
  echo "built bin/$name in $((SECONDS - start))s"
}

actionlint=$(modver actionlint github.com/rhysd/actionlint) # v1.7.12
prom=$(modver promtool github.com/prometheus/prometheus)     # v0.316.0 = Prometheus 3.16.0
promver=$(echo "${prom#v0.}" | awk -F. '{printf "3.%d.%s", $1 - 300, $2}')

want="${*:-actionlint promtool}"
for name in $want; do
  case "$name" in
    actionlint) build actionlint "$actionlint" actionlint github.com/rhysd/actionlint/cmd/actionlint "" \
      "-s -w -X github.com/rhysd/actionlint.version=$actionlint" ;;
    promtool) build promtool "$promver" promtool github.com/prometheus/prometheus/cmd/promtool remove_all_sd \
      "-s -w -X github.com/prometheus/common/version.Version=$promver -X github.com/prometheus/common/version.Revision=module-proxy -X github.com/prometheus/common/version.Branch=module-proxy" ;;
    *) echo "unknown tool $name" >&2; exit 2 ;;
  esac
done
