"""Tests for airflow_local_settings.pod_mutation_hook, with the real Kubernetes client models.

Airflow itself cannot be installed here, so only ``get_current_context`` is stood in: fake
``airflow.sdk`` (Airflow 3) or ``airflow.operators.python`` (Airflow 2) modules are put into
``sys.modules`` for the duration of a test. Everything else (V1Pod, V1ObjectMeta, ...) is real.
Run with integrations/airflow/test.sh.
"""

from __future__ import annotations

import ast
import copy
import logging
import os
import py_compile
import re
import subprocess
import sys
import tempfile
import time
import types
import unittest
from datetime import datetime, timedelta, timezone
from unittest import mock
from zoneinfo import ZoneInfo

from kubernetes.client import V1Container, V1ObjectMeta, V1Pod, V1PodSpec

import airflow_local_settings as hook

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE_DAG = os.path.join(HERE, "example_dag.py")

DEADLINE = "airflow-pod-deadline.io/execution-deadline"
TIMEOUT = "airflow-pod-deadline.io/execution-timeout"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
EXAMPLE_TEMPLATE = "{{ (ti.start_date + task.execution_timeout).isoformat() }}"

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
EXECUTOR_LABELS = {
    "airflow-worker": "42",
    "kubernetes_executor": "True",
    "dag_id": "etl",
    "task_id": "crunch",
    "try_number": "1",
}


def make_pod(labels=None, annotations=None, metadata=True):
    meta = V1ObjectMeta(name="crunch-abc123", namespace="airflow", labels=labels, annotations=annotations)
    return V1Pod(
        api_version="v1",
        kind="Pod",
        metadata=meta if metadata else None,
        spec=V1PodSpec(containers=[V1Container(name="base", image="busybox:1.36")]),
    )


def kpo_pod(annotations=None):
    return make_pod(labels=dict(KPO_LABELS), annotations=annotations)


class FakeTI:
    def __init__(self, start_date):
        self.start_date = start_date


class FakeTask:
    def __init__(self, execution_timeout, task_id="crunch"):
        self.execution_timeout = execution_timeout
        self.task_id = task_id


class Calls:
    """A get_current_context stand-in that counts calls and can raise."""

    def __init__(self, context=None, exc=None):
        self.context, self.exc, self.count = context, exc, 0

    def __call__(self):
        self.count += 1
        if self.exc is not None:
            raise self.exc
        return self.context


def context(start_date, timeout):
    return {"ti": FakeTI(start_date), "task": FakeTask(timeout)}


def airflow3(fn):
    """sys.modules patch that makes ``from airflow.sdk import get_current_context`` return fn."""
    pkg = types.ModuleType("airflow")
    pkg.__path__ = []  # a package, so that submodule imports not listed here fail cleanly
    sdk = types.ModuleType("airflow.sdk")
    sdk.get_current_context = fn
    return mock.patch.dict(sys.modules, {"airflow": pkg, "airflow.sdk": sdk})


def airflow2(fn):
    """sys.modules patch for Airflow 2: no airflow.sdk, get_current_context in operators.python."""
    pkg = types.ModuleType("airflow")
    pkg.__path__ = []
    ops = types.ModuleType("airflow.operators")
    ops.__path__ = []
    py = types.ModuleType("airflow.operators.python")
    py.get_current_context = fn
    return mock.patch.dict(
        sys.modules,
        # None in sys.modules makes ``import airflow.sdk`` raise ImportError, as on Airflow 2.
        {"airflow": pkg, "airflow.sdk": None, "airflow.operators": ops, "airflow.operators.python": py},
    )


def no_airflow():
    return mock.patch.dict(sys.modules, {"airflow": None})


class HookTestCase(unittest.TestCase):
    def setUp(self):
        # The prefix comes from the environment; make every test start from the default.
        patcher = mock.patch.dict(os.environ)
        patcher.start()
        self.addCleanup(patcher.stop)
        os.environ.pop(hook.PREFIX_ENV, None)

    def run_hook(self, pod, ctx=None, patch=airflow3):
        fn = Calls(ctx)
        with patch(fn):
            result = hook.pod_mutation_hook(pod)
        # Airflow ignores the return value and expects in-place mutation.
        self.assertIsNone(result)
        return fn

    def assertUntouched(self, pod, before):
        self.assertEqual(pod.to_dict(), before.to_dict())


