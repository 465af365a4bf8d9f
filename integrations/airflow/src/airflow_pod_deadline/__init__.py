"""airflow-pod-deadline's Airflow side: a cluster policy that puts each KubernetesPodOperator task's
execution deadline (annotation ``airflow-pod-deadline.io/execution-deadline``) and its try's identity
(``airflow-instance``, ``dag-id``, ``run-id``, ``task-id``, ``map-index``, ``try-number``) with the try's
start (``try-start``) on its pod.

Installing this distribution next to Airflow is the whole setup: Airflow loads
:mod:`airflow_pod_deadline.policy` through the ``airflow.policy`` entry point. It is not on PyPI
(a ``pip install airflow-pod-deadline`` would fetch whatever someone else publishes under that
name): install the wheel that ``make dist`` builds and each release attaches
(``pip install ./airflow_pod_deadline-<version>-py3-none-any.whl``), or from git
(``pip install "airflow-pod-deadline @ git+https://github.com/airflow-pod-deadline/airflow-pod-deadline@<commit>#subdirectory=integrations/airflow"``). To combine it with an
``airflow_local_settings.py`` of your own, call :func:`stamp_execution_deadline` from your
``pod_mutation_hook``.
"""

from __future__ import annotations

from airflow_pod_deadline.policy import (
    DEFAULT_INSTANCE,
    DEFAULT_PREFIX,
    INSTANCE_ENV,
    PREFIX_ENV,
    pod_mutation_hook,
    stamp_execution_deadline,
)

__all__ = ["DEFAULT_INSTANCE", "DEFAULT_PREFIX", "INSTANCE_ENV", "PREFIX_ENV", "pod_mutation_hook", "stamp_execution_deadline"]
