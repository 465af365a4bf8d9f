"""Example: a deferrable KubernetesPodOperator task whose execution_timeout the cluster enforces.

In deferrable mode KPO hands the pod over to the triggerer right after creating it, and Airflow's
``execution_timeout`` no longer covers it. The annotation below carries the task's deadline to the
airflow-pod-deadline webhook, which sets ``spec.activeDeadlineSeconds`` from it; its sweeper
deletes the pod if it is still alive past the deadline.

Copy into your DAGs folder. Requires the ``apache-airflow-providers-cncf-kubernetes`` provider.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

try:  # Airflow 3
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

with DAG(
    dag_id="airflow_pod_deadline_example",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    tags=["airflow-pod-deadline"],
):
    KubernetesPodOperator(
        task_id="crunch",
        name="crunch",
        image="busybox:1.36",
        cmds=["sh", "-c"],
        arguments=["echo working; sleep 600"],
        deferrable=True,
        execution_timeout=timedelta(minutes=30),
        # ``annotations`` is a templated KPO field, so the deadline is rendered per try when the
        # task starts: the absolute instant start + execution_timeout. ti.start_date is an aware
        # UTC datetime, so isoformat() prints RFC 3339 (e.g. 2026-05-20T10:15:30.123456+00:00).
        # An absolute instant (rather than a relative execution-timeout) keeps time spent before
        # the pod is created, such as pulling connections or waiting for the API server, inside
        # the task's budget, exactly as Airflow counts it.
        #
        # Alternative: leave this out and install integrations/airflow/airflow_local_settings.py
        # as $AIRFLOW_HOME/config/airflow_local_settings.py. Its pod_mutation_hook stamps the same
        # annotation on every KPO pod whose task has an execution_timeout, and never overrides an
        # annotation set here (an empty value opts a task out).
        annotations={"airflow-pod-deadline.io/execution-deadline": "{{ (ti.start_date + task.execution_timeout).isoformat() }}"},
        on_finish_action="delete_pod",
    )