class StampTest(HookTestCase):
    def test_stamps_kpo_pod_with_microseconds(self):
        pod = kpo_pod()
        self.run_hook(pod, context(datetime(2026, 5, 20, 9, 45, 30, 123456, tzinfo=timezone.utc), timedelta(minutes=30)))
        self.assertEqual(pod.metadata.annotations, {DEADLINE: "2026-05-20T10:15:30.123456+00:00"})

    def test_stamps_kpo_pod_without_microseconds(self):
        pod = kpo_pod()
        self.run_hook(pod, context(datetime(2026, 5, 20, 9, 45, 30, tzinfo=timezone.utc), timedelta(minutes=30)))
        self.assertEqual(pod.metadata.annotations[DEADLINE], "2026-05-20T10:15:30+00:00")

    def test_value_is_plain_str(self):
        pod = kpo_pod()
        self.run_hook(pod, context(datetime(2026, 5, 20, 9, 45, 30, tzinfo=timezone.utc), timedelta(minutes=30)))
        self.assertIs(type(pod.metadata.annotations[DEADLINE]), str)

    def test_non_utc_offset_converted_to_utc(self):
        pod = kpo_pod()
        start = datetime(2026, 5, 20, 11, 45, 30, 5, tzinfo=timezone(timedelta(hours=2)))
        self.run_hook(pod, context(start, timedelta(minutes=30)))
        self.assertEqual(pod.metadata.annotations[DEADLINE], "2026-05-20T10:15:30.000005+00:00")

    def test_negative_offset_converted_to_utc(self):
        pod = kpo_pod()
        start = datetime(2026, 5, 19, 23, 0, 0, tzinfo=timezone(-timedelta(hours=5, minutes=30)))
        self.run_hook(pod, context(start, timedelta(hours=1)))
        self.assertEqual(pod.metadata.annotations[DEADLINE], "2026-05-20T05:30:00+00:00")

    def test_naive_start_date_treated_as_utc(self):
        # Run in a non-UTC local zone, so that "naive means local time" would be caught.
        pod = kpo_pod()
        try:
            with mock.patch.dict(os.environ, {"TZ": "America/New_York"}):
                time.tzset()
                self.run_hook(pod, context(datetime(2026, 5, 20, 9, 45, 30, 123456), timedelta(minutes=30)))
        finally:
            time.tzset()
        self.assertEqual(pod.metadata.annotations[DEADLINE], "2026-05-20T10:15:30.123456+00:00")

    def test_timeout_added_in_absolute_time_across_dst(self):
        # 2026-03-29 01:30 CET is 00:30 UTC; two hours later is 02:30 UTC. Wall-clock arithmetic in
        # Europe/Berlin (03:30 CEST = 01:30 UTC) would be an hour short.
        pod = kpo_pod()
        start = datetime(2026, 3, 29, 1, 30, tzinfo=ZoneInfo("Europe/Berlin"))
        self.run_hook(pod, context(start, timedelta(hours=2)))
        self.assertEqual(pod.metadata.annotations[DEADLINE], "2026-03-29T02:30:00+00:00")

    def test_multi_day_timeout(self):
        pod = kpo_pod()
        self.run_hook(pod, context(datetime(2026, 12, 31, 23, 0, tzinfo=timezone.utc), timedelta(days=1, seconds=5)))
        self.assertEqual(pod.metadata.annotations[DEADLINE], "2027-01-01T23:00:05+00:00")

    def test_existing_unrelated_annotations_kept(self):
        own = {"team": "data", "sidecar.istio.io/inject": "false"}
        pod = kpo_pod(annotations=own)
        self.run_hook(pod, context(datetime(2026, 5, 20, 9, 45, 30, tzinfo=timezone.utc), timedelta(minutes=30)))
        self.assertEqual(
            pod.metadata.annotations,
            {"team": "data", "sidecar.istio.io/inject": "false", DEADLINE: "2026-05-20T10:15:30+00:00"},
        )
        # The caller's dict (possibly shared with the operator) is not mutated.
        self.assertEqual(own, {"team": "data", "sidecar.istio.io/inject": "false"})

    def test_only_annotations_change(self):
        pod = kpo_pod()
        before = copy.deepcopy(pod)
        self.run_hook(pod, context(datetime(2026, 5, 20, 9, 45, 30, tzinfo=timezone.utc), timedelta(minutes=30)))
        after = pod.to_dict()
        self.assertIsNotNone(after["metadata"].pop("annotations"))
        expected = before.to_dict()
        expected["metadata"].pop("annotations")
        self.assertEqual(after, expected)

    def test_airflow3_path_used_when_present(self):
        pod = kpo_pod()
        fn = self.run_hook(pod, context(datetime(2026, 5, 20, 9, 45, 30, tzinfo=timezone.utc), timedelta(minutes=30)))
        self.assertEqual(fn.count, 1)
        self.assertIn(DEADLINE, pod.metadata.annotations)

    def test_airflow2_fallback(self):
        pod = kpo_pod()
        fn = self.run_hook(
            pod,
            context(datetime(2026, 5, 20, 9, 45, 30, tzinfo=timezone.utc), timedelta(minutes=30)),
            patch=airflow2,
        )
        self.assertEqual(fn.count, 1)
        self.assertEqual(pod.metadata.annotations, {DEADLINE: "2026-05-20T10:15:30+00:00"})

    def test_airflow3_preferred_over_airflow2(self):
        # Airflow 3 still ships airflow.operators.python as a deprecated shim; the SDK must win.
        sdk_fn = Calls(context(datetime(2026, 5, 20, 9, 0, tzinfo=timezone.utc), timedelta(minutes=30)))
        legacy_fn = Calls(context(datetime(2020, 1, 1, tzinfo=timezone.utc), timedelta(minutes=30)))
        pkg = types.ModuleType("airflow")
        pkg.__path__ = []
        sdk = types.ModuleType("airflow.sdk")
        sdk.get_current_context = sdk_fn
        ops = types.ModuleType("airflow.operators")
        ops.__path__ = []
        py = types.ModuleType("airflow.operators.python")
        py.get_current_context = legacy_fn
        pod = kpo_pod()
        with mock.patch.dict(
            sys.modules,
            {"airflow": pkg, "airflow.sdk": sdk, "airflow.operators": ops, "airflow.operators.python": py},
        ):
            hook.pod_mutation_hook(pod)
        self.assertEqual((sdk_fn.count, legacy_fn.count), (1, 0))
        self.assertEqual(pod.metadata.annotations[DEADLINE], "2026-05-20T09:30:00+00:00")


