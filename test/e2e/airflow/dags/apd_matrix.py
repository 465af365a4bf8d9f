"""The matrix variants of the seed reproduction (docs/airflow.md, "The matrix"). Each DAG differs from the seed
(kpo_deferrable_execution_timeout_repro.py, kept verbatim) only where its row says so; the budget
stays execution_timeout=30s except in row 6 (90 s, see ROW6). Pods run on hollow nodes whose fake runtime understands
``sh -c "<script>"`` with ``sleep N``, ``echo ...`` and ``exit N``.
"""

from datetime import datetime, timedelta

from airflow import DAG
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

BUDGET = timedelta(seconds=30)
SEED = dict(
    namespace="default",
    image="alpine:3.20",
    cmds=["sh", "-c"],
    arguments=["sleep 1800"],
    execution_timeout=BUDGET,
)


def dag(dag_id):
    return DAG(dag_id=dag_id, start_date=datetime(2026, 1, 1), schedule=None, catchup=False)


# Row 2: the pod never schedules (no node matches), and KPO's own startup timeout is longer than
# the budget, so only the execution deadline can end the task in time.
with dag("apd_never_scheduled"):
    KubernetesPodOperator(
        task_id="run_long_pod",
        deferrable=True,
        node_selector={"airflow-pod-deadline.io/no-such-node": "true"},
        startup_timeout_seconds=150,
        **SEED,
    )

# Row 3: KPO keeps the pod when it gives up on it.
with dag("apd_keep_pod"):
    KubernetesPodOperator(task_id="run_long_pod", deferrable=True, on_finish_action="keep_pod", **SEED)

# Row 4 uses the seed DAG itself (the triggerer is stopped by the test).

# Row 5: non-deferrable; the test SIGKILLs the task's process while the pod runs.
with dag("apd_non_deferrable"):
    KubernetesPodOperator(task_id="run_long_pod", deferrable=False, **SEED)

# Row 6 gives its tries 90 s: the short ones must fit their budget, and on a loaded 2-core machine
# Airflow alone can take 25 s from a try's start to its pod's creation.
ROW6 = dict(SEED, execution_timeout=timedelta(seconds=90))
del ROW6["arguments"]

# Row 6a: a mapped task: each map index is its own try with its own deadline.
with dag("apd_mapped"):
    KubernetesPodOperator.partial(task_id="run_long_pod", deferrable=True, **ROW6).expand(
        arguments=[["sleep 1800"], ["sleep 5"]],
    )

# Row 6b: retries=1 where the retry fits its budget: the first try runs past the deadline, the
# second (a new start_date, so a new deadline) finishes in 5 s.
with dag("apd_retry"):
    KubernetesPodOperator(
        task_id="run_long_pod",
        deferrable=True,
        retries=1,
        retry_delay=timedelta(seconds=1),
        arguments=["{{ 'sleep 1800' if ti.try_number == 1 else 'sleep 5' }}"],
        **ROW6,
    )

# Refused at launch (docs/airflow.md, case (a)): the deadline is already past when KPO creates the
# pod, so the webhook denies it. The policy leaves an explicit annotation alone.
with dag("apd_refused"):
    KubernetesPodOperator(
        task_id="run_long_pod",
        deferrable=True,
        annotations={"airflow-pod-deadline.io/execution-deadline": "2026-01-01T00:00:00Z"},
        **SEED,
    )

# Row 7: dagrun_timeout shorter than the task's execution_timeout. Airflow's scheduler fails the run
# at dag_run.start_date + dagrun_timeout and skips the deferred task; the pod then lives on unless a
# triggerer cancels the trigger (or the webhook put the run's deadline on it: the policy stamps the
# earlier of the two deadlines). 120 s: on a loaded 2-core machine the pod must be running, and the
# triggerer stopped, before the run times out.
ROW7_RUN_TIMEOUT = timedelta(seconds=120)
with DAG(
    dag_id="apd_dagrun_timeout",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    dagrun_timeout=ROW7_RUN_TIMEOUT,
):
    KubernetesPodOperator(task_id="run_long_pod", deferrable=True, **dict(SEED, execution_timeout=timedelta(minutes=10)))
