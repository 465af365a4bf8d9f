"""Create DAG runs and set their task instances' states with Airflow's own models.

stdin: JSON {"runs": [{"dag_id", "run_id", "logical_date", "tis": {task_id: [state, try_number]}}]}.
The DAGs must be serialized already (`airflow dags reserialize`). Each run is made by the
DAG's create_dagrun (which creates its task instances, as the scheduler's runs are made);
then each task instance gets the state and try_number asked for, as a worker would leave
them. Prints the number of task instances written.
"""

import inspect
import json
import sys
from datetime import datetime, timedelta, timezone

from sqlalchemy import update

from airflow.models.serialized_dag import SerializedDagModel
from airflow.models.taskinstance import TaskInstance
from airflow.utils.session import create_session
from airflow.utils.state import DagRunState
from airflow.utils.types import DagRunTriggeredByType, DagRunType

spec = json.load(sys.stdin)
now = datetime.now(timezone.utc)
written = 0
with create_session() as session:
    dags = {}
    for run in spec["runs"]:
        dag_id = run["dag_id"]
        if dag_id not in dags:
            sdm = SerializedDagModel.get(dag_id, session=session)
            if sdm is None:
                sys.exit(f"DAG {dag_id} is not serialized")
            dags[dag_id] = sdm.dag
        dag = dags[dag_id]
        when = datetime.fromisoformat(run["logical_date"])
        wanted = {
            "run_id": run["run_id"],
            "logical_date": when,
            "data_interval": (when, when + timedelta(days=1)),
            "run_after": when + timedelta(days=1),
            "start_date": now,
            "conf": {},
            "run_type": DagRunType.SCHEDULED,
            "triggered_by": DagRunTriggeredByType.TIMETABLE,
            "state": DagRunState.RUNNING,
            "session": session,
        }
        # The signature moves between Airflow 3 releases: pass what this one takes.
        params = inspect.signature(dag.create_dagrun).parameters
        dag.create_dagrun(**{k: v for k, v in wanted.items() if k in params})
        session.flush()
        for task_id, (state, try_number) in run["tis"].items():
            res = session.execute(
                update(TaskInstance)
                .where(
                    TaskInstance.dag_id == dag_id,
                    TaskInstance.run_id == run["run_id"],
                    TaskInstance.task_id == task_id,
                    TaskInstance.map_index == -1,
                )
                .values(state=state, try_number=try_number, start_date=now, queued_dttm=now)
                .execution_options(synchronize_session=False)
            )
            if res.rowcount != 1:
                sys.exit(f"{dag_id} {run['run_id']} {task_id}: {res.rowcount} task instances, want 1")
            written += 1
print(written)