class HandsOffTest(HookTestCase):
    def test_executor_worker_pod_untouched(self):
        pod = make_pod(labels=dict(EXECUTOR_LABELS))
        before = copy.deepcopy(pod)
        fn = self.run_hook(pod, context(datetime(2026, 5, 20, 9, 45, 30, tzinfo=timezone.utc), timedelta(minutes=30)))
        self.assertUntouched(pod, before)
        self.assertIsNone(pod.metadata.annotations)
        self.assertEqual(fn.count, 0, "the task context must not even be looked up for non-KPO pods")

    def test_kpo_label_must_be_exactly_true(self):
        for value in ("False", "", "yes"):
            with self.subTest(value=value):
                pod = make_pod(labels={**KPO_LABELS, "kubernetes_pod_operator": value})
                before = copy.deepcopy(pod)
                self.run_hook(pod, context(datetime(2026, 5, 20, tzinfo=timezone.utc), timedelta(minutes=30)))
                self.assertUntouched(pod, before)

    def test_pod_without_labels_or_annotations(self):
        pod = make_pod(labels=None, annotations=None)
        before = copy.deepcopy(pod)
        with self.assertNoLogs(hook.log.name, level="WARNING"):
            self.run_hook(pod, context(datetime(2026, 5, 20, tzinfo=timezone.utc), timedelta(minutes=30)))
        self.assertUntouched(pod, before)

    def test_pod_without_metadata(self):
        pod = make_pod(metadata=False)
        before = copy.deepcopy(pod)
        self.run_hook(pod, context(datetime(2026, 5, 20, tzinfo=timezone.utc), timedelta(minutes=30)))
        self.assertIsNone(pod.metadata)
        self.assertUntouched(pod, before)

    def test_not_a_pod_at_all(self):
        for thing in (None, object(), {"metadata": {"labels": KPO_LABELS}}):
            with self.subTest(thing=thing):
                self.run_hook(thing, context(datetime(2026, 5, 20, tzinfo=timezone.utc), timedelta(minutes=30)))

    def test_kpo_pod_with_annotations_none_is_stamped(self):
        pod = kpo_pod(annotations=None)
        self.run_hook(pod, context(datetime(2026, 5, 20, 9, 45, 30, tzinfo=timezone.utc), timedelta(minutes=30)))
        self.assertEqual(pod.metadata.annotations, {DEADLINE: "2026-05-20T10:15:30+00:00"})

    def test_no_execution_timeout_untouched(self):
        pod = kpo_pod(annotations={"team": "data"})
        before = copy.deepcopy(pod)
        with self.assertNoLogs(hook.log.name, level="WARNING"):
            fn = self.run_hook(pod, context(datetime(2026, 5, 20, tzinfo=timezone.utc), None))
        self.assertEqual(fn.count, 1)
        self.assertUntouched(pod, before)

    def test_non_positive_execution_timeout_untouched_and_logged(self):
        for timeout in (timedelta(0), timedelta(seconds=-30)):
            with self.subTest(timeout=timeout):
                pod = kpo_pod()
                before = copy.deepcopy(pod)
                with self.assertLogs(hook.log.name, level="WARNING") as logs:
                    self.run_hook(pod, context(datetime(2026, 5, 20, tzinfo=timezone.utc), timeout))
                self.assertUntouched(pod, before)
                self.assertIn("non-positive execution_timeout", "\n".join(logs.output))

    def test_existing_annotation_not_overwritten(self):
        cases = {
            "deadline": {DEADLINE: "2026-05-20T09:50:00Z"},
            "empty deadline": {DEADLINE: ""},
            "timeout": {TIMEOUT: "5m"},
            "empty timeout": {TIMEOUT: ""},
            "both": {DEADLINE: "1779272130", TIMEOUT: "0:00:30"},
        }
        for name, annotations in cases.items():
            with self.subTest(name):
                pod = kpo_pod(annotations=dict(annotations, team="data"))
                before = copy.deepcopy(pod)
                fn = self.run_hook(pod, context(datetime(2026, 5, 20, tzinfo=timezone.utc), timedelta(minutes=30)))
                self.assertUntouched(pod, before)
                self.assertEqual(fn.count, 0)


