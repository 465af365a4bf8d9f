#!/usr/bin/env bash
# Runs the Airflow-side tests (integrations/airflow/tests, pytest) in every Airflow venv of
# test/e2e/airflow (bin/venvs/<name>: Airflow + a pinned cncf-kubernetes provider + this package,
# created by `make airflow-venvs`, which this script runs first; a no-op when they are current).
# Works from any directory. Extra arguments go to pytest; VENVS="name ..." limits the venvs.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "${script_dir}/../.." && pwd)"
venvs_sh="${repo_root}/test/e2e/airflow/venvs.sh"

names=${VENVS:-$("${venvs_sh}" list)}
# shellcheck disable=SC2086 # names are single words
"${venvs_sh}" ${names}

# Keep the source tree free of __pycache__ directories.
export PYTHONDONTWRITEBYTECODE=1
cd "${script_dir}"
failed=()
for name in ${names}; do
  python="${repo_root}/bin/venvs/${name}/bin/python"
  echo "== ${name}: $("${python}" -c 'import airflow, airflow.providers.cncf.kubernetes as k; print("airflow", airflow.__version__, "cncf-kubernetes", k.__version__)' 2>/dev/null)"
  start=${SECONDS}
  rc=0
  "${python}" -m pytest -q -p no:cacheprovider "$@" tests || rc=$?
  # pytest exits 5 when it collected no tests: a broken layout must not pass as green.
  if [[ ${rc} -eq 5 ]]; then echo "test.sh: ${name}: pytest collected no tests" >&2; fi
  if [[ ${rc} -ne 0 ]]; then failed+=("${name} (exit ${rc})"); fi
  echo "== ${name}: exit ${rc} in $((SECONDS - start))s"
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "test.sh: failed in: ${failed[*]}" >&2
  exit 1
fi
