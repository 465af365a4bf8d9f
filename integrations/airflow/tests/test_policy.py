"""Unit tests of the policy's logic with the real Kubernetes client models and stand-in task
contexts (ported from the former unittest suite). Only ``get_current_context`` is stood in: fake
``airflow.sdk`` (Airflow 3) or ``airflow.operators.python`` (Airflow 2) modules are put into
``sys.modules`` for the duration of a call, so the Airflow 2/3 fallback is exercised in every venv.
tests/test_airflow.py runs the same policy against the real Airflow.
"""

from __future__ import annotations

import copy
import logging
import os
import re
import sys
import time
import types
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import date, datetime, timedelta, timezone
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from kubernetes.client import V1Container, V1ObjectMeta, V1Pod, V1PodSpec

import airflow_pod_deadline.policy as hook

DEADLINE = "airflow-pod-deadline.io/execution-deadline"
TIMEOUT = "airflow-pod-deadline.io/execution-timeout"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
LOGGER = hook.log.name

KPO_LABELS = {
    "dag_id": "etl",
    "task_id": "crunch",
    "run_id": "manual__2026-05-20T09.45.30",
    "try_number": "1",
    "map_index": "-1",
    "kubernetes_pod_operator": "True",
    "airflow_version": "3.1.0",
    "airflow_kpo_in_cluster": "True",
}
EXECUTOR_LABELS = {"airflow-worker": "42", "kubernetes_executor": "True", "dag_id": "etl", "task_id": "crunch"}
T0 = datetime(2026, 5, 20, 9, 45, 30, tzinfo=timezone.utc)
HALF_HOUR = timedelta(minutes=30)


def make_pod(labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None, metadata: bool = True) -> V1Pod:
    meta = V1ObjectMeta(name="crunch-abc123", namespace="airflow", labels=labels, annotations=annotations)
    return V1Pod(
        api_version="v1", kind="Pod", metadata=meta if metadata else None,
        spec=V1PodSpec(containers=[V1Container(name="base", image="busybox:1.36")]),
    )


def kpo_pod(annotations: dict[str, str] | None = None) -> V1Pod:
    return make_pod(labels=dict(KPO_LABELS), annotations=annotations)


RUN_ID = "manual__2026-05-20T09:45:30.123456+00:00"
# The try identity the policy stamps for FakeTI's defaults: the exact strings, not KPO's sanitized labels.
IDENTITY = {
    "airflow-pod-deadline.io/airflow-instance": "default",
    "airflow-pod-deadline.io/dag-id": "etl",
    "airflow-pod-deadline.io/run-id": RUN_ID,
    "airflow-pod-deadline.io/task-id": "crunch",
    "airflow-pod-deadline.io/map-index": "-1",
    "airflow-pod-deadline.io/try-number": "1",
}
TRY_START = "airflow-pod-deadline.io/try-start"
TRY_ID = "airflow-pod-deadline.io/try-id"
# An Airflow 3 try's task instance id (a UUIDv7, as prepare_db_for_next_try draws it), canonical form.
TI_ID = "0193a5b2-7c1e-7d3a-9f00-0123456789ab"


def stamped_identity(start: Any = T0) -> dict[str, str]:
    """What the policy stamps besides the deadline for FakeTI's defaults started at ``start``: IDENTITY
    and, when ``start`` is a datetime, its try start.

    Written out with strftime, not the policy's isoformat, so that the two must agree; the exact
    strings are in test_try_start_format.
    """
    if not isinstance(start, datetime):
        return dict(IDENTITY)
    if start.utcoffset() is None:
        start = start.replace(tzinfo=timezone.utc)
    return {**IDENTITY, TRY_START: start.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")}


NO_VALUE = object()


class FakeTI:
    def __init__(self, start_date: Any, **fields: Any) -> None:
        self.start_date = start_date
        # No id by default: Airflow 2's task instance, which has none (``id=...`` makes it Airflow 3's).
        defaults: dict[str, Any] = {"dag_id": "etl", "run_id": RUN_ID, "task_id": "crunch", "map_index": -1, "try_number": 1,
                                    "id": NO_VALUE}
        for name, value in {**defaults, **fields}.items():
            if value is not NO_VALUE:  # NO_VALUE: the attribute does not exist at all
                setattr(self, name, value)


class FakeTask:
    def __init__(self, execution_timeout: Any, task_id: str = "crunch") -> None:
        self.execution_timeout = execution_timeout
        self.task_id = task_id


class FakeDag:
    def __init__(self, dagrun_timeout: Any, dag_id: str = "etl") -> None:
        self.dagrun_timeout = dagrun_timeout
        self.dag_id = dag_id


class FakeDagRun:
    def __init__(self, start_date: Any) -> None:
        self.start_date = start_date


class Calls:
    """A get_current_context stand-in that counts calls and can raise."""

    def __init__(self, context: Any = None, exc: BaseException | None = None) -> None:
        self.context, self.exc, self.count = context, exc, 0

    def __call__(self) -> Any:
        self.count += 1
        if self.exc is not None:
            raise self.exc
        return self.context


def context(start_date: Any, timeout: Any, dagrun_timeout: Any = None, run_start: Any = NO_VALUE, **ti_fields: Any) -> dict[str, Any]:
    """A task context as Airflow hands it out: ti, task, dag and dag_run.

    ``run_start`` defaults to the task's start (the run began with this task).
    """
    return {
        "ti": FakeTI(start_date, **ti_fields),
        "task": FakeTask(timeout),
        "dag": FakeDag(dagrun_timeout),
        "dag_run": FakeDagRun(start_date if run_start is NO_VALUE else run_start),
    }


def _pkg(name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__path__ = []  # a package, so that submodule imports not listed here fail cleanly
    return module


Patch = Callable[[Any], AbstractContextManager[Any]]


def airflow3(fn: Any) -> AbstractContextManager[Any]:
    """sys.modules patch that makes ``from airflow.sdk import get_current_context`` return fn."""
    sdk = types.ModuleType("airflow.sdk")
    sdk.get_current_context = fn  # type: ignore[attr-defined]
    return mock.patch.dict(sys.modules, {"airflow": _pkg("airflow"), "airflow.sdk": sdk})


def airflow2(fn: Any) -> AbstractContextManager[Any]:
    """Airflow 2: no airflow.sdk, get_current_context in airflow.operators.python."""
    py = types.ModuleType("airflow.operators.python")
    py.get_current_context = fn  # type: ignore[attr-defined]
    # None in sys.modules makes ``import airflow.sdk`` raise ImportError, as on Airflow 2.
    return mock.patch.dict(
        sys.modules,
        {"airflow": _pkg("airflow"), "airflow.sdk": None, "airflow.operators": _pkg("airflow.operators"),
         "airflow.operators.python": py},
    )


@pytest.fixture(autouse=True)
def default_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(hook.PREFIX_ENV, raising=False)
    # Every test starts with no bad instance name warned about yet.
    monkeypatch.setattr(hook, "_warned_instances", set())


def run_hook(pod: Any, ctx: Any = None, patch: Patch = airflow3) -> Calls:
    fn = Calls(ctx)
    with patch(fn):
        result = hook.pod_mutation_hook(pod)
    assert result is None  # Airflow ignores the return value and expects in-place mutation
    return fn


def assert_untouched(pod: V1Pod, before: V1Pod) -> None:
    assert pod.to_dict() == before.to_dict()


def policy_records(caplog: pytest.LogCaptureFixture, level: int = logging.WARNING) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER and r.levelno >= level]


# --- stamping ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "timeout", "want"),
    [
        (datetime(2026, 5, 20, 9, 45, 30, 123456, tzinfo=timezone.utc), HALF_HOUR, "2026-05-20T10:15:30.123456+00:00"),
        (T0, HALF_HOUR, "2026-05-20T10:15:30+00:00"),
        (datetime(2026, 5, 20, 11, 45, 30, 5, tzinfo=timezone(timedelta(hours=2))), HALF_HOUR, "2026-05-20T10:15:30.000005+00:00"),
        (datetime(2026, 5, 19, 23, 0, tzinfo=timezone(-timedelta(hours=5, minutes=30))), timedelta(hours=1), "2026-05-20T05:30:00+00:00"),
        # 01:30 CET is 00:30 UTC; two hours later is 02:30 UTC (wall-clock arithmetic would be an hour short).
        (datetime(2026, 3, 29, 1, 30, tzinfo=ZoneInfo("Europe/Berlin")), timedelta(hours=2), "2026-03-29T02:30:00+00:00"),
        (datetime(2026, 12, 31, 23, 0, tzinfo=timezone.utc), timedelta(days=1, seconds=5), "2027-01-01T23:00:05+00:00"),
    ],
    ids=["microseconds", "whole-seconds", "plus-offset", "minus-offset", "across-dst", "multi-day"],
)
def test_stamps_kpo_pod(start: datetime, timeout: timedelta, want: str) -> None:
    pod = kpo_pod()
    run_hook(pod, context(start, timeout))
    assert pod.metadata.annotations == {DEADLINE: want, **stamped_identity(start)}
    assert type(pod.metadata.annotations[DEADLINE]) is str


