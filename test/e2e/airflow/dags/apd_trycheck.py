"""The try check's rows (docs/airflow.md, "The try check"): the seed's pod with a 10-minute budget, so
that within a cell's few minutes only the try check, never the deadline, can stop the pod of a try that
ended by hand, by a crash or by Airflow's own timeouts.
"""

from datetime import datetime, timedelta

from airflow import DAG
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

LONG = dict(
    namespace="default",
    image="alpine:3.20",
    cmds=["sh", "-c"],
    arguments=["sleep 1800"],
    execution_timeout=timedelta(minutes=10),
)


def dag(dag_id):
    return DAG(dag_id=dag_id, start_date=datetime(2026, 1, 1), schedule=None, catchup=False)


# Deferrable: a try marked failed, cleared, or its run marked failed while the triggerer is down.
with dag("apd_trycheck_deferrable"):
    KubernetesPodOperator(task_id="run_long_pod", deferrable=True, **LONG)

# Not deferrable: the worker killed, the scheduler's zombie detection fails the try.
with dag("apd_trycheck_non_deferrable"):
    KubernetesPodOperator(task_id="run_long_pod", deferrable=False, **LONG)