class PrefixTest(HookTestCase):
    def test_custom_prefix_from_env(self):
        os.environ[hook.PREFIX_ENV] = "deadline.example.com"
        pod = kpo_pod()
        self.run_hook(pod, context(datetime(2026, 5, 20, 9, 45, 30, tzinfo=timezone.utc), timedelta(minutes=30)))
        self.assertEqual(pod.metadata.annotations, {"deadline.example.com/execution-deadline": "2026-05-20T10:15:30+00:00"})

    def test_custom_prefix_respects_existing_annotation_under_that_prefix(self):
        os.environ[hook.PREFIX_ENV] = "deadline.example.com"
        pod = kpo_pod(annotations={"deadline.example.com/execution-timeout": ""})
        before = copy.deepcopy(pod)
        self.run_hook(pod, context(datetime(2026, 5, 20, tzinfo=timezone.utc), timedelta(minutes=30)))
        self.assertUntouched(pod, before)

    def test_blank_prefix_env_means_default(self):
        os.environ[hook.PREFIX_ENV] = "  "
        pod = kpo_pod()
        self.run_hook(pod, context(datetime(2026, 5, 20, 9, 45, 30, tzinfo=timezone.utc), timedelta(minutes=30)))
        self.assertEqual(list(pod.metadata.annotations), [DEADLINE])


