from datetime import datetime, timedelta
from airflow import DAG
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
with DAG(
    dag_id="kpo_deferrable_execution_timeout_repro",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
) as dag:
    KubernetesPodOperator(
        task_id="run_long_pod",
        namespace="default",
        image="alpine:3.20",
        cmds=["sh", "-c"],
        arguments=["sleep 1800"],
        deferrable=True,
        execution_timeout=timedelta(seconds=30),
    )