def test_naive_start_date_treated_as_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    # In a non-UTC local zone, so that "naive means local time" would be caught.
    pod = kpo_pod()
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        run_hook(pod, context(datetime(2026, 5, 20, 9, 45, 30, 123456), HALF_HOUR))
    finally:
        monkeypatch.undo()
        time.tzset()
    assert pod.metadata.annotations[DEADLINE] == "2026-05-20T10:15:30.123456+00:00"


def test_existing_unrelated_annotations_kept_and_callers_dict_not_mutated() -> None:
    own = {"team": "data", "sidecar.istio.io/inject": "false"}
    pod = kpo_pod(annotations=own)
    run_hook(pod, context(T0, HALF_HOUR))
    assert pod.metadata.annotations == {**own, DEADLINE: "2026-05-20T10:15:30+00:00", **stamped_identity()}
    assert own == {"team": "data", "sidecar.istio.io/inject": "false"}


def test_only_annotations_change() -> None:
    pod = kpo_pod()
    before = copy.deepcopy(pod)
    run_hook(pod, context(T0, HALF_HOUR))
    after = pod.to_dict()
    assert after["metadata"].pop("annotations") is not None
    expected = before.to_dict()
    expected["metadata"].pop("annotations")
    assert after == expected


@pytest.mark.parametrize("patch", [airflow3, airflow2], ids=["airflow3", "airflow2"])
def test_context_lookup_per_airflow_major(patch: Patch) -> None:
    pod = kpo_pod()
    fn = run_hook(pod, context(T0, HALF_HOUR), patch=patch)
    assert fn.count == 1
    assert pod.metadata.annotations == {DEADLINE: "2026-05-20T10:15:30+00:00", **stamped_identity()}


def test_airflow3_preferred_over_airflow2() -> None:
    # Airflow 3 still ships airflow.operators.python as a deprecated shim; the SDK must win.
    sdk_fn = Calls(context(datetime(2026, 5, 20, 9, 0, tzinfo=timezone.utc), HALF_HOUR))
    legacy_fn = Calls(context(datetime(2020, 1, 1, tzinfo=timezone.utc), HALF_HOUR))
    sdk = types.ModuleType("airflow.sdk")
    sdk.get_current_context = sdk_fn  # type: ignore[attr-defined]
    py = types.ModuleType("airflow.operators.python")
    py.get_current_context = legacy_fn  # type: ignore[attr-defined]
    pod = kpo_pod()
    with mock.patch.dict(sys.modules, {"airflow": _pkg("airflow"), "airflow.sdk": sdk,
                                       "airflow.operators": _pkg("airflow.operators"), "airflow.operators.python": py}):
        hook.pod_mutation_hook(pod)
    assert (sdk_fn.count, legacy_fn.count) == (1, 0)
    assert pod.metadata.annotations[DEADLINE] == "2026-05-20T09:30:00+00:00"


# --- the run's deadline (dagrun_timeout) -------------------------------------------------------


