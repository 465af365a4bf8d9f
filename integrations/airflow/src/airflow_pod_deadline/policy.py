"""The cluster policy: stamp every KubernetesPodOperator pod with its execution deadline.

``pod_mutation_hook`` runs inside ``KubernetesPodOperator`` while it builds the pod
(``build_pod_request_obj``), in the task's process. For pods created by KPO it writes the
annotation::

    airflow-pod-deadline.io/execution-deadline: <ti.start_date + task.execution_timeout>

as an RFC 3339 instant in UTC (``2026-05-20T10:15:30.123456+00:00``). The airflow-pod-deadline
admission webhook turns that instant into ``spec.activeDeadlineSeconds`` and its sweeper ends the
pod once the instant has passed, so the task's ``execution_timeout`` holds even when KPO runs
deferrable, the triggerer is down, or the worker died.

Airflow loads this module through the ``airflow.policy`` entry point (pluggy), so installing the
distribution is the whole setup. The annotation prefix must match the webhook's
``--annotation-prefix``; set ``AIRFLOW_POD_DEADLINE_PREFIX`` on the workers if you changed it.

The hook is deliberately conservative: it never raises (a broken policy must not fail every KPO
task in the cluster) and it never overrides a DAG author who set one of the annotations already.
Nothing from Airflow is imported at module load.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, TypeVar

log = logging.getLogger(__name__)

_F = TypeVar("_F", bound=Callable[..., Any])

try:
    # The same marker as ``airflow.policies.hookimpl``: a pluggy HookimplMarker for the
    # "airflow.policy" project. Built here so that loading this module imports no Airflow.
    import pluggy

    hookimpl: Callable[[_F], _F] = pluggy.HookimplMarker("airflow.policy")
except ImportError:  # pragma: no cover - pluggy comes with every Airflow

    def hookimpl(fn: _F) -> _F:
        return fn

DEFAULT_PREFIX = "airflow-pod-deadline.io"
PREFIX_ENV = "AIRFLOW_POD_DEADLINE_PREFIX"

# KPO labels every pod it creates with this; KubernetesExecutor worker pods carry
# ``airflow-worker`` / ``kubernetes_executor`` instead. The executor's pods run the task's Python
# code themselves and Airflow already enforces the timeout in-process there, so only KPO pods are
# stamped. Checking the label first also keeps the hook silent in the scheduler, where the
# executor calls it without any task context.
KPO_LABEL = "kubernetes_pod_operator"
KPO_LABEL_VALUE = "True"


def _prefix() -> str:
    # Read at call time, not import time: airflow_local_settings is imported once per process,
    # and tests (or a late-set environment) must be able to change it.
    prefix = os.environ.get(PREFIX_ENV, "").strip().rstrip("/")
    return prefix or DEFAULT_PREFIX


def _get_current_context() -> Mapping[str, Any]:
    """Return the running task's context, from whichever Airflow major is installed."""
    # Imported lazily so this module loads (and can be tested) without Airflow, and so that an
    # Airflow 2 install, where ``airflow.sdk`` does not exist, falls back cleanly.
    try:
        from airflow.sdk import get_current_context  # Airflow 3
    except ImportError:
        from airflow.operators.python import get_current_context  # Airflow 2
    return get_current_context()


def _as_utc(value: datetime) -> datetime:
    # Airflow stores start_date in UTC, but be lenient: a naive value is taken as UTC (Airflow's
    # convention), an aware one is converted. Converting *before* adding the timeout matters:
    # datetime + timedelta is wall-clock arithmetic in the value's own zone and would be off by an
    # hour across a DST change.
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=timezone.utc)
    value = value.astimezone(timezone.utc)
    # Rebuild as a plain datetime: Airflow 2 hands out pendulum.DateTime, whose subclass methods
    # must not decide the string format of the annotation.
    return datetime(
        value.year, value.month, value.day,
        value.hour, value.minute, value.second, value.microsecond,
        tzinfo=timezone.utc,
    )


