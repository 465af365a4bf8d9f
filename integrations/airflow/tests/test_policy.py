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
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta, timezone
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


class FakeTI:
    def __init__(self, start_date: Any) -> None:
        self.start_date = start_date


class FakeTask:
    def __init__(self, execution_timeout: Any, task_id: str = "crunch") -> None:
        self.execution_timeout = execution_timeout
        self.task_id = task_id


class Calls:
    """A get_current_context stand-in that counts calls and can raise."""

    def __init__(self, context: Any = None, exc: BaseException | None = None) -> None:
        self.context, self.exc, self.count = context, exc, 0

    def __call__(self) -> Any:
        self.count += 1
        if self.exc is not None:
            raise self.exc
        return self.context


def context(start_date: Any, timeout: Any) -> dict[str, Any]:
    return {"ti": FakeTI(start_date), "task": FakeTask(timeout)}


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
    assert pod.metadata.annotations == {DEADLINE: want}
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
    assert pod.metadata.annotations == {**own, DEADLINE: "2026-05-20T10:15:30+00:00"}
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
    assert pod.metadata.annotations == {DEADLINE: "2026-05-20T10:15:30+00:00"}


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


def test_no_execution_timeout_untouched_and_silent(caplog: pytest.LogCaptureFixture) -> None:
    pod = kpo_pod(annotations={"team": "data"})
    before = copy.deepcopy(pod)
    fn = run_hook(pod, context(T0, None))
    assert fn.count == 1
    assert_untouched(pod, before)
    assert not policy_records(caplog)


@pytest.mark.parametrize("timeout", [timedelta(0), timedelta(seconds=-30)], ids=["zero", "negative"])
def test_non_positive_execution_timeout_untouched_and_logged(timeout: timedelta, caplog: pytest.LogCaptureFixture) -> None:
    pod = kpo_pod()
    before = copy.deepcopy(pod)
    run_hook(pod, context(T0, timeout))
    assert_untouched(pod, before)
    assert any("non-positive execution_timeout" in r.getMessage() for r in policy_records(caplog))


@pytest.mark.parametrize(
    "annotations",
    [{DEADLINE: "2026-05-20T09:50:00Z"}, {DEADLINE: ""}, {TIMEOUT: "5m"}, {TIMEOUT: ""}, {DEADLINE: "1779272130", TIMEOUT: "0:00:30"}],
    ids=["deadline", "empty-deadline", "timeout", "empty-timeout", "both"],
)
def test_existing_annotation_not_overwritten(annotations: dict[str, str]) -> None:
    pod = kpo_pod(annotations=dict(annotations, team="data"))
    before = copy.deepcopy(pod)
    fn = run_hook(pod, context(T0, HALF_HOUR))
    assert_untouched(pod, before)
    assert fn.count == 0


# --- prefix -----------------------------------------------------------------------------------


def test_custom_prefix_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(hook.PREFIX_ENV, "deadline.example.com")
    pod = kpo_pod()
    run_hook(pod, context(T0, HALF_HOUR))
    assert pod.metadata.annotations == {"deadline.example.com/execution-deadline": "2026-05-20T10:15:30+00:00"}


def test_custom_prefix_respects_existing_annotation_under_that_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(hook.PREFIX_ENV, "deadline.example.com")
    pod = kpo_pod(annotations={"deadline.example.com/execution-timeout": ""})
    before = copy.deepcopy(pod)
    run_hook(pod, context(T0, HALF_HOUR))
    assert_untouched(pod, before)


def test_blank_prefix_env_means_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(hook.PREFIX_ENV, "  ")
    pod = kpo_pod()
    run_hook(pod, context(T0, HALF_HOUR))
    assert list(pod.metadata.annotations) == [DEADLINE]


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
        context(None, HALF_HOUR),
        context("2026-05-20T09:45:30+00:00", HALF_HOUR),
        context(T0, 1800),
        {"ti": object(), "task": FakeTask(HALF_HOUR)},
        None,
        context(datetime(9999, 12, 31, tzinfo=timezone.utc), timedelta(days=2)),
    ],
    ids=["missing-ti", "start-none", "start-str", "timeout-int", "ti-without-start", "context-none", "overflow"],
)
def test_malformed_context(ctx: Any, caplog: pytest.LogCaptureFixture) -> None:
    warns_and_untouched(kpo_pod(annotations={"team": "data"}), airflow3, Calls(ctx), caplog)


def test_airflow_task_timeout_propagates() -> None:
    # Airflow's own execution_timeout signal must not be swallowed by the policy.
    class AirflowTaskTimeout(Exception):
        pass

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