class NeverRaisesTest(HookTestCase):
    def assertWarnsAndUntouched(self, pod, patch, fn):
        before = copy.deepcopy(pod)
        with self.assertLogs(hook.log.name, level="WARNING") as logs:
            with patch(fn):
                self.assertIsNone(hook.pod_mutation_hook(pod))
        self.assertUntouched(pod, before)
        self.assertTrue(all(r.levelno == logging.WARNING for r in logs.records))
        return "\n".join(logs.output)

    def test_outside_a_task(self):
        # Both Airflow majors raise a plain exception when there is no running task.
        for patch in (airflow3, airflow2):
            with self.subTest(patch=patch.__name__):
                fn = Calls(exc=RuntimeError("Current context was requested but no context was found!"))
                out = self.assertWarnsAndUntouched(kpo_pod(), patch, fn)
                self.assertIn("no context was found", out)
                self.assertIn("crunch-abc123", out)

    def test_airflow_not_importable(self):
        out = self.assertWarnsAndUntouched(kpo_pod(), lambda fn: no_airflow(), None)
        self.assertIn("No module named 'airflow", out)

    def test_airflow_importable_without_get_current_context(self):
        pkg = types.ModuleType("airflow")
        pkg.__path__ = []
        sdk = types.ModuleType("airflow.sdk")
        ops = types.ModuleType("airflow.operators")
        ops.__path__ = []
        py = types.ModuleType("airflow.operators.python")
        patch = lambda fn: mock.patch.dict(  # noqa: E731
            sys.modules, {"airflow": pkg, "airflow.sdk": sdk, "airflow.operators": ops, "airflow.operators.python": py}
        )
        self.assertWarnsAndUntouched(kpo_pod(), patch, None)

    def test_malformed_context(self):
        cases = {
            "missing ti": {"task": FakeTask(timedelta(minutes=30))},
            "start_date None": context(None, timedelta(minutes=30)),
            "start_date str": context("2026-05-20T09:45:30+00:00", timedelta(minutes=30)),
            "timeout int": context(datetime(2026, 5, 20, tzinfo=timezone.utc), 1800),
            "ti without start_date": {"ti": object(), "task": FakeTask(timedelta(minutes=30))},
            "context None": None,
            "overflow": context(datetime(9999, 12, 31, tzinfo=timezone.utc), timedelta(days=2)),
        }
        for name, ctx in cases.items():
            with self.subTest(name):
                self.assertWarnsAndUntouched(kpo_pod(annotations={"team": "data"}), airflow3, Calls(ctx))

    def test_airflow_task_timeout_propagates(self):
        # Airflow's own execution_timeout signal must not be swallowed by the policy.
        class AirflowTaskTimeout(Exception):
            pass

        pod = kpo_pod()
        with airflow3(Calls(exc=AirflowTaskTimeout("Timeout, PID: 1"))):
            with self.assertRaises(AirflowTaskTimeout):
                hook.pod_mutation_hook(pod)
        self.assertIsNone(pod.metadata.annotations)

    def test_module_imports_and_runs_without_airflow(self):
        code = (
            "import sys; sys.modules['airflow'] = None\n"
            f"sys.path.insert(0, {HERE!r})\n"
            "import airflow_local_settings as h\n"
            "from kubernetes.client import V1Pod, V1ObjectMeta\n"
            "p = V1Pod(metadata=V1ObjectMeta(name='x', labels={'kubernetes_pod_operator': 'True'}))\n"
            "h.pod_mutation_hook(p)\n"
            "assert p.metadata.annotations is None, p.metadata.annotations\n"
            "print('ok')\n"
        )
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.strip(), "ok")
        self.assertIn("No module named 'airflow", proc.stderr)  # the warning went to logging's last-resort handler