@pytest.mark.parametrize(
    ("task_timeout", "dagrun_timeout", "run_start", "want"),
    [
        # Only dagrun_timeout: the run's deadline.
        (None, timedelta(hours=1), T0 - timedelta(minutes=20), "2026-05-20T10:25:30+00:00"),
        # Both, the run ends first (it started earlier than the task).
        (HALF_HOUR, timedelta(hours=1), T0 - timedelta(minutes=50), "2026-05-20T09:55:30+00:00"),
        # Both, the task ends first.
        (HALF_HOUR, timedelta(hours=1), T0 - timedelta(minutes=5), "2026-05-20T10:15:30+00:00"),
        # Both the same instant.
        (HALF_HOUR, timedelta(minutes=40), T0 - timedelta(minutes=10), "2026-05-20T10:15:30+00:00"),
        # The run's start in another zone, with microseconds: converted to UTC first.
        (None, timedelta(minutes=30), datetime(2026, 5, 20, 11, 40, 0, 250, tzinfo=timezone(timedelta(hours=2))), "2026-05-20T10:10:00.000250+00:00"),
        # A naive run start is UTC.
        (None, timedelta(minutes=30), datetime(2026, 5, 20, 9, 40), "2026-05-20T10:10:00+00:00"),
        # A non-positive dagrun_timeout is ignored (and logged); the task's deadline stays.
        (HALF_HOUR, timedelta(0), T0, "2026-05-20T10:15:30+00:00"),
    ],
    ids=["run-only", "run-earlier", "task-earlier", "equal", "run-start-offset", "run-start-naive", "run-timeout-zero"],
)
@pytest.mark.parametrize("patch", [airflow3, airflow2], ids=["airflow3", "airflow2"])
def test_run_deadline_backstop(task_timeout: Any, dagrun_timeout: timedelta, run_start: datetime, want: str, patch: Patch) -> None:
    pod = kpo_pod()
    run_hook(pod, context(T0, task_timeout, dagrun_timeout=dagrun_timeout, run_start=run_start), patch=patch)
    assert pod.metadata.annotations == {DEADLINE: want, **stamped_identity()}


def test_non_positive_dagrun_timeout_logged(caplog: pytest.LogCaptureFixture) -> None:
    pod = kpo_pod()
    run_hook(pod, context(T0, None, dagrun_timeout=timedelta(seconds=-1)))
    assert pod.metadata.annotations == stamped_identity()
    assert any("DAG etl has a non-positive dagrun_timeout" in r.getMessage() for r in policy_records(caplog))


def test_dag_from_the_task_when_the_context_has_none() -> None:
    ctx = context(T0, None, run_start=T0 - timedelta(minutes=5))
    del ctx["dag"]
    ctx["task"].dag = FakeDag(timedelta(minutes=10))
    pod = kpo_pod()
    run_hook(pod, ctx)
    assert pod.metadata.annotations[DEADLINE] == "2026-05-20T09:50:30+00:00"


def test_task_without_a_dag_has_no_run_deadline(caplog: pytest.LogCaptureFixture) -> None:
    # BaseOperator.dag raises when the task has no DAG: no run, no run deadline, no noise.
    class DaglessTask(FakeTask):
        @property
        def dag(self) -> Any:
            raise RuntimeError("Operator <Task(KubernetesPodOperator): crunch> has not been assigned to a DAG yet")

    ctx = context(T0, HALF_HOUR)
    del ctx["dag"]
    ctx["task"] = DaglessTask(HALF_HOUR)
    pod = kpo_pod()
    run_hook(pod, ctx)
    assert pod.metadata.annotations == {DEADLINE: "2026-05-20T10:15:30+00:00", **stamped_identity()}
    assert not policy_records(caplog)


def test_dagrun_timeout_without_a_dag_run(caplog: pytest.LogCaptureFixture) -> None:
    ctx = context(T0, HALF_HOUR, dagrun_timeout=timedelta(minutes=5))
    del ctx["dag_run"]
    pod = kpo_pod()
    run_hook(pod, ctx)
    assert pod.metadata.annotations == {DEADLINE: "2026-05-20T10:15:30+00:00", **stamped_identity()}
    assert any("dag_run.start_date is None" in r.getMessage() for r in policy_records(caplog))


# --- the try identity ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "want"),
    [
        ({"map_index": 0}, {"map-index": "0"}),
        ({"map_index": 12}, {"map-index": "12"}),
        ({"map_index": None}, {"map-index": "-1"}),
        ({"try_number": 3}, {"try-number": "3"}),
        # Exact strings: what KPO's labels sanitize (colons, plus, length, non-ASCII) is kept.
        ({"run_id": "scheduled__2026-05-20T00:00:00+00:00"}, {"run-id": "scheduled__2026-05-20T00:00:00+00:00"}),
        ({"dag_id": "team.a-very_long." + "x" * 200, "task_id": "group.inner_task"},
         {"dag-id": "team.a-very_long." + "x" * 200, "task-id": "group.inner_task"}),
        ({"run_id": "manual run: \u00e9t\u00e9 #1"}, {"run-id": "manual run: \u00e9t\u00e9 #1"}),
    ],
    ids=["map-0", "map-12", "map-none", "try-3", "scheduled-run", "long-dotted", "non-ascii"],
)
def test_identity_exact_strings(fields: dict[str, Any], want: dict[str, str]) -> None:
    pod = kpo_pod()
    run_hook(pod, context(T0, HALF_HOUR, **fields))
    expected = {**stamped_identity(), **{f"{hook.DEFAULT_PREFIX}/{name}": value for name, value in want.items()}}
    assert pod.metadata.annotations == {DEADLINE: "2026-05-20T10:15:30+00:00", **expected}
    assert all(type(value) is str for value in pod.metadata.annotations.values())


@pytest.mark.parametrize("patch", [airflow3, airflow2], ids=["airflow3", "airflow2"])
def test_identity_per_airflow_major(patch: Patch) -> None:
    pod = kpo_pod()
    run_hook(pod, context(T0, None, map_index=2, try_number=2), patch=patch)
    assert pod.metadata.annotations["airflow-pod-deadline.io/map-index"] == "2"
    assert pod.metadata.annotations["airflow-pod-deadline.io/try-number"] == "2"


