#!/usr/bin/env bash
# Runs the Airflow integration tests (integrations/airflow/test_*.py) with a Python that has the
# real Kubernetes client models. Works from any directory.
#
# The tests need the `kubernetes` module. PyPI may be unreachable, so it comes from Debian's
# python3-kubernetes, which installs for the system interpreter /usr/bin/python3 (not for a pyenv
# or venv python3 that may be first on PATH). Override the interpreter with PYTHON=...
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "${script_dir}/../.." && pwd)"
cd "${repo_root}"

if [[ -n "${PYTHON:-}" ]]; then
  python="${PYTHON}"
elif [[ -x /usr/bin/python3 ]]; then
  python=/usr/bin/python3
else
  python="$(command -v python3 || true)"
fi
if [[ -z "${python}" ]]; then
  echo "test.sh: no Python interpreter found (tried /usr/bin/python3 and python3 on PATH)" >&2
  exit 1
fi

has_kubernetes() { "${python}" -c 'import kubernetes.client' >/dev/null 2>&1; }

if ! has_kubernetes; then
  echo "test.sh: ${python} cannot import kubernetes; installing Debian package python3-kubernetes" >&2
  if [[ "${python}" != /usr/bin/python3* ]]; then
    echo "test.sh: note: python3-kubernetes installs for /usr/bin/python3, not ${python}" >&2
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: apt-get not available; install the Python 'kubernetes' package for ${python} yourself" >&2
    exit 1
  fi
  sudo=()
  if [[ "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo -n)
    else
      echo "test.sh: not root and no sudo; cannot install python3-kubernetes" >&2
      exit 1
    fi
  fi
  start=${SECONDS}
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q
  "${sudo[@]}" apt-get install -y -q --no-install-recommends python3-kubernetes
  echo "test.sh: apt-get update + install took $((SECONDS - start))s" >&2
  if ! has_kubernetes; then
    echo "test.sh: python3-kubernetes is installed but ${python} still cannot import kubernetes;" \
         "run with PYTHON=/usr/bin/python3 or install the kubernetes client for ${python}" >&2
    exit 1
  fi
fi

# Keep the source tree free of __pycache__ directories.
export PYTHONDONTWRITEBYTECODE=1
echo "test.sh: using ${python} ($("${python}" --version 2>&1)," \
     "kubernetes $("${python}" -c 'import kubernetes; print(kubernetes.__version__)'))" >&2
exec "${python}" -m unittest discover -s integrations/airflow -p 'test_*.py' -v
