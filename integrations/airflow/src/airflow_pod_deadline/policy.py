"""The cluster policy: stamp every KubernetesPodOperator pod with its deadline and its try.

``pod_mutation_hook`` runs inside ``KubernetesPodOperator`` while it builds the pod
(``build_pod_request_obj``), in the task's process. For pods created by KPO it writes::

    airflow-pod-deadline.io/execution-deadline: <the earlier of ti.start_date + task.execution_timeout
                                                 and dag_run.start_date + dag.dagrun_timeout>
    airflow-pod-deadline.io/airflow-instance:   <$AIRFLOW_POD_DEADLINE_INSTANCE, or "default">
    airflow-pod-deadline.io/dag-id:             <ti.dag_id>
    airflow-pod-deadline.io/run-id:             <ti.run_id>
    airflow-pod-deadline.io/task-id:            <ti.task_id>
    airflow-pod-deadline.io/map-index:          <ti.map_index, "-1" when the task is not mapped>
    airflow-pod-deadline.io/try-number:         <ti.try_number>
    airflow-pod-deadline.io/try-start:          <ti.start_date, to the microsecond>
    airflow-pod-deadline.io/try-id:             <ti.id, Airflow 3 only>

The deadline and the try start are RFC 3339 instants in UTC (``2026-05-20T10:15:30.123456+00:00``;
the try start always with six fractional digits). The airflow-pod-deadline admission webhook turns
the deadline into ``spec.activeDeadlineSeconds`` and its sweeper ends the pod once the instant has
passed, so the task's ``execution_timeout`` holds even when KPO runs deferrable, the triggerer is
down, or the worker died. The DAG's ``dagrun_timeout`` is a
backstop: Airflow fails the whole run at ``dag_run.start_date + dagrun_timeout``, so no pod of the
run has a reason to outlive that instant, even when no Airflow component is left to delete it.

The try identity (the exact strings, unlike KPO's labels, which are sanitized and truncated) lets
the sweeper's Airflow check ask Airflow whether the try that made the pod is still running. The
instance name tells several Airflows sharing one cluster apart: each must set its own
``AIRFLOW_POD_DEADLINE_INSTANCE`` on its workers, equal to the name the sweeper's try check
gives that Airflow (``--airflow-instance``, or ``instance=`` of ``--airflow-check``). A name is 1 to
63 letters, digits, ``-``, ``_`` or ``.``, starting and ending with a letter or digit
(``INSTANCE_PATTERN``, the binary's and the chart's rule too). A name that breaks the rule is logged
as a warning (once per process and name) and **stamped as it is**: the binary refuses to serve such
a name, so no try check ever judges those pods (their deadlines are still enforced). Falling back to
``default`` instead could have another Airflow's check, the one named ``default``, judge this
Airflow's tries by its own answers and end pods whose try is still running.

The try start is not part of the identity (a pod without it is still checked); it confirms that the
check asks the Airflow that made the pod. A check pointed by mistake at another Airflow that has a
task instance with the same DAG, run and task ids and try number would otherwise take that
Airflow's answer for this try's. The check compares the annotation with the ``start_date`` Airflow's
API returns for the task instance (same try number), as instants to the microsecond: it ends pods
only once its Airflow has shown a pod's own try that way, and never a pod whose try start differs
from Airflow's. ``ti.start_date`` is the right value for a deferrable KPO too: Airflow keeps a
try's start_date when the deferred task resumes (Airflow 3.3.2's execution API ``ti_run``: "don't
update start date when resuming from deferral"; Airflow 2.11.2's ``TaskInstance``:
``ti.start_date if ti.next_method else timezone.utcnow()``), so the pod built before the deferral
and the API's answer after it agree. A task instance without a datetime start_date gets the identity without the
try start and a warning naming the pod. It is stamped only with the identity (alone it names no try).

The try id serves the same confirmation on Airflow 3, where the try start cannot: there the
worker's context ``ti.start_date`` is later than the start_date stored in the database (the
supervisor takes ``datetime.now()`` twice; 28 ms to 6.3 s measured on Airflow 3.3.2), so the check
compares the task instance's ``id`` instead: a UUID that Airflow 3 draws anew for every try
(``prepare_db_for_next_try``: ``self.id = uuid7()``), the same on the worker's task instance and in
the API's answer. Written in the canonical form (``str(uuid.UUID)``: lowercase, hyphenated), also
when Airflow hands out a string. Airflow 2 has no task instance id, so there the pod gets none,
silently (its context start_date is the stored one, and the try start does the job); an id that is
no UUID is left out with a warning naming the pod. Like the try start, it is not part of the
identity and is stamped only beside it.

Airflow loads this module through the ``airflow.policy`` entry point (pluggy), so installing the
distribution is the whole setup. The annotation prefix must match the webhook's
``--annotation-prefix``; set ``AIRFLOW_POD_DEADLINE_PREFIX`` on the workers if you changed it.

The hook is deliberately conservative: it never raises (a broken policy must not fail every KPO
task in the cluster) and it never overrides an annotation a DAG author set already (a deadline
annotation, even empty, opts the pod out of the deadline; an identity, try start or try id
annotation keeps the author's value). The deadline and the identity are computed independently: a
problem with one is logged and the other is still stamped. Nothing from Airflow is imported at module load.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
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

# The Airflow this worker belongs to, stamped as the airflow-instance annotation. The sweeper's try
# check judges only pods of the instances it is configured for (--airflow-instance,
# --airflow-check), so several Airflows sharing a cluster must each set a distinct name; one
# Airflow per cluster can keep the default.
DEFAULT_INSTANCE = "default"
INSTANCE_ENV = "AIRFLOW_POD_DEADLINE_INSTANCE"
# The rule for an instance name, the same string as deadline.InstancePattern (deadline/deadline.go)
# and the chart's airflowCheck.instances[].name pattern (values.schema.json);
# test/static/instance_pattern_test.go keeps the three equal. Used with re.fullmatch.
INSTANCE_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$"
_INSTANCE_RE = re.compile(INSTANCE_PATTERN)
# The bad instance names already warned about: the name is read for every pod, the warning is once.
_warned_instances: set[str] = set()

# Annotation names under the prefix; the same as deadline/deadline.go.
DEADLINE_NAME = "execution-deadline"
TIMEOUT_NAME = "execution-timeout"
INSTANCE_NAME = "airflow-instance"
DAG_ID_NAME = "dag-id"
RUN_ID_NAME = "run-id"
TASK_ID_NAME = "task-id"
MAP_INDEX_NAME = "map-index"
TRY_NUMBER_NAME = "try-number"
IDENTITY_NAMES = (INSTANCE_NAME, DAG_ID_NAME, RUN_ID_NAME, TASK_ID_NAME, MAP_INDEX_NAME, TRY_NUMBER_NAME)
# The try's ti.start_date (deadline.TryStartName). Deliberately not in IDENTITY_NAMES: the identity is
# what the try check requires, the try start only confirms it asks the Airflow that made the pod.
TRY_START_NAME = "try-start"
# The try's ti.id, Airflow 3's task instance UUID, new for every try. Not in IDENTITY_NAMES either, for
# the same reason; it confirms where the try start cannot (see the module docstring).
TRY_ID_NAME = "try-id"

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


def _instance() -> str:
    # Read at call time, like the prefix.
    name = os.environ.get(INSTANCE_ENV, "").strip() or DEFAULT_INSTANCE
    if _INSTANCE_RE.fullmatch(name) is None and name not in _warned_instances:
        # Stamped anyway (see the module docstring): no check serves it, so these pods are never
        # judged against Airflow, which is safe; a fallback name could be another Airflow's.
        _warned_instances.add(name)
        log.warning(
            "airflow-pod-deadline: %s=%r is not a valid instance name (%s); stamped as it is, so "
            "the try check serves none of this Airflow's pods (their deadlines still hold)",
            INSTANCE_ENV, name, INSTANCE_PATTERN,
        )
    return name


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
    """Annotate a KPO pod with its execution deadline and its try identity, start and id; mutates ``pod`` in place.

    The deadline is the earlier of ``ti.start_date + task.execution_timeout`` and
    ``dag_run.start_date + dag.dagrun_timeout`` (whichever exist). Never raises (apart from Airflow's
    own task timeout); on any problem it logs a warning and leaves out what it could not compute
    (the pod exactly as it was when the task context itself is unavailable).
    """
    try:
        _stamp(pod)
    except Exception as exc:  # noqa: BLE001 - a policy bug must never fail the task
        if _is_airflow_timeout(exc):
            raise
        log.warning(
            "airflow-pod-deadline: could not stamp the execution deadline or the try identity on "
            "pod %s; it is created without them: %s: %s",
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


_T = TypeVar("_T")


def _part(what: str, pod: Any, fn: Callable[[], _T], empty: _T) -> _T:
    """Run one independent part of the stamp; a failure there is logged and yields ``empty``.

    The deadline and the identity do not depend on each other: a task whose dag_run lacks a
    start_date still gets its identity, a task instance with an odd try_number still gets its
    deadline.
    """
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - see stamp_execution_deadline
        if _is_airflow_timeout(exc):
            raise
        log.warning(
            "airflow-pod-deadline: could not stamp the %s on pod %s; it is created without it: %s: %s",
            what, _pod_name(pod), type(exc).__name__, exc,
        )
        return empty


def _stamp(pod: Any) -> None:
    metadata = getattr(pod, "metadata", None)
    labels = getattr(metadata, "labels", None) or {}
    if labels.get(KPO_LABEL) != KPO_LABEL_VALUE:
        return  # not a KPO pod (executor worker, or no metadata at all): not ours to touch

    prefix = _prefix()
    annotations: Mapping[str, str] = metadata.annotations or {}
    context = _get_current_context()
    ti = context["ti"]
    task = context["task"]

    stamped: dict[str, str] = {}
    deadline_key = f"{prefix}/{DEADLINE_NAME}"
    # Presence, not truthiness: an empty value is the documented way for a DAG author to say
    # "no deadline for this task", and that choice must survive the cluster-wide policy.
    if deadline_key in annotations or f"{prefix}/{TIMEOUT_NAME}" in annotations:
        log.debug("airflow-pod-deadline: pod %s already has a deadline annotation; left alone", _pod_name(pod))
    else:
        at = _part("execution deadline", pod, lambda: _deadline(pod, context, ti, task), None)
        if at is not None:
            stamped[deadline_key] = at.isoformat()

    identity = _part("try identity", pod, lambda: _identity(ti), {})
    if identity:
        # Only beside the identity: alone it names no try. Its own part, so a failure here costs
        # only the confirmation, never the identity.
        start = _part("try start", pod, lambda: _try_start(pod, ti), None)
        if start is not None:
            identity = {**identity, TRY_START_NAME: start}
        try_id = _part("try id", pod, lambda: _try_id(pod, ti), None)
        if try_id is not None:
            identity = {**identity, TRY_ID_NAME: try_id}
    for name, value in identity.items():
        key = f"{prefix}/{name}"
        if key not in annotations:
            stamped[key] = value
        elif annotations[key] != value:
            # The author's value stays (it may be deliberate), but a stale copy from an earlier
            # pod (a pod template made from `kubectl get pod -o yaml`) would have the sweeper's try
            # check judge the wrong try: say so where the DAG author looks, the task log.
            log.warning(
                "airflow-pod-deadline: pod %s already has %s=%r, not this try's %r; left as set",
                _pod_name(pod), key, annotations[key], value,
            )

    if not stamped:
        return
    # Build the new mapping completely before touching the pod and assign it in one step, so a
    # failure anywhere above leaves the pod untouched, and a dict that may be shared with the caller
    # (e.g. the operator's own ``annotations`` argument) is never mutated.
    pod.metadata.annotations = {**annotations, **stamped}
    log.info(
        "airflow-pod-deadline: pod %s stamped %s",
        _pod_name(pod), ", ".join(f"{key}={value}" for key, value in stamped.items()),
    )


def _deadline(pod: Any, context: Mapping[str, Any], ti: Any, task: Any) -> datetime | None:
    """The earlier of the task's and the run's deadline; None when neither has a budget."""
    candidates: list[datetime] = []
    task_deadline = _part("execution_timeout deadline", pod, lambda: _task_deadline(pod, ti, task), None)
    if task_deadline is not None:
        candidates.append(task_deadline)
    run_deadline = _part("dagrun_timeout deadline", pod, lambda: _run_deadline(pod, context, task), None)
    if run_deadline is not None:
        candidates.append(run_deadline)
    return min(candidates) if candidates else None


def _positive_timedelta(value: Any, what: str, owner: str, pod: Any) -> timedelta | None:
    if value is None:
        return None  # no budget: nothing to enforce
    if not isinstance(value, timedelta):
        raise TypeError(f"{what} is {type(value).__name__}, not timedelta")
    if value <= timedelta(0):
        # Stamping it would put the deadline at or before the start, so the webhook would deny the
        # pod outright; that is almost certainly a mistake, not a wish. Say why nothing happened.
        log.warning(
            "airflow-pod-deadline: %s has a non-positive %s %s; pod %s left without that deadline",
            owner, what.rsplit(".", 1)[-1], value, _pod_name(pod),
        )
        return None
    return value


def _task_deadline(pod: Any, ti: Any, task: Any) -> datetime | None:
    """ti.start_date + task.execution_timeout."""
    timeout = _positive_timedelta(
        getattr(task, "execution_timeout", None), "task.execution_timeout",
        f"task {getattr(task, 'task_id', '?')}", pod,
    )
    if timeout is None:
        return None
    start = getattr(ti, "start_date", None)
    if not isinstance(start, datetime):
        raise TypeError(f"ti.start_date is {start!r}, not a datetime")
    return _as_utc(start) + timeout


def _dag_of(context: Mapping[str, Any], task: Any) -> Any:
    dag = context.get("dag")
    if dag is None:
        # Airflow's BaseOperator.dag raises when the task has no DAG; a task running without one
        # has no dagrun_timeout either.
        try:
            dag = task.dag
        except Exception:  # noqa: BLE001
            return None
    return dag


def _run_deadline(pod: Any, context: Mapping[str, Any], task: Any) -> datetime | None:
    """dag_run.start_date + dag.dagrun_timeout: the instant Airflow's scheduler fails the run."""
    dag = _dag_of(context, task)
    timeout = _positive_timedelta(
        getattr(dag, "dagrun_timeout", None), "dag.dagrun_timeout", f"DAG {getattr(dag, 'dag_id', '?')}", pod,
    )
    if timeout is None:
        return None
    dag_run = context.get("dag_run")
    start = getattr(dag_run, "start_date", None)
    if not isinstance(start, datetime):
        raise TypeError(f"dag_run.start_date is {start!r}, not a datetime")
    return _as_utc(start) + timeout