@pytest.mark.parametrize(
    ("env", "want"),
    [
        (None, "default"), ("prod", "prod"), ("  team-a \n", "team-a"), ("   ", "default"), ("", "default"),
        ("Legacy_2.x", "Legacy_2.x"), ("a" * 63, "a" * 63),
    ],
    ids=["unset", "set", "stripped", "blank", "empty", "every allowed kind", "63 characters"],
)
def test_instance_name_from_env(env: str | None, want: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    if env is None:
        monkeypatch.delenv(hook.INSTANCE_ENV, raising=False)
    else:
        monkeypatch.setenv(hook.INSTANCE_ENV, env)
    pod = kpo_pod()
    run_hook(pod, context(T0, HALF_HOUR))
    assert pod.metadata.annotations["airflow-pod-deadline.io/airflow-instance"] == want
    assert not policy_records(caplog)


@pytest.mark.parametrize("bad", ["team/a", "-prod", "prod.", "a b", "a,b", "pröd", "_", "a" * 64])
def test_bad_instance_name_stamped_as_is_and_warned_once(bad: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    # The binary refuses to serve such a name, so stamping it keeps these pods away from every try
    # check; a fallback to "default" could hand them to another Airflow's. The task never fails.
    monkeypatch.setenv(hook.INSTANCE_ENV, f" {bad} ")
    pods = [kpo_pod(), kpo_pod()]
    for pod in pods:
        run_hook(pod, context(T0, HALF_HOUR))
        assert pod.metadata.annotations == {
            DEADLINE: "2026-05-20T10:15:30+00:00", **stamped_identity(), "airflow-pod-deadline.io/airflow-instance": bad,
        }
    warnings = [r.getMessage() for r in policy_records(caplog)]
    assert len(warnings) == 1, warnings
    assert f"AIRFLOW_POD_DEADLINE_INSTANCE={bad!r} is not a valid instance name ({hook.INSTANCE_PATTERN})" in warnings[0]


def test_each_bad_instance_name_warned_once(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    for env in ("team/a", "team/a", "prod", "team/b", "team/a", "team/b"):
        monkeypatch.setenv(hook.INSTANCE_ENV, env)
        run_hook(kpo_pod(), context(T0, HALF_HOUR))
    warnings = [r.getMessage() for r in policy_records(caplog)]
    assert len(warnings) == 2, warnings
    assert "'team/a'" in warnings[0] and "'team/b'" in warnings[1]


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("default", True), ("a", True), ("Legacy_2.x-prod", True), ("a" * 63, True), ("a" * 64, False),
        ("", False), ("team/a", False), ("a,b", False), ("a b", False), (".hidden", False),
        ("prod-", False), ("prod\n", False), ("pröd", False), ("_", False),
    ],
)
def test_instance_pattern(name: str, ok: bool) -> None:
    # The same table as TestValidateInstance (deadline/deadline_test.go): Python's re and Go's
    # regexp read the pattern alike (fullmatch: a trailing newline does not slip past "$").
    assert (hook._INSTANCE_RE.fullmatch(name) is not None) == ok


def test_identity_key_names_match_the_go_side() -> None:
    # deadline/deadline.go: InstanceName, DagIDName, RunIDName, TaskIDName, MapIndexName, TryNumberName.
    assert hook.IDENTITY_NAMES == ("airflow-instance", "dag-id", "run-id", "task-id", "map-index", "try-number")
    assert {f"{hook.DEFAULT_PREFIX}/{name}" for name in hook.IDENTITY_NAMES} == set(IDENTITY)


def test_author_identity_kept_rest_stamped(caplog: pytest.LogCaptureFixture) -> None:
    own = {"airflow-pod-deadline.io/airflow-instance": "staging", "airflow-pod-deadline.io/dag-id": "etl"}
    pod = kpo_pod(annotations=dict(own))
    run_hook(pod, context(T0, HALF_HOUR))
    assert pod.metadata.annotations == {DEADLINE: "2026-05-20T10:15:30+00:00", **stamped_identity(), **own}
    # The differing value is named in a warning; the equal one is not.
    out = "\n".join(r.getMessage() for r in policy_records(caplog))
    assert "airflow-pod-deadline.io/airflow-instance='staging', not this try's 'default'" in out, out
    assert "dag-id" not in out


def test_second_call_changes_nothing(caplog: pytest.LogCaptureFixture) -> None:
    # The entry point and an airflow_local_settings.py wrapper both installed: the second call sees
    # its own stamps and is silent.
    pod = kpo_pod()
    ctx = context(T0, HALF_HOUR, dagrun_timeout=timedelta(minutes=20))
    run_hook(pod, ctx)
    first = copy.deepcopy(pod)
    run_hook(pod, ctx)
    assert_untouched(pod, first)
    assert not policy_records(caplog)


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"dag_id": None}, "ti.dag_id is None"),
        ({"run_id": ""}, "ti.run_id is ''"),
        ({"task_id": NO_VALUE}, "ti.task_id is None"),
        ({"run_id": 5}, "ti.run_id is 5"),
        ({"map_index": "0"}, "ti.map_index is '0'"),
        ({"map_index": -2}, "ti.map_index is -2"),
        ({"map_index": True}, "ti.map_index is True"),
        ({"try_number": 0}, "ti.try_number is 0"),
        ({"try_number": None}, "ti.try_number is None"),
        ({"try_number": "1"}, "ti.try_number is '1'"),
        ({"try_number": False}, "ti.try_number is False"),
    ],
    ids=["dag-none", "run-empty", "task-missing", "run-int", "map-str", "map-below", "map-bool",
         "try-zero", "try-none", "try-str", "try-bool"],
)
def test_bad_identity_all_or_nothing_deadline_kept(fields: dict[str, Any], says: str, caplog: pytest.LogCaptureFixture) -> None:
    # A partial or guessed identity could make the sweeper judge another try: none of it is stamped.
    pod = kpo_pod()
    run_hook(pod, context(T0, HALF_HOUR, **fields))
    assert pod.metadata.annotations == {DEADLINE: "2026-05-20T10:15:30+00:00"}
    out = "\n".join(r.getMessage() for r in policy_records(caplog))
    assert "could not stamp the try identity on pod crunch-abc123" in out and says in out, out


# --- the try start ----------------------------------------------------------------------------

# What the sweeper parses (Go's time.RFC3339Nano) in the one form the policy writes: six digits, UTC.
TRY_START_FORM = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$")


