"""The policy against the real Airflow and cncf-kubernetes provider of the venv it runs in.

The pod is the one KPO builds (``KubernetesPodOperator.build_pod_request_obj``), which calls
``airflow.settings.pod_mutation_hook`` itself: the policy is reached only through Airflow's own
pluggy plugin manager, where the ``airflow.policy`` entry point of the installed distribution put
it. The task context is Airflow's own (``set_current_context``) with a real task instance: the SDK's
``RuntimeTaskInstance`` on Airflow 3 (what the task runner hands to operators), the ORM
``TaskInstance`` on Airflow 2.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import pendulum
import pytest
from kubernetes.client import V1Container, V1ObjectMeta, V1Pod, V1PodSpec
from pydantic import TypeAdapter

import airflow
import airflow.settings
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

AIRFLOW_3 = int(airflow.__version__.split(".")[0]) >= 3
if AIRFLOW_3:
    from airflow.sdk import DAG
    from airflow.sdk.api.datamodels._generated import DagRun
    from airflow.sdk.execution_time.context import set_current_context
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
else:
    from airflow import DAG
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance, set_current_context

DEADLINE = "airflow-pod-deadline.io/execution-deadline"
TIMEOUT = "airflow-pod-deadline.io/execution-timeout"
START = datetime(2026, 5, 20, 9, 45, 30, 123456, tzinfo=timezone.utc)
RUN_ID = "manual__2026-05-20T09:45:30+00:00"
PREFIX = "airflow-pod-deadline.io"
# The task instance id make_ti gives an Airflow 3 try (Airflow 2's task instance has no id).
TI_ID = uuid.UUID("0193a5b2-7c1e-7d3a-9f00-0123456789ab")


def identity(task_id: str = "run_long_pod", dag_id: str = "etl", map_index: str = "-1", try_number: str = "1",
             instance: str = "default", start: datetime | None = START,
             try_id: uuid.UUID | None = TI_ID if AIRFLOW_3 else None) -> dict[str, str]:
    """The try-identity annotations the policy stamps (Airflow's exact strings) and, for a task
    instance started at ``start``, its try start (written out with strftime, not the policy's isoformat)
    and, on Airflow 3, its try id."""
    values = {"airflow-instance": instance, "dag-id": dag_id, "run-id": RUN_ID, "task-id": task_id,
              "map-index": map_index, "try-number": try_number}
    if start is not None:
        values["try-start"] = start.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    if try_id is not None:
        values["try-id"] = str(try_id)
    return {f"{PREFIX}/{name}": value for name, value in values.items()}


def policy_manager() -> Any:
    if hasattr(airflow.settings, "get_policy_plugin_manager"):  # Airflow 3
        return airflow.settings.get_policy_plugin_manager()
    return airflow.settings.POLICY_PLUGIN_MANAGER  # Airflow 2


def make_kpo(dag_id: str = "etl", dagrun_timeout: timedelta | None = None, **kwargs: Any) -> KubernetesPodOperator:
    """The seed reproduction's task (deferrable, 30 s budget) unless kwargs say otherwise."""
    args: dict[str, Any] = dict(
        task_id="run_long_pod",
        namespace="default",
        image="alpine:3.20",
        cmds=["sh", "-c"],
        arguments=["sleep 1800"],
        deferrable=True,
        execution_timeout=timedelta(seconds=30),
    )
    args.update(kwargs)
    with DAG(dag_id=dag_id, schedule=None, start_date=datetime(2026, 1, 1), catchup=False, dagrun_timeout=dagrun_timeout):
        return KubernetesPodOperator(**args)


def make_ti(task: KubernetesPodOperator, start: datetime | None, try_number: int = 1, map_index: int = -1,
            ti_id: uuid.UUID = TI_ID) -> Any:
    if AIRFLOW_3:
        return RuntimeTaskInstance.model_construct(
            id=ti_id, task_id=task.task_id, dag_id=task.dag_id, run_id=RUN_ID,
            try_number=try_number, map_index=map_index, dag_version_id=uuid.uuid4(), task=task,
            start_date=start, max_tries=task.retries,
        )
    ti = TaskInstance(task, run_id=RUN_ID, map_index=map_index)
    ti.start_date = start
    ti.try_number = try_number
    return ti


def make_dag_run(task: KubernetesPodOperator, start: datetime | None) -> Any:
    """The context's dag_run: the SDK's DagRun model (from the API server) on Airflow 3, the ORM one on 2."""
    if AIRFLOW_3:
        return DagRun.model_construct(dag_id=task.dag_id, run_id=RUN_ID, start_date=start)
    return DagRun(dag_id=task.dag_id, run_id=RUN_ID, start_date=start)


@contextmanager
def running(task: KubernetesPodOperator, ti: Any, run_start: datetime | None = None) -> Iterator[dict[str, Any]]:
    """Airflow's current-context stack as the task runner sets it around execute()."""
    context = {"ti": ti, "task_instance": ti, "task": task, "dag": task.dag, "run_id": ti.run_id,
               "dag_run": make_dag_run(task, run_start or ti.start_date)}
    with set_current_context(context):  # type: ignore[arg-type]
        yield context


def build(task: KubernetesPodOperator, start: datetime | None = START, try_number: int = 1,
          run_start: datetime | None = None, map_index: int = -1) -> V1Pod:
    ti = make_ti(task, start, try_number, map_index)
    with running(task, ti, run_start) as context:
        return task.build_pod_request_obj(context)


def deadline_of(pod: V1Pod) -> datetime:
    return datetime.fromisoformat(pod.metadata.annotations[DEADLINE])


def test_entry_point_registered_with_airflow() -> None:
    plugins = {name for name, _ in policy_manager().list_name_plugin()}
    assert "airflow_pod_deadline" in plugins
    impls = policy_manager().hook.pod_mutation_hook.get_hookimpls()
    assert any(impl.plugin_name == "airflow_pod_deadline" for impl in impls)


def test_seed_task_stamped_with_start_plus_timeout() -> None:
    task = make_kpo()
    pod = build(task)
    assert pod.metadata.labels["kubernetes_pod_operator"] == "True"
    assert deadline_of(pod) == START + task.execution_timeout
    assert pod.metadata.annotations[DEADLINE] == "2026-05-20T09:46:00.123456+00:00"


def test_non_deferrable_and_keep_pod_stamped_the_same() -> None:
    for kwargs in ({"deferrable": False}, {"on_finish_action": "keep_pod"}):
        task = make_kpo(**kwargs)
        assert deadline_of(build(task)) == START + timedelta(seconds=30), kwargs


def test_each_try_gets_its_own_deadline() -> None:
    task = make_kpo(retries=1, execution_timeout=timedelta(minutes=5))
    first = build(task, START, try_number=1)
    retry_start = START + timedelta(minutes=7)
    second = build(task, retry_start, try_number=2)
    assert second.metadata.labels["try_number"] == "2"
    assert deadline_of(first) == START + timedelta(minutes=5)
    assert deadline_of(second) == retry_start + timedelta(minutes=5)
    assert first.metadata.annotations[f"{PREFIX}/try-number"] == "1"
    assert second.metadata.annotations[f"{PREFIX}/try-number"] == "2"


def test_start_date_in_other_zone_stamped_in_utc() -> None:
    start = datetime(2026, 5, 20, 11, 45, 30, tzinfo=timezone(timedelta(hours=2)))
    pod = build(make_kpo(), start)
    assert pod.metadata.annotations[DEADLINE] == "2026-05-20T09:46:00+00:00"


def test_no_execution_timeout_not_stamped() -> None:
    pod = build(make_kpo(execution_timeout=None))
    assert pod.metadata.annotations == identity()


@pytest.mark.parametrize(
    "annotations",
    [{DEADLINE: "2026-05-20T09:50:00Z"}, {DEADLINE: ""}, {TIMEOUT: "5m"}, {TIMEOUT: ""}],
    ids=["deadline", "empty-deadline", "timeout", "empty-timeout"],
)
def test_dag_author_annotation_never_overridden(annotations: dict[str, str]) -> None:
    # The deadline (the run's backstop included) is the author's; the identity is still stamped.
    pod = build(make_kpo(annotations={**annotations, "team": "data"}, dagrun_timeout=timedelta(seconds=10)))
    assert pod.metadata.annotations == {**annotations, "team": "data", **identity()}


def test_other_annotations_kept() -> None:
    pod = build(make_kpo(annotations={"team": "data"}))
    assert pod.metadata.annotations == {"team": "data", DEADLINE: "2026-05-20T09:46:00.123456+00:00", **identity()}


def test_identity_exact_strings_not_kpo_labels(monkeypatch: pytest.MonkeyPatch) -> None:
    # KPO's labels sanitize the run_id (no colons or plus) and drop map_index -1; the annotations
    # carry Airflow's own strings, which is what its API looks a try up by.
    monkeypatch.setenv("AIRFLOW_POD_DEADLINE_INSTANCE", " prod ")
    pod = build(make_kpo(), try_number=3)
    assert pod.metadata.labels["run_id"] != RUN_ID
    assert pod.metadata.labels["try_number"] == "3"
    assert {k: v for k, v in pod.metadata.annotations.items() if k != DEADLINE} == identity(try_number="3", instance="prod")


def test_mapped_task_identity() -> None:
    pod = build(make_kpo(), map_index=4)
    assert pod.metadata.labels["map_index"] == "4"
    assert pod.metadata.annotations[f"{PREFIX}/map-index"] == "4"


def test_author_identity_annotation_kept() -> None:
    pod = build(make_kpo(annotations={f"{PREFIX}/airflow-instance": "staging"}))
    assert pod.metadata.annotations[f"{PREFIX}/airflow-instance"] == "staging"
    assert pod.metadata.annotations[f"{PREFIX}/try-number"] == "1"


@pytest.mark.parametrize(
    ("execution_timeout", "dagrun_timeout", "run_start", "want"),
    [
        # dagrun_timeout shorter than what is left of execution_timeout: the run's deadline.
        (timedelta(minutes=10), timedelta(minutes=5), START - timedelta(minutes=1), START + timedelta(minutes=4)),
        # The task's own budget ends first.
        (timedelta(seconds=30), timedelta(minutes=5), START - timedelta(minutes=1), START + timedelta(seconds=30)),
        # Only dagrun_timeout.
        (None, timedelta(minutes=5), START - timedelta(minutes=1), START + timedelta(minutes=4)),
    ],
    ids=["run-earlier", "task-earlier", "run-only"],
)
def test_dagrun_timeout_backstop(execution_timeout: timedelta | None, dagrun_timeout: timedelta, run_start: datetime, want: datetime) -> None:
    task = make_kpo(execution_timeout=execution_timeout, dagrun_timeout=dagrun_timeout)
    assert task.dag.dagrun_timeout == dagrun_timeout
    pod = build(task, run_start=run_start)
    assert deadline_of(pod) == want


def test_non_kpo_pod_untouched_through_airflow_settings() -> None:
    # A KubernetesExecutor worker pod, passed through the same entry Airflow uses for it.
    pod = V1Pod(
        metadata=V1ObjectMeta(name="worker", labels={"airflow-worker": "1", "kubernetes_executor": "True"}),
        spec=V1PodSpec(containers=[V1Container(name="base", image="apache/airflow")]),
    )
    task = make_kpo()
    with running(task, make_ti(task, START)):
        airflow.settings.pod_mutation_hook(pod)
    assert pod.metadata.annotations is None


def test_outside_a_task_silent(caplog: pytest.LogCaptureFixture) -> None:
    # KPO's dry_run() builds the pod with no context: KPO then sets none of its identifying labels
    # (not even kubernetes_pod_operator), so the policy leaves the pod alone without a word.
    task = make_kpo()
    with caplog.at_level(logging.WARNING, logger="airflow_pod_deadline.policy"):
        pod = task.build_pod_request_obj()
    assert "kubernetes_pod_operator" not in pod.metadata.labels
    assert DEADLINE not in (pod.metadata.annotations or {})
    assert not [r for r in caplog.records if r.name == "airflow_pod_deadline.policy"]


def test_kpo_label_without_task_context_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    # A KPO-labelled pod reaching the hook with no task running (e.g. a custom caller): a warning,
    # no exception, no annotation.
    pod = V1Pod(metadata=V1ObjectMeta(name="orphan", labels={"kubernetes_pod_operator": "True"}))
    with caplog.at_level(logging.WARNING, logger="airflow_pod_deadline.policy"):
        airflow.settings.pod_mutation_hook(pod)
    assert pod.metadata.annotations is None
    assert any("could not stamp the execution deadline or the try identity on pod orphan" in r.getMessage() for r in caplog.records)


def test_start_date_missing_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    # No deadline (it needs the start) and no try start; the identity still goes on.
    with caplog.at_level(logging.WARNING, logger="airflow_pod_deadline.policy"):
        pod = build(make_kpo(), start=None, run_start=START)
    assert pod.metadata.annotations == identity(start=None)
    out = [r.getMessage() for r in caplog.records if r.name == "airflow_pod_deadline.policy"]
    assert any("execution_timeout deadline" in m and "ti.start_date is None" in m for m in out), out
    # A set: run from this directory, airflow_local_settings.py is imported too, and its call warns again.
    assert {m for m in out if "try check cannot confirm" in m} == {
        f"airflow-pod-deadline: pod {pod.metadata.name} is stamped without try-start: ti.start_date is None, "
        "not a datetime; the try check cannot confirm from this pod that it asks the Airflow that made it"
    }


@pytest.mark.parametrize(
    "start",
    [
        START,
        datetime(2026, 5, 20, 11, 45, 30, tzinfo=timezone(timedelta(hours=2))),
        # How Airflow 3's task runner gets it: parsed by pydantic from the supervisor's message.
        TypeAdapter(datetime).validate_python("2026-05-20T11:45:30.000007+02:00"),
        # Airflow's own aware datetime (pendulum), as the ORM hands it out on Airflow 2.
        pendulum.datetime(2026, 3, 29, 3, 30, 0, 42, tz="Europe/Berlin"),
    ],
    ids=["utc-microseconds", "plus-offset", "pydantic", "pendulum-dst-zone"],
)
def test_try_start_is_the_task_instances_start_date(start: datetime) -> None:
    # What the sweeper compares with the API's start_date of this try: ti.start_date, not the
    # run's start (another instant here), to the microsecond, in UTC.
    task = make_kpo(dagrun_timeout=timedelta(hours=1))
    ti = make_ti(task, start)
    with running(task, ti, run_start=START - timedelta(minutes=5)) as context:
        pod = task.build_pod_request_obj(context)
    value = pod.metadata.annotations[f"{PREFIX}/try-start"]
    assert datetime.fromisoformat(value) == ti.start_date
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00", value), value
    assert deadline_of(pod) == start + timedelta(seconds=30)
    assert {k: v for k, v in pod.metadata.annotations.items() if k != DEADLINE} == identity(start=start)


@pytest.mark.skipif(not AIRFLOW_3, reason="Airflow 2's task instance has no id")
def test_try_id_is_the_runtime_task_instances_id() -> None:
    # The id as the task runner gets it: parsed by pydantic from the supervisor's message (a string
    # there), drawn as Airflow 3 draws it for each try (uuid7).
    from airflow.sdk.api.datamodels._generated import TaskInstance as TaskInstanceModel
    from uuid6 import uuid7

    task = make_kpo()
    drawn = uuid7()
    parsed = TaskInstanceModel.model_validate(
        {"id": str(drawn), "task_id": task.task_id, "dag_id": task.dag_id, "run_id": RUN_ID, "try_number": 2,
         "dag_version_id": str(uuid7())}
    )
    ti = make_ti(task, START, try_number=2, ti_id=parsed.id)
    assert isinstance(ti.id, uuid.UUID) and ti.id == drawn
    with running(task, ti) as context:
        pod = task.build_pod_request_obj(context)
    assert pod.metadata.annotations[f"{PREFIX}/try-id"] == str(ti.id)
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", str(ti.id))
    assert {k: v for k, v in pod.metadata.annotations.items() if k != DEADLINE} == identity(try_number="2", try_id=drawn)


def test_each_try_gets_its_own_try_id() -> None:
    # A retry is a new task instance id on Airflow 3; on Airflow 2 no pod gets one.
    task = make_kpo(retries=1)
    ids = [uuid.uuid4(), uuid.uuid4()]
    pods = [build_with_id(task, n, ti_id) for n, ti_id in enumerate(ids, start=1)]
    got = [pod.metadata.annotations.get(f"{PREFIX}/try-id") for pod in pods]
    assert got == ([str(ti_id) for ti_id in ids] if AIRFLOW_3 else [None, None])


def build_with_id(task: KubernetesPodOperator, try_number: int, ti_id: uuid.UUID) -> V1Pod:
    ti = make_ti(task, START, try_number=try_number, ti_id=ti_id)
    if not AIRFLOW_3:
        assert not hasattr(ti, "id")  # Airflow 2.11's TaskInstance: the policy has nothing to stamp
    with running(task, ti) as context:
        return task.build_pod_request_obj(context)


def test_policy_module_loads_without_airflow() -> None:
    code = (
        "import sys; sys.modules['airflow'] = None\n"
        "import airflow_pod_deadline.policy as p\n"
        "assert 'airflow' not in [m.split('.')[0] for m in sys.modules if sys.modules[m] is not None]\n"
        "print(p.pod_mutation_hook.__name__)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "pod_mutation_hook"