def _identity(ti: Any) -> dict[str, str]:
    """The try's identity annotations (names under the prefix), all or none.

    Exact strings, as Airflow's API names the task instance: a partial or guessed identity could
    make the sweeper's check judge another try, so any missing or odd field leaves out all of it.
    """
    text: dict[str, str] = {}
    for name, attr in ((DAG_ID_NAME, "dag_id"), (RUN_ID_NAME, "run_id"), (TASK_ID_NAME, "task_id")):
        value = getattr(ti, attr, None)
        if not isinstance(value, str) or not value:
            raise TypeError(f"ti.{attr} is {value!r}, not a non-empty string")
        text[name] = value
    map_index = getattr(ti, "map_index", None)
    if map_index is None:
        map_index = -1  # not mapped; Airflow's API and KPO's label say -1
    if not isinstance(map_index, int) or isinstance(map_index, bool) or map_index < -1:
        raise TypeError(f"ti.map_index is {map_index!r}, not an integer >= -1")
    try_number = getattr(ti, "try_number", None)
    # A running try is number 1 or more (Airflow 2.10+ and 3 count from 1 before the try starts).
    # A 0 would read to the sweeper as "older than Airflow's current try" and end a live pod.
    if not isinstance(try_number, int) or isinstance(try_number, bool) or try_number < 1:
        raise TypeError(f"ti.try_number is {try_number!r}, not an integer >= 1")
    return {
        INSTANCE_NAME: _instance(),
        **text,
        MAP_INDEX_NAME: str(map_index),
        TRY_NUMBER_NAME: str(try_number),
    }