@pytest.mark.parametrize(
    ("start", "want"),
    [
        (datetime(2026, 5, 20, 9, 45, 30, 123456, tzinfo=timezone.utc), "2026-05-20T09:45:30.123456+00:00"),
        # Whole seconds still carry the six digits (isoformat() alone would drop them).
        (T0, "2026-05-20T09:45:30.000000+00:00"),
        (datetime(2026, 5, 20, 9, 45, 30, 1, tzinfo=timezone.utc), "2026-05-20T09:45:30.000001+00:00"),
        (datetime(2026, 5, 20, 11, 45, 30, 5, tzinfo=timezone(timedelta(hours=2))), "2026-05-20T09:45:30.000005+00:00"),
        (datetime(2026, 5, 19, 23, 0, tzinfo=timezone(-timedelta(hours=5, minutes=30))), "2026-05-20T04:30:00.000000+00:00"),
        (datetime(2026, 3, 29, 3, 30, 0, 999999, tzinfo=ZoneInfo("Europe/Berlin")), "2026-03-29T01:30:00.999999+00:00"),
        # Naive is UTC (Airflow's convention), as for the deadline.
        (datetime(2026, 5, 20, 9, 45, 30, 120000), "2026-05-20T09:45:30.120000+00:00"),
    ],
    ids=["microseconds", "whole-seconds", "one-microsecond", "plus-offset", "minus-offset", "dst-zone", "naive"],
)
@pytest.mark.parametrize("patch", [airflow3, airflow2], ids=["airflow3", "airflow2"])
def test_try_start_format(start: datetime, want: str, patch: Patch, caplog: pytest.LogCaptureFixture) -> None:
    # No budget, so the deadline part never reads start_date: the value is the try start's own.
    pod = kpo_pod()
    run_hook(pod, context(start, None), patch=patch)
    assert pod.metadata.annotations == {**IDENTITY, TRY_START: want}
    assert TRY_START_FORM.match(want) and RFC3339.match(want)
    assert not policy_records(caplog)


def test_try_start_is_the_task_instances_not_the_runs() -> None:
    # The API's start_date is the task instance's; the run's start (and the deadline) are other instants.
    pod = kpo_pod()
    run_hook(pod, context(T0, HALF_HOUR, dagrun_timeout=timedelta(hours=1), run_start=T0 - timedelta(minutes=50)))
    assert pod.metadata.annotations == {DEADLINE: "2026-05-20T09:55:30+00:00", **IDENTITY, TRY_START: "2026-05-20T09:45:30.000000+00:00"}


def test_naive_try_start_is_utc_in_any_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    pod = kpo_pod()
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        run_hook(pod, context(datetime(2026, 5, 20, 9, 45, 30, 123456), None))
    finally:
        monkeypatch.undo()
        time.tzset()
    assert pod.metadata.annotations[TRY_START] == "2026-05-20T09:45:30.123456+00:00"


@pytest.mark.parametrize(
    ("start", "says"),
    [
        (None, "ti.start_date is None"),
        (NO_VALUE, "ti.start_date is None"),
        ("2026-05-20T09:45:30+00:00", "ti.start_date is '2026-05-20T09:45:30+00:00'"),
        (1779270330, "ti.start_date is 1779270330"),
        (date(2026, 5, 20), "ti.start_date is datetime.date(2026, 5, 20)"),
    ],
    ids=["none", "missing", "str", "epoch", "date"],
)
@pytest.mark.parametrize("timeout", [None, HALF_HOUR], ids=["no-budget", "budget"])
def test_no_datetime_start_identity_without_try_start(start: Any, says: str, timeout: Any, caplog: pytest.LogCaptureFixture) -> None:
    # The identity is what the check requires; without a start only the confirmation is lost.
    ctx = context(start, timeout)
    if start is NO_VALUE:
        del ctx["ti"].start_date
    pod = kpo_pod()
    run_hook(pod, ctx)
    assert pod.metadata.annotations == IDENTITY  # and no deadline: it needs the start too
    warnings = [r.getMessage() for r in policy_records(caplog) if "try check cannot confirm" in r.getMessage()]
    assert warnings == [
        f"airflow-pod-deadline: pod crunch-abc123 is stamped without try-start: {says}, not a datetime; "
        "the try check cannot confirm from this pod that it asks the Airflow that made it"
    ]
    # Nothing else is said about it: the only other warning is the deadline's, when there is a budget.
    assert len(policy_records(caplog)) == (1 if timeout is None else 2)


def test_try_start_that_cannot_be_converted_is_logged_identity_kept(caplog: pytest.LogCaptureFixture) -> None:
    # 0001-01-01 at +01:00 is before datetime.min in UTC: the conversion overflows.
    pod = kpo_pod()
    run_hook(pod, context(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))), None))
    assert pod.metadata.annotations == IDENTITY
    out = [r.getMessage() for r in policy_records(caplog)]
    assert len(out) == 1 and out[0].startswith(
        "airflow-pod-deadline: could not stamp the try start on pod crunch-abc123; it is created without it: OverflowError"
    ), out


@pytest.mark.parametrize(
    ("own", "warned"),
    [
        ("2026-05-20T09:45:30.000000+00:00", False),
        ("2026-05-20T09:45:30Z", True),  # the same instant, another string: kept, but said
        ("2026-05-19T08:00:00.000000+00:00", True),
        ("", True),
    ],
    ids=["equal", "same-instant", "other", "empty"],
)
def test_author_try_start_kept(own: str, warned: bool, caplog: pytest.LogCaptureFixture) -> None:
    pod = kpo_pod(annotations={TRY_START: own})
    run_hook(pod, context(T0, HALF_HOUR))
    assert pod.metadata.annotations == {DEADLINE: "2026-05-20T10:15:30+00:00", **IDENTITY, TRY_START: own}
    out = [r.getMessage() for r in policy_records(caplog)]
    if warned:
        assert out == [
            f"airflow-pod-deadline: pod crunch-abc123 already has {TRY_START}={own!r}, "
            "not this try's '2026-05-20T09:45:30.000000+00:00'; left as set"
        ]
    else:
        assert not out


def test_try_start_key_name_matches_the_go_side() -> None:
    # deadline/deadline.go: TryStartName. Not an identity name: a pod without it is still checked.
    assert hook.TRY_START_NAME == "try-start"
    assert hook.TRY_START_NAME not in hook.IDENTITY_NAMES
    assert f"{hook.DEFAULT_PREFIX}/{hook.TRY_START_NAME}" == TRY_START


def test_airflow_task_timeout_propagates_from_the_try_start() -> None:
    # No budget: the deadline part never reads start_date, so the signal lands in the try start's.
    pod = kpo_pod()
    ctx = {**context(T0, None), "ti": TimingOutTI("start_date")}
    with airflow3(Calls(ctx)):
        with pytest.raises(AirflowTaskTimeout):
            hook.pod_mutation_hook(pod)
    assert pod.metadata.annotations is None


