#!/usr/bin/env bash
# Airflow virtualenvs for the tests, from PyPI, pinned by checked-in lock files.
#
#   venvs.sh [NAME...]        create/refresh bin/venvs/NAME for each lock (default: all)
#   venvs.sh lock [NAME...]   re-resolve requirements/NAME.in into locks/NAME.txt
#   venvs.sh list             print the venv names
#
# Each venv is test/e2e/airflow/requirements/NAME.in (the exact pins of Airflow and the
# cncf-kubernetes provider), resolved once by `venvs.sh lock` (make airflow-locks) into
# test/e2e/airflow/locks/NAME.txt, a fully pinned list. Installing uses only the lock
# (uv pip sync), so every machine gets the same set of distributions. The airflow-pod-deadline
# policy package (integrations/airflow) is then installed into every venv, as a user installs it.
#
# Idempotent: a venv whose stamp (a hash of the lock, uv's version and the interpreter) matches
# is not touched; the policy package is reinstalled only when its sources change. uv comes from
# PyPI too, pinned, in a bootstrap venv under bin/; its cache (bin/uv-cache, or UV_CACHE_DIR) is
# shared by all venvs, so a second venv costs little more than hard links.
set -euo pipefail

root=$(cd "$(dirname "$0")/../../.." && pwd)
here="$root/test/e2e/airflow"
bin="${BIN_DIR:-$root/bin}"
venvs="$bin/venvs"
uv_version=0.13.9
# The interpreter the venvs are built on: Python 3.11 (Airflow 2.11 and 3.3 both support it).
python="${AIRFLOW_PYTHON:-}"
if [ -z "$python" ]; then
  for candidate in python3.11 python3 /usr/bin/python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      [ "$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = 3.11 ]; then
      python=$(command -v "$candidate")
      break
    fi
  done
fi
if [ -z "$python" ]; then
  echo "venvs.sh: no Python 3.11 found (tried python3.11, python3, /usr/bin/python3); set AIRFLOW_PYTHON" >&2
  exit 1
fi
# Resolve pyenv shims to the real interpreter, so the venvs do not depend on the shim's state.
python=$("$python" -c 'import sys; print(sys.executable)')
py_version=$("$python" -c 'import sys; print(sys.version.split()[0])')

export UV_CACHE_DIR="${UV_CACHE_DIR:-$bin/uv-cache}"
export UV_NO_PROGRESS=1
export UV_PYTHON_DOWNLOADS=never
uv="$bin/uv-bootstrap/bin/uv"

ensure_uv() {
  if [ -x "$uv" ] && [ "$("$uv" --version 2>/dev/null | awk '{print $2}')" = "$uv_version" ]; then
    return
  fi
  echo "venvs.sh: installing uv $uv_version into bin/uv-bootstrap"
  rm -rf "$bin/uv-bootstrap"
  "$python" -m venv "$bin/uv-bootstrap"
  "$bin/uv-bootstrap/bin/pip" install --quiet --disable-pip-version-check "uv==$uv_version"
}

names() {
  local f
  for f in "$here"/requirements/*.in; do basename "$f" .in; done
}

hash_of() { sha256sum "$@" | sha256sum | cut -c1-16; }

# lock NAME: resolve requirements/NAME.in into locks/NAME.txt.
lock() {
  local name=$1
  echo "venvs.sh: resolving $name"
  (cd "$here" && "$uv" pip compile --quiet --python "$python" --python-version 3.11 \
    --python-platform x86_64-manylinux_2_28 --no-annotate --custom-compile-command "make airflow-locks" \
    "requirements/$name.in" -o "locks/$name.txt")
}

# pkg_hash: the policy package's sources, so that editing them reinstalls it.
pkg_hash() {
  (cd "$root/integrations/airflow" && git ls-files --cached --others --exclude-standard -- pyproject.toml src |
    LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)
}

# wheel: build the policy package's wheel once per source hash (bin/apd-wheel/HASH/) and print its path.
wheel() {
  local out="$bin/apd-wheel/$(pkg_hash)"
  if ! ls "$out"/*.whl >/dev/null 2>&1; then
    rm -rf "$bin/apd-wheel"
    "$uv" build --quiet --wheel --out-dir "$out" "$root/integrations/airflow" >&2
  fi
  ls "$out"/*.whl
}

# venv NAME: make bin/venvs/NAME match locks/NAME.txt, then install the policy package.
venv() {
  local name=$1 dir="$venvs/$1" lockfile="$here/locks/$1.txt" want have start=$SECONDS
  if [ ! -f "$lockfile" ]; then
    echo "venvs.sh: $lockfile missing; run make airflow-locks" >&2
    return 1
  fi
  want="$(hash_of "$lockfile") uv=$uv_version python=$py_version"
  have=$(cat "$dir/.apd-venv" 2>/dev/null || true)
  if [ "$have" != "$want" ]; then
    echo "venvs.sh: building bin/venvs/$name"
    rm -rf "$dir"
    "$uv" venv --quiet --python "$python" "$dir"
    "$uv" pip sync --quiet --python "$dir/bin/python" "$lockfile"
    echo "$want" >"$dir/.apd-venv"
    rm -f "$dir/.apd-pkg"
  fi
  want=$(pkg_hash)
  have=$(cat "$dir/.apd-pkg" 2>/dev/null || true)
  if [ "$have" != "$want" ]; then
    "$uv" pip install --quiet --python "$dir/bin/python" --no-deps --reinstall-package airflow-pod-deadline "$(wheel)"
    echo "$want" >"$dir/.apd-pkg"
  fi
  if [ $((SECONDS - start)) -gt 0 ]; then echo "venvs.sh: bin/venvs/$name ready in $((SECONDS - start))s"; fi
}

cmd=${1:-}
case "$cmd" in
  list) names ;;
  lock)
    shift
    ensure_uv
    for name in ${*:-$(names)}; do lock "$name"; done
    ;;
  *)
    ensure_uv
    mkdir -p "$venvs"
    for name in ${*:-$(names)}; do venv "$name"; done
    ;;
esac
