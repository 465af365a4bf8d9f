"""Airflow cluster policy, the ``airflow_local_settings.py`` way: stamp every KubernetesPodOperator
pod with its execution deadline (annotation ``airflow-pod-deadline.io/execution-deadline`` =
``ti.start_date + task.execution_timeout``).

The usual setup is ``pip install`` of this directory's distribution (``airflow-pod-deadline``, the
wheel ``make dist`` builds or a git URL; it is not on PyPI):
Airflow then loads the policy through its ``airflow.policy`` entry point and this file is not
needed. Use this file instead where you manage policies in ``airflow_local_settings.py``: install the
distribution, copy this file to ``$AIRFLOW_HOME/config/airflow_local_settings.py`` (with the Helm
chart, the ``airflowLocalSettings`` value) or merge it into yours by calling
``stamp_execution_deadline(pod)`` from your own ``pod_mutation_hook``. Having both the entry point
and this file is harmless: the second call sees the annotation and leaves the pod alone.
"""

from __future__ import annotations

from typing import Any

from airflow_pod_deadline import stamp_execution_deadline

__all__ = ["pod_mutation_hook"]


def pod_mutation_hook(pod: Any) -> None:
    """Airflow cluster policy hook (called for every pod Airflow creates)."""
    stamp_execution_deadline(pod)