# --- the try id -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ti_id", "want"),
    [
        (uuid.UUID(TI_ID), TI_ID),
        (TI_ID, TI_ID),
        # Any form uuid.UUID reads is written back canonically: lowercase, hyphenated.
        (TI_ID.upper(), TI_ID),
        ("{" + TI_ID + "}", TI_ID),
        ("urn:uuid:" + TI_ID, TI_ID),
        (TI_ID.replace("-", ""), TI_ID),
    ],
    ids=["uuid", "str", "upper", "braces", "urn", "no-hyphens"],
)
@pytest.mark.parametrize("patch", [airflow3, airflow2], ids=["airflow3", "airflow2"])
def test_try_id_canonical(ti_id: Any, want: str, patch: Patch, caplog: pytest.LogCaptureFixture) -> None:
    pod = kpo_pod()
    run_hook(pod, context(T0, HALF_HOUR, id=ti_id), patch=patch)
    assert pod.metadata.annotations == {DEADLINE: "2026-05-20T10:15:30+00:00", **stamped_identity(), TRY_ID: want}
    assert not policy_records(caplog)


def test_try_id_of_a_uuid_subclass() -> None:
    # Airflow 3 draws ids with uuid6.uuid7(), whose type subclasses uuid.UUID.
    class UUID7(uuid.UUID):
        pass

    pod = kpo_pod()
    run_hook(pod, context(T0, None, id=UUID7(TI_ID)))
    assert pod.metadata.annotations[TRY_ID] == TI_ID


@pytest.mark.parametrize("ti_id", [NO_VALUE, None], ids=["no-attribute", "none"])
def test_no_try_id_silent(ti_id: Any, caplog: pytest.LogCaptureFixture) -> None:
    # Airflow 2: no task instance id; normal there, so not a word (the try start confirms).
    pod = kpo_pod()
    run_hook(pod, context(T0, HALF_HOUR, id=ti_id))
    assert pod.metadata.annotations == {DEADLINE: "2026-05-20T10:15:30+00:00", **stamped_identity()}
    assert TRY_ID not in pod.metadata.annotations
    assert not policy_records(caplog)


@pytest.mark.parametrize(
    ("ti_id", "says"),
    [
        ("", "ti.id is ''"),
        ("not-a-uuid", "ti.id is 'not-a-uuid'"),
        (TI_ID[:-1], f"ti.id is {TI_ID[:-1]!r}"),
        (42, "ti.id is 42"),
        (uuid.UUID(TI_ID).bytes, f"ti.id is {uuid.UUID(TI_ID).bytes!r}"),
    ],
    ids=["empty", "not-a-uuid", "short", "int", "bytes"],
)
def test_bad_try_id_left_out_and_warned(ti_id: Any, says: str, caplog: pytest.LogCaptureFixture) -> None:
    pod = kpo_pod()
    run_hook(pod, context(T0, HALF_HOUR, id=ti_id))
    assert pod.metadata.annotations == {DEADLINE: "2026-05-20T10:15:30+00:00", **stamped_identity()}
    assert [r.getMessage() for r in policy_records(caplog)] == [
        f"airflow-pod-deadline: pod crunch-abc123 is stamped without try-id: {says}, not a UUID; on Airflow 3 "
        "the try check cannot confirm from this pod that it asks the Airflow that made it"
    ]


def test_try_id_that_cannot_be_read_is_logged_rest_kept(caplog: pytest.LogCaptureFixture) -> None:
    class BrokenIdTI(FakeTI):
        @property
        def id(self) -> Any:
            raise RuntimeError("detached instance")

    pod = kpo_pod()
    run_hook(pod, {**context(T0, HALF_HOUR), "ti": BrokenIdTI(T0)})
    assert pod.metadata.annotations == {DEADLINE: "2026-05-20T10:15:30+00:00", **stamped_identity()}
    assert [r.getMessage() for r in policy_records(caplog)] == [
        "airflow-pod-deadline: could not stamp the try id on pod crunch-abc123; it is created without it: "
        "RuntimeError: detached instance"
    ]


def test_try_id_only_beside_the_identity(caplog: pytest.LogCaptureFixture) -> None:
    # Alone it names no try, like the try start.
    pod = kpo_pod()
    run_hook(pod, context(T0, HALF_HOUR, id=TI_ID, try_number=0))
    assert pod.metadata.annotations == {DEADLINE: "2026-05-20T10:15:30+00:00"}


def test_try_id_without_a_start_date() -> None:
    # Independent of the try start: on Airflow 3 the id is the one that confirms.
    pod = kpo_pod()
    run_hook(pod, context(None, None, id=uuid.UUID(TI_ID)))
    assert pod.metadata.annotations == {**IDENTITY, TRY_ID: TI_ID}


@pytest.mark.parametrize(
    ("own", "warned"),
    [(TI_ID, False), (TI_ID.upper(), True), ("0193a5b2-0000-7000-8000-000000000000", True), ("", True)],
    ids=["equal", "upper", "other", "empty"],
)
def test_author_try_id_kept(own: str, warned: bool, caplog: pytest.LogCaptureFixture) -> None:
    pod = kpo_pod(annotations={TRY_ID: own})
    run_hook(pod, context(T0, HALF_HOUR, id=uuid.UUID(TI_ID)))
    assert pod.metadata.annotations == {DEADLINE: "2026-05-20T10:15:30+00:00", **stamped_identity(), TRY_ID: own}
    out = [r.getMessage() for r in policy_records(caplog)]
    if warned:
        assert out == [f"airflow-pod-deadline: pod crunch-abc123 already has {TRY_ID}={own!r}, not this try's {TI_ID!r}; left as set"]
    else:
        assert not out


def test_second_call_with_a_try_id_changes_nothing(caplog: pytest.LogCaptureFixture) -> None:
    pod = kpo_pod()
    ctx = context(T0, HALF_HOUR, id=uuid.UUID(TI_ID))
    run_hook(pod, ctx)
    first = copy.deepcopy(pod)
    run_hook(pod, ctx)
    assert_untouched(pod, first)
    assert first.metadata.annotations[TRY_ID] == TI_ID
    assert not policy_records(caplog)


def test_try_id_key_name() -> None:
    # Not an identity name: a pod without it (Airflow 2) is still checked.
    assert hook.TRY_ID_NAME == "try-id"
    assert hook.TRY_ID_NAME not in hook.IDENTITY_NAMES
    assert f"{hook.DEFAULT_PREFIX}/{hook.TRY_ID_NAME}" == TRY_ID


