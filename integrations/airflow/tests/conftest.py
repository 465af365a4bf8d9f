"""Shared setup for the policy tests: an isolated AIRFLOW_HOME and a ``kubernetes_default``
connection to a kubeconfig (never contacted: building a pod only loads the config).

Set at import time, before any test module imports Airflow, which reads its configuration once.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile

_home = tempfile.mkdtemp(prefix="apd-airflow-home-")
atexit.register(shutil.rmtree, _home, ignore_errors=True)
_kubeconfig = os.path.join(_home, "kubeconfig")
with open(_kubeconfig, "w", encoding="utf-8") as f:
    f.write(
        "apiVersion: v1\nkind: Config\n"
        'clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]\n'
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
        "current-context: c\n"
    )
os.environ["AIRFLOW_HOME"] = _home
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["AIRFLOW_CONN_KUBERNETES_DEFAULT"] = json.dumps(
    {"conn_type": "kubernetes", "extra": {"kube_config_path": _kubeconfig, "in_cluster": False}}
)
os.environ.pop("AIRFLOW_POD_DEADLINE_PREFIX", None)