def _is_airflow_timeout(exc: BaseException) -> bool:
    # Airflow enforces execution_timeout on the synchronous part of execute() by raising
    # AirflowTaskTimeout from a signal handler, wherever the code happens to be. If that lands
    # inside this hook, swallowing it would let the task run on past its budget; it is Airflow's
    # control flow, not a failure of the hook, so it is let through. Matched by name so that no
    # Airflow import is needed here.
    return any(cls.__name__ == "AirflowTaskTimeout" for cls in type(exc).__mro__)


def stamp_execution_deadline(pod: Any) -> None:
    """Annotate a KPO pod with ``ti.start_date + task.execution_timeout``; mutates ``pod`` in place.

    Never raises (apart from Airflow's own task timeout); on any problem it logs a warning and
    leaves the pod exactly as it was.
    """
    try:
        _stamp(pod)
    except Exception as exc:  # noqa: BLE001 - a policy bug must never fail the task
        if _is_airflow_timeout(exc):
            raise
        log.warning(
            "airflow-pod-deadline: could not stamp the execution deadline on pod %s; "
            "it is created without one: %s: %s",
            _pod_name(pod), type(exc).__name__, exc,
        )


@hookimpl
def pod_mutation_hook(pod: Any) -> None:
    """Airflow cluster policy hook (called for every pod Airflow creates).

    ``pod`` is a ``kubernetes.client.V1Pod``; it is mutated in place (Airflow ignores the return).
    """
    stamp_execution_deadline(pod)


def _pod_name(pod: Any) -> str:
    try:
        return str(pod.metadata.name)
    except Exception:  # noqa: BLE001 - only used for the log line
        return "<unknown>"


def _stamp(pod: Any) -> None:
    metadata = getattr(pod, "metadata", None)
    labels = getattr(metadata, "labels", None) or {}
    if labels.get(KPO_LABEL) != KPO_LABEL_VALUE:
        return  # not a KPO pod (executor worker, or no metadata at all): not ours to touch

    prefix = _prefix()
    deadline_key = f"{prefix}/execution-deadline"
    timeout_key = f"{prefix}/execution-timeout"
    annotations = metadata.annotations or {}
    # Presence, not truthiness: an empty value is the documented way for a DAG author to say
    # "no deadline for this task", and that choice must survive the cluster-wide policy.
    if deadline_key in annotations or timeout_key in annotations:
        log.debug("airflow-pod-deadline: pod %s already annotated; left alone", _pod_name(pod))
        return

    context = _get_current_context()
    ti = context["ti"]
    task = context["task"]

    timeout = getattr(task, "execution_timeout", None)
    if timeout is None:
        return  # the task has no budget: nothing to enforce
    if not isinstance(timeout, timedelta):
        raise TypeError(f"task.execution_timeout is {type(timeout).__name__}, not timedelta")
    if timeout <= timedelta(0):
        # Stamping it would put the deadline at or before the start, so the webhook would deny the
        # pod outright; that is almost certainly a mistake, not a wish. Say why nothing happened.
        log.warning(
            "airflow-pod-deadline: task %s has a non-positive execution_timeout %s; pod %s left "
            "without a deadline", getattr(task, "task_id", "?"), timeout, _pod_name(pod),
        )
        return

    start = getattr(ti, "start_date", None)
    if not isinstance(start, datetime):
        raise TypeError(f"ti.start_date is {start!r}, not a datetime")

    deadline = (_as_utc(start) + timeout).isoformat()

    # Build the new mapping completely before touching the pod and assign it in one step, so a
    # failure anywhere above leaves the pod untouched, and a dict that may be shared with the caller
    # (e.g. the operator's own ``annotations`` argument) is never mutated.
    pod.metadata.annotations = {**annotations, deadline_key: deadline}
    log.info("airflow-pod-deadline: pod %s stamped %s=%s", _pod_name(pod), deadline_key, deadline)