# --- hands off --------------------------------------------------------------------------------


def test_executor_worker_pod_untouched_and_context_not_looked_up() -> None:
    pod = make_pod(labels=dict(EXECUTOR_LABELS))
    before = copy.deepcopy(pod)
    fn = run_hook(pod, context(T0, HALF_HOUR))
    assert_untouched(pod, before)
    assert fn.count == 0


@pytest.mark.parametrize("value", ["False", "", "yes"])
def test_kpo_label_must_be_exactly_true(value: str) -> None:
    pod = make_pod(labels={**KPO_LABELS, "kubernetes_pod_operator": value})
    before = copy.deepcopy(pod)
    run_hook(pod, context(T0, HALF_HOUR))
    assert_untouched(pod, before)


def test_pod_without_labels_silent(caplog: pytest.LogCaptureFixture) -> None:
    pod = make_pod()
    before = copy.deepcopy(pod)
    run_hook(pod, context(T0, HALF_HOUR))
    assert_untouched(pod, before)
    assert not policy_records(caplog)


def test_pod_without_metadata() -> None:
    pod = make_pod(metadata=False)
    before = copy.deepcopy(pod)
    run_hook(pod, context(T0, HALF_HOUR))
    assert pod.metadata is None
    assert_untouched(pod, before)


@pytest.mark.parametrize("thing", [None, object(), {"metadata": {"labels": KPO_LABELS}}], ids=["none", "object", "dict"])
def test_not_a_pod_at_all(thing: Any) -> None:
    run_hook(thing, context(T0, HALF_HOUR))


def test_no_execution_timeout_no_deadline_and_silent(caplog: pytest.LogCaptureFixture) -> None:
    # No budget at all (no execution_timeout, no dagrun_timeout): only the identity is stamped.
    pod = kpo_pod(annotations={"team": "data"})
    fn = run_hook(pod, context(T0, None))
    assert fn.count == 1
    assert pod.metadata.annotations == {"team": "data", **stamped_identity()}
    assert not policy_records(caplog)


@pytest.mark.parametrize("timeout", [timedelta(0), timedelta(seconds=-30)], ids=["zero", "negative"])
def test_non_positive_execution_timeout_no_deadline_and_logged(timeout: timedelta, caplog: pytest.LogCaptureFixture) -> None:
    pod = kpo_pod()
    run_hook(pod, context(T0, timeout))
    assert pod.metadata.annotations == stamped_identity()
    assert any("non-positive execution_timeout" in r.getMessage() for r in policy_records(caplog))


