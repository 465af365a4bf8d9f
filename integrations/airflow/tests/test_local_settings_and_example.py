"""The alternatives to the entry point: ``airflow_local_settings.py`` (a thin wrapper over the
package) and the per-task Jinja template of ``example_dag.py``, with the real Airflow."""

from __future__ import annotations

import ast
import json
import os
import py_compile
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from jinja2.sandbox import SandboxedEnvironment

HERE = Path(__file__).resolve().parent
INTEGRATION = HERE.parent
EXAMPLE_DAG = INTEGRATION / "example_dag.py"
DEADLINE = "airflow-pod-deadline.io/execution-deadline"
EXAMPLE_TEMPLATE = "{{ (ti.start_date + task.execution_timeout).isoformat() }}"

PROBE = """
import json, sys
sys.path.insert(0, {tests!r})
import airflow.settings
import test_airflow as t
pod = t.build(t.make_kpo())
print(json.dumps({{
    "plugins": sorted(name for name, _ in t.policy_manager().list_name_plugin()),
    "annotations": pod.metadata.annotations,
    "identity": t.identity(),
    "airflow_3": t.AIRFLOW_3,
    "local_settings": getattr(sys.modules.get("airflow_local_settings"), "__file__", None),
}}))
"""


def probe(extra_path: str | None) -> dict[str, Any]:
    env = dict(os.environ)
    if extra_path:
        env["PYTHONPATH"] = extra_path + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(tests=str(HERE))], capture_output=True, text=True, env=env, timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_local_settings_alongside_entry_point_stamps_once() -> None:
    # Airflow imports airflow_local_settings from sys.path (here: this directory) after the entry
    # points; both policies then run, the second sees the annotations and leaves the pod alone.
    out = probe(str(INTEGRATION))
    assert out["local_settings"] == str(INTEGRATION / "airflow_local_settings.py")
    assert "airflow_pod_deadline" in out["plugins"]
    assert "AirflowLocalSettingsPolicy" in out["plugins"] or len(out["plugins"]) >= 3
    assert out["annotations"] == {DEADLINE: "2026-05-20T09:46:00.123456+00:00", **out["identity"]}
    # The six of the identity, the try start and, on Airflow 3, the try id.
    assert len(out["identity"]) == (8 if out["airflow_3"] else 7)
    assert ("airflow-pod-deadline.io/try-id" in out["identity"]) == out["airflow_3"]


def test_example_dag_compiles(tmp_path: Path) -> None:
    py_compile.compile(str(EXAMPLE_DAG), cfile=str(tmp_path / "example_dag.pyc"), doraise=True)


def kpo_keywords() -> dict[str | None, ast.expr]:
    source = EXAMPLE_DAG.read_text(encoding="utf-8")
    calls = [
        node for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "KubernetesPodOperator"
    ]
    assert len(calls) == 1
    return {kw.arg: kw.value for kw in calls[0].keywords}


def test_example_uses_documented_annotation_form() -> None:
    kw = kpo_keywords()
    assert ast.literal_eval(kw["annotations"]) == {DEADLINE: EXAMPLE_TEMPLATE}
    assert ast.literal_eval(kw["deferrable"]) is True
    assert ast.unparse(kw["execution_timeout"]) == "timedelta(minutes=30)"
    assert "pod_mutation_hook" in EXAMPLE_DAG.read_text(encoding="utf-8")


def test_example_template_renders_what_the_policy_writes() -> None:
    import test_airflow as t  # the real-Airflow helpers

    class TI:
        start_date = datetime(2026, 5, 20, 9, 45, 30, 123456, tzinfo=timezone.utc)

    class Task:
        execution_timeout = timedelta(seconds=30)

    rendered = SandboxedEnvironment().from_string(EXAMPLE_TEMPLATE).render(ti=TI, task=Task)
    pod = t.build(t.make_kpo(), start=TI.start_date)
    assert rendered == pod.metadata.annotations[DEADLINE] == "2026-05-20T09:46:00.123456+00:00"