def _try_start(pod: Any, ti: Any) -> str | None:
    """The try-start annotation's value: ti.start_date in UTC, always to the microsecond.

    The sweeper compares it with the start_date Airflow's API returns (Go: time.RFC3339Nano) as an
    instant; six fractional digits every time keep the format one, whatever the value.
    """
    start = getattr(ti, "start_date", None)
    if not isinstance(start, datetime):
        log.warning(
            "airflow-pod-deadline: pod %s is stamped without %s: ti.start_date is %r, not a datetime; the "
            "try check cannot confirm from this pod that it asks the Airflow that made it",
            _pod_name(pod), TRY_START_NAME, start,
        )
        return None
    return _as_utc(start).isoformat(timespec="microseconds")


def _try_id(pod: Any, ti: Any) -> str | None:
    """The try-id annotation's value: ti.id in its canonical form; None on Airflow 2, which has no id.

    The sweeper compares it with the id Airflow's API returns for the try. A string is read as a
    UUID and written back canonically, so the form never depends on how Airflow handed it out.
    """
    value = getattr(ti, "id", None)
    if value is None:
        return None  # Airflow 2's task instance: the try start confirms there, nothing to say
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str) and value:
        try:
            return str(uuid.UUID(value))
        except ValueError:
            pass
    log.warning(
        "airflow-pod-deadline: pod %s is stamped without %s: ti.id is %r, not a UUID; on Airflow 3 the "
        "try check cannot confirm from this pod that it asks the Airflow that made it",
        _pod_name(pod), TRY_ID_NAME, value,
    )
    return None