@pytest.mark.parametrize(
    "annotations",
    [{DEADLINE: "2026-05-20T09:50:00Z"}, {DEADLINE: ""}, {TIMEOUT: "5m"}, {TIMEOUT: ""}, {DEADLINE: "1779272130", TIMEOUT: "0:00:30"}],
    ids=["deadline", "empty-deadline", "timeout", "empty-timeout", "both"],
)
def test_existing_annotation_not_overwritten(annotations: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    # The author's deadline choice wins, the run's backstop included; the identity is independent
    # of it and still stamped.
    pod = kpo_pod(annotations=dict(annotations, team="data"))
    fn = run_hook(pod, context(T0, HALF_HOUR, dagrun_timeout=timedelta(minutes=10)))
    assert pod.metadata.annotations == {**annotations, "team": "data", **stamped_identity()}
    assert fn.count == 1
    assert not policy_records(caplog)


# --- prefix -----------------------------------------------------------------------------------


def test_custom_prefix_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(hook.PREFIX_ENV, "deadline.example.com")
    pod = kpo_pod()
    run_hook(pod, context(T0, HALF_HOUR))
    assert pod.metadata.annotations == {
        "deadline.example.com/execution-deadline": "2026-05-20T10:15:30+00:00",
        **{key.replace(hook.DEFAULT_PREFIX, "deadline.example.com"): value for key, value in stamped_identity().items()},
    }


def test_custom_prefix_respects_existing_annotation_under_that_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(hook.PREFIX_ENV, "deadline.example.com")
    pod = kpo_pod(annotations={"deadline.example.com/execution-timeout": "", "deadline.example.com/try-number": "7"})
    run_hook(pod, context(T0, HALF_HOUR))
    annotations = pod.metadata.annotations
    assert "deadline.example.com/execution-deadline" not in annotations
    assert annotations["deadline.example.com/execution-timeout"] == ""
    assert annotations["deadline.example.com/try-number"] == "7"
    assert annotations["deadline.example.com/dag-id"] == "etl"
    assert not [key for key in annotations if key.startswith(hook.DEFAULT_PREFIX)]


def test_blank_prefix_env_means_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(hook.PREFIX_ENV, "  ")
    pod = kpo_pod()
    run_hook(pod, context(T0, HALF_HOUR))
    assert set(pod.metadata.annotations) == {DEADLINE, *stamped_identity()}


# --- never raises -----------------------------------------------------------------------------


def warns_and_untouched(pod: V1Pod, patch: Patch, fn: Any, caplog: pytest.LogCaptureFixture) -> str:
    before = copy.deepcopy(pod)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        with patch(fn):
            assert hook.pod_mutation_hook(pod) is None
    assert_untouched(pod, before)
    records = policy_records(caplog)
    assert records and all(r.levelno == logging.WARNING for r in records)
    return "\n".join(r.getMessage() for r in records)


@pytest.mark.parametrize("patch", [airflow3, airflow2], ids=["airflow3", "airflow2"])
def test_outside_a_task(patch: Patch, caplog: pytest.LogCaptureFixture) -> None:
    # Both Airflow majors raise a plain exception when there is no running task.
    fn = Calls(exc=RuntimeError("Current context was requested but no context was found!"))
    out = warns_and_untouched(kpo_pod(), patch, fn, caplog)
    assert "no context was found" in out
    assert "crunch-abc123" in out


def test_airflow_not_importable(caplog: pytest.LogCaptureFixture) -> None:
    # The real Airflow may be imported already: hide it and every submodule.
    hidden = {name: None for name in sys.modules if name == "airflow" or name.startswith("airflow.")}
    hidden["airflow"] = None
    out = warns_and_untouched(kpo_pod(), lambda fn: mock.patch.dict(sys.modules, hidden), None, caplog)
    # "No module named 'airflow'" when Airflow was never imported, "import of airflow.… halted;
    # None in sys.modules" when it was: either way the import failed and the pod went on.
    assert "No module named 'airflow" in out or ("import of airflow" in out and "halted" in out), out


def test_airflow_importable_without_get_current_context(caplog: pytest.LogCaptureFixture) -> None:
    modules = {"airflow": _pkg("airflow"), "airflow.sdk": types.ModuleType("airflow.sdk"),
               "airflow.operators": _pkg("airflow.operators"), "airflow.operators.python": types.ModuleType("airflow.operators.python")}
    warns_and_untouched(kpo_pod(), lambda fn: mock.patch.dict(sys.modules, modules), None, caplog)


@pytest.mark.parametrize(
    "ctx",
    [
        {"task": FakeTask(HALF_HOUR)},
        {"ti": FakeTI(T0)},
        {"ti": object(), "task": FakeTask(HALF_HOUR)},
        None,
        [],
    ],
    ids=["missing-ti", "missing-task", "ti-object", "context-none", "context-list"],
)
def test_malformed_context(ctx: Any, caplog: pytest.LogCaptureFixture) -> None:
    warns_and_untouched(kpo_pod(annotations={"team": "data"}), airflow3, Calls(ctx), caplog)


@pytest.mark.parametrize(
    ("ctx", "says"),
    [
        (context(None, HALF_HOUR), "ti.start_date is None"),
        (context("2026-05-20T09:45:30+00:00", HALF_HOUR), "not a datetime"),
        (context(T0, 1800), "task.execution_timeout is int"),
        (context(datetime(9999, 12, 31, tzinfo=timezone.utc), timedelta(days=2)), "OverflowError"),
        (context(T0, HALF_HOUR, dagrun_timeout=1800), "dag.dagrun_timeout is int"),
        (context(T0, HALF_HOUR, dagrun_timeout=HALF_HOUR, run_start=None), "dag_run.start_date is None"),
    ],
    ids=["start-none", "start-str", "timeout-int", "overflow", "dagrun-timeout-int", "run-start-none"],
)
def test_malformed_deadline_input_identity_still_stamped(ctx: Any, says: str, caplog: pytest.LogCaptureFixture) -> None:
    # The two parts are independent: a deadline that cannot be computed leaves the identity.
    pod = kpo_pod(annotations={"team": "data"})
    run_hook(pod, ctx)
    annotations = pod.metadata.annotations
    assert annotations == {"team": "data", **stamped_identity(ctx["ti"].start_date), **({DEADLINE: annotations[DEADLINE]} if DEADLINE in annotations else {})}
    out = "\n".join(r.getMessage() for r in policy_records(caplog))
    assert says in out and "crunch-abc123" in out, out


def test_bad_run_deadline_keeps_the_task_deadline(caplog: pytest.LogCaptureFixture) -> None:
    # A dagrun_timeout whose run has no start_date must not cost the task its own deadline.
    pod = kpo_pod()
    run_hook(pod, context(T0, HALF_HOUR, dagrun_timeout=timedelta(minutes=5), run_start=None))
    assert pod.metadata.annotations == {DEADLINE: "2026-05-20T10:15:30+00:00", **stamped_identity()}
    assert any("dagrun_timeout deadline" in r.getMessage() for r in policy_records(caplog))


def test_bad_task_deadline_keeps_the_run_deadline(caplog: pytest.LogCaptureFixture) -> None:
    # The run's deadline is an upper bound on its own; a broken ti.start_date does not void it.
    pod = kpo_pod()
    run_hook(pod, context(None, HALF_HOUR, dagrun_timeout=timedelta(hours=2), run_start=T0))
    assert pod.metadata.annotations == {DEADLINE: "2026-05-20T11:45:30+00:00", **stamped_identity(None)}
    assert any("ti.start_date is None" in r.getMessage() for r in policy_records(caplog))


class AirflowTaskTimeout(Exception):
    pass


class TimingOutTI(FakeTI):
    """Airflow's execution_timeout signal landing while the policy reads the task instance."""

    def __init__(self, attr: str) -> None:
        super().__init__(T0)
        self._attr = attr

    def __getattribute__(self, name: str) -> Any:
        if name != "_attr" and name == object.__getattribute__(self, "_attr"):
            raise AirflowTaskTimeout("Timeout, PID: 1")
        return object.__getattribute__(self, name)


@pytest.mark.parametrize("attr", ["start_date", "try_number", "id"])
def test_airflow_task_timeout_propagates_from_each_part(attr: str) -> None:
    pod = kpo_pod()
    ctx = {**context(T0, HALF_HOUR), "ti": TimingOutTI(attr)}
    with airflow3(Calls(ctx)):
        with pytest.raises(AirflowTaskTimeout):
            hook.pod_mutation_hook(pod)
    assert pod.metadata.annotations is None


def test_airflow_task_timeout_propagates() -> None:
    # Airflow's own execution_timeout signal must not be swallowed by the policy.
    pod = kpo_pod()
    with airflow3(Calls(exc=AirflowTaskTimeout("Timeout, PID: 1"))):
        with pytest.raises(AirflowTaskTimeout):
            hook.pod_mutation_hook(pod)
    assert pod.metadata.annotations is None


# --- format -----------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["2026-05-20T10:15:30", "2026-05-20 10:15:30+00:00", "2026-05-20T10:15:30+00:00:30", "1779272130"])
def test_regex_rejects_non_rfc3339(bad: str) -> None:
    # Guards the guard: strict enough to catch what isoformat() can emit for naive values.
    assert RFC3339.match(bad) is None


@pytest.mark.parametrize(
    "start",
    [
        T0,
        datetime(2026, 5, 20, 9, 45, 30, 123456, tzinfo=timezone.utc),
        datetime(2026, 5, 20, 9, 45, 30, 1, tzinfo=timezone(timedelta(hours=-7))),
        datetime(2026, 5, 20, 9, 45, 30),
        datetime(2026, 3, 29, 1, 30, tzinfo=ZoneInfo("Europe/Berlin")),
    ],
)
def test_written_value_is_rfc3339_utc(start: datetime) -> None:
    pod = kpo_pod()
    run_hook(pod, context(start, timedelta(minutes=30, microseconds=7)))
    value = pod.metadata.annotations[DEADLINE]
    assert RFC3339.match(value)
    assert value.endswith("+00:00")
    expected = (start if start.tzinfo else start.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    assert datetime.fromisoformat(value) == expected + timedelta(minutes=30, microseconds=7)
