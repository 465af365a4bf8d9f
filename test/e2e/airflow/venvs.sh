#!/usr/bin/env bash
# Airflow virtualenvs for the tests, from PyPI, pinned by checked-in lock files.
#
#   venvs.sh [NAME...]        create/refresh bin/venvs/NAME for each lock (default: all)
#   venvs.sh lock [NAME...]   re-resolve requirements/NAME.in into locks/NAME.txt
#   venvs.sh list             print the venv names
#   venvs.sh dist             the policy package's wheel and sdist in dist/ (make dist)
#   venvs.sh check-dist       twine check of what dist wrote (pinned twine in bin/twine)
#   venvs.sh lock-tools       re-resolve tools/*.in (the build backend, twine) into tools/*.txt
#
# Each venv is test/e2e/airflow/requirements/NAME.in (the exact pins of Airflow and the
# cncf-kubernetes provider), resolved once by `venvs.sh lock` (make airflow-locks) into
# test/e2e/airflow/locks/NAME.txt, a fully pinned list. Installing uses only the lock
# (uv pip sync), so every machine gets the same set of distributions. The airflow-pod-deadline
# policy package (integrations/airflow) is then installed into every venv from the wheel that
# `make dist` builds (dist/airflow_pod_deadline-<version>-py3-none-any.whl, one recipe: dist()
# below), as a user installs it.
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
tools="$here/tools"
dist_dir="${APD_DIST_DIR:-$root/dist}"


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

# lock_tools: resolve tools/NAME.in (the pinned build backend with its dependencies, twine) into
# tools/NAME.txt.
lock_tools() {
  local f
  for f in "$tools"/*.in; do
    echo "venvs.sh: resolving tools/$(basename "$f")"
    (cd "$tools" && "$uv" pip compile --quiet --python "$python" --python-version 3.11 \
      --python-platform x86_64-manylinux_2_28 --no-annotate --custom-compile-command "test/e2e/airflow/venvs.sh lock-tools" \
      "$(basename "$f")" -o "$(basename "$f" .in).txt")
  done
}

# pkg_hash: the policy package's sources (what goes into the wheel and sdist), so that editing
# them rebuilds and reinstalls it.
pkg_hash() {
  (cd "$root/integrations/airflow" && git ls-files --cached --others --exclude-standard -- pyproject.toml src README.md LICENSE |
    LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)
}

# dist: build the policy package's sdist, then its wheel from the sdist, into dist/. Reproducible:
# the backend and its dependencies are pinned (tools/build.txt) and hatchling writes every
# timestamp as SOURCE_DATE_EPOCH, by default the time of the last commit that touched
# integrations/airflow, so two builds of one commit are byte for byte equal.
dist() {
  local epoch
  epoch=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct -- integrations/airflow 2>/dev/null || true)}
  mkdir -p "$dist_dir"
  rm -f "$dist_dir"/airflow_pod_deadline-*.whl "$dist_dir"/airflow_pod_deadline-*.tar.gz "$dist_dir/.apd-pkg"
  SOURCE_DATE_EPOCH=${epoch:-315532800} "$uv" build --quiet --build-constraint "$tools/build.txt" \
    --out-dir "$dist_dir" "$root/integrations/airflow" >&2
  pkg_hash >"$dist_dir/.apd-pkg"
  ls "$dist_dir"/airflow_pod_deadline-*
}

# check_dist: twine check (metadata, the README rendering) of dist/'s wheel and sdist, with the
# pinned twine in bin/twine.
check_dist() {
  local venv="$bin/twine" want
  want="$(hash_of "$tools/twine.txt") uv=$uv_version python=$py_version"
  if [ "$(cat "$venv/.apd-venv" 2>/dev/null || true)" != "$want" ]; then
    rm -rf "$venv"
    "$uv" venv --quiet --python "$python" "$venv"
    "$uv" pip sync --quiet --python "$venv/bin/python" "$tools/twine.txt"
    echo "$want" >"$venv/.apd-venv"
  fi
  "$venv/bin/twine" check --strict "$dist_dir"/airflow_pod_deadline-*.whl "$dist_dir"/airflow_pod_deadline-*.tar.gz
}

# wheel: the wheel dist() wrote for the current sources (built if missing or stale); print its path.
wheel() {
  if [ "$(cat "$dist_dir/.apd-pkg" 2>/dev/null || true)" != "$(pkg_hash)" ] ||
    ! ls "$dist_dir"/airflow_pod_deadline-*-py3-none-any.whl >/dev/null 2>&1; then
    dist >/dev/null
  fi
  ls "$dist_dir"/airflow_pod_deadline-*-py3-none-any.whl
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
  dist)
    ensure_uv
    dist
    ;;
  check-dist)
    ensure_uv
    check_dist
    ;;
  lock-tools)
    ensure_uv
    lock_tools
    ;;
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