class FormatTest(HookTestCase):
    STARTS = [
        datetime(2026, 5, 20, 9, 45, 30, tzinfo=timezone.utc),
        datetime(2026, 5, 20, 9, 45, 30, 123456, tzinfo=timezone.utc),
        datetime(2026, 5, 20, 9, 45, 30, 1, tzinfo=timezone(timedelta(hours=-7))),
        datetime(2026, 5, 20, 9, 45, 30),
        datetime(2026, 3, 29, 1, 30, tzinfo=ZoneInfo("Europe/Berlin")),
    ]

    def test_regex_rejects_non_rfc3339(self):
        # Guards the guard: the pattern must be strict enough to catch what isoformat() can emit
        # for naive values or odd offsets.
        for bad in ("2026-05-20T10:15:30", "2026-05-20 10:15:30+00:00", "2026-05-20T10:15:30+00:00:30", "1779272130"):
            with self.subTest(bad=bad):
                self.assertIsNone(RFC3339.match(bad))

    def test_written_value_is_rfc3339_utc(self):
        for start in self.STARTS:
            with self.subTest(start=start):
                pod = kpo_pod()
                self.run_hook(pod, context(start, timedelta(minutes=30, microseconds=7)))
                value = pod.metadata.annotations[DEADLINE]
                self.assertRegex(value, RFC3339)
                self.assertTrue(value.endswith("+00:00"), value)
                parsed = datetime.fromisoformat(value)
                expected = (start if start.tzinfo else start.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
                self.assertEqual(parsed, expected + timedelta(minutes=30, microseconds=7))


class ExampleDagTest(unittest.TestCase):
    def setUp(self):
        with open(EXAMPLE_DAG, encoding="utf-8") as f:
            self.source = f.read()

    def test_compiles(self):
        with tempfile.TemporaryDirectory() as tmp:
            py_compile.compile(EXAMPLE_DAG, cfile=os.path.join(tmp, "example_dag.pyc"), doraise=True)

    def kpo_keywords(self):
        calls = [
            node for node in ast.walk(ast.parse(self.source))
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "KubernetesPodOperator"
        ]
        self.assertEqual(len(calls), 1)
        return {kw.arg: kw.value for kw in calls[0].keywords}

    def test_uses_documented_annotation_form(self):
        kw = self.kpo_keywords()
        self.assertEqual(ast.literal_eval(kw["annotations"]), {DEADLINE: EXAMPLE_TEMPLATE})
        self.assertIs(ast.literal_eval(kw["deferrable"]), True)
        self.assertEqual(ast.unparse(kw["execution_timeout"]), "timedelta(minutes=30)")
        self.assertIn("pod_mutation_hook", self.source)

    def test_template_renders_what_the_hook_writes(self):
        # The per-task template and the cluster-wide hook must produce the same value for the same
        # task. Airflow renders with Jinja; without jinja2 here, the expression (also valid Python)
        # is evaluated directly.
        expr = EXAMPLE_TEMPLATE.removeprefix("{{").removesuffix("}}").strip()
        start = datetime(2026, 5, 20, 9, 45, 30, 123456, tzinfo=timezone.utc)
        ctx = context(start, timedelta(minutes=30))
        try:
            from jinja2.sandbox import SandboxedEnvironment
        except ImportError:
            rendered = eval(expr, {"__builtins__": {}}, dict(ctx))  # noqa: S307 - fixed test input
        else:
            rendered = SandboxedEnvironment().from_string(EXAMPLE_TEMPLATE).render(**ctx)
        pod = kpo_pod()
        fn = Calls(ctx)
        with airflow3(fn):
            hook.pod_mutation_hook(pod)
        self.assertEqual(rendered, pod.metadata.annotations[DEADLINE])
        self.assertEqual(rendered, "2026-05-20T10:15:30.123456+00:00")


if __name__ == "__main__":
    unittest.main()
