package test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/certs"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/webhook"
)

// chartCase is one notable combination of values. check receives the
// rendering for release "apd" in namespace ns (fullname
// "apd-airflow-pod-deadline").
type chartCase struct {
	name   string
	values vals
	check  func(t *testing.T, m *manifest, ns string)
}

const caseFullname = "apd-airflow-pod-deadline"

func chartCases() []chartCase {
	return []chartCase{
		{name: "defaults", check: checkDefaults},
		{
			name: "self-managed tuned",
			values: vals{}.with("certificates.mode", "self-managed").
				with("certificates.selfManaged", map[string]any{"certValidity": "720h", "caValidity": "8760h", "renewBefore": "168h", "checkInterval": "30s"}).
				with("webhook.admissionTolerance", "3s").with("kubeletGrace", "45s").with("logLevel", "debug").
				with("webhook.port", 10250).with("healthProbePort", 9440),
			check: func(t *testing.T, m *manifest, ns string) {
				args, _ := m.args(t)
				assert.Equal(t, "720h", args["cert-validity"])
				assert.Equal(t, "8760h", args["ca-validity"])
				assert.Equal(t, "168h", args["cert-renew-before"])
				assert.Equal(t, "30s", args["cert-check-interval"])
				assert.Equal(t, "3s", args["admission-tolerance"])
				assert.Equal(t, "45s", args["kubelet-grace"])
				assert.Equal(t, "debug", args["zap-log-level"])
				assert.Equal(t, "10250", args["webhook-port"])
				assert.Equal(t, ":9440", args["health-probe-bind-address"])
				c := m.deployment(t).Spec.Template.Spec.Containers[0]
				assert.Equal(t, int32(10250), containerPort(t, c, "webhook"))
				assert.Equal(t, int32(9440), containerPort(t, c, "probes"))
				svc := decodeAs[corev1.Service](t, m, "Service", caseFullname)
				assert.Equal(t, "webhook", svc.Spec.Ports[0].TargetPort.String(), "the Service follows the named port")
			},
		},
		{name: "cert-manager", values: vals{}.with("certificates.mode", "cert-manager"), check: checkCertManagerMode},
		{
			name: "cert-manager with issuerRef",
			values: vals{}.with("certificates.mode", "cert-manager").
				with("certificates.certManager.issuerRef", map[string]any{"name": "corp-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}),
			check: func(t *testing.T, m *manifest, ns string) {
				checkCertManagerMode(t, m, ns)
				assert.Empty(t, m.ofKind("Issuer"), "a given issuer replaces the chart's CA chain")
				require.Len(t, m.ofKind("Certificate"), 1, "only the serving certificate")
			},
		},
		{
			name: "failurePolicy Ignore and excludeNamespaces",
			values: vals{}.with("webhook.failurePolicy", "Ignore").with("webhook.timeoutSeconds", 10).
				with("webhook.excludeNamespaces", []any{"airflow-dev", "team-b"}),
			check: func(t *testing.T, m *manifest, ns string) {
				mut, val := webhookConfigsOf(t, m, caseFullname)
				for _, w := range []struct {
					policy   *admissionregistrationv1.FailurePolicyType
					timeout  *int32
					selector *metav1.LabelSelector
				}{
					{mut.Webhooks[0].FailurePolicy, mut.Webhooks[0].TimeoutSeconds, mut.Webhooks[0].NamespaceSelector},
					{val.Webhooks[0].FailurePolicy, val.Webhooks[0].TimeoutSeconds, val.Webhooks[0].NamespaceSelector},
				} {
					assert.Equal(t, admissionregistrationv1.Ignore, *w.policy)
					assert.Equal(t, int32(10), *w.timeout)
					assert.Equal(t, []string{"kube-system", ns, "airflow-dev", "team-b"}, excludedNamespaces(t, w.selector))
				}
				// The sweeper leaves the same namespaces alone.
				args, _ := m.args(t)
				assert.Equal(t, "kube-system,"+ns+",airflow-dev,team-b", args["exclude-namespaces"])
			},
		},
		{
			name:   "custom annotationPrefix",
			values: vals{}.with("annotationPrefix", "deadlines.example.com"),
			check: func(t *testing.T, m *manifest, ns string) {
				args, _ := m.args(t)
				assert.Equal(t, "deadlines.example.com", args["annotation-prefix"])
				mut, val := webhookConfigsOf(t, m, caseFullname)
				for _, cond := range []string{mut.Webhooks[0].MatchConditions[0].Expression, val.Webhooks[0].MatchConditions[0].Expression} {
					assert.Contains(t, cond, "'deadlines.example.com/execution-deadline' in object.metadata.annotations")
					assert.Contains(t, cond, "'deadlines.example.com/execution-timeout' in object.metadata.annotations")
					assert.NotContains(t, cond, deadline.DefaultPrefix)
				}
				assert.Equal(t, deadline.NewKeys("deadlines.example.com").Protected(), protectedKeysOf(t, val.Webhooks[0].MatchConditions[0].Expression))
				assert.Equal(t, "mutate.airflow-pod-deadline.io", mut.Webhooks[0].Name, "webhook names do not follow the prefix")
			},
		},
		{
			name:   "dryRun",
			values: vals{}.with("dryRun", true),
			check: func(t *testing.T, m *manifest, ns string) {
				args, _ := m.args(t)
				assert.Equal(t, "true", args["dry-run"])
			},
		},
		{
			name:   "one replica",
			values: vals{}.with("replicas", 1),
			check: func(t *testing.T, m *manifest, ns string) {
				assert.Equal(t, ptr.To[int32](1), m.deployment(t).Spec.Replicas)
				assert.Empty(t, m.ofKind("PodDisruptionBudget"), "minAvailable 1 with one replica would block node drains")
			},
		},
		{
			name: "serviceMonitor",
			values: vals{}.with("metrics.serviceMonitor", map[string]any{
				"enabled": true, "interval": "15s", "scrapeTimeout": "10s", "labels": map[string]any{"release": "prometheus"},
			}),
			check: func(t *testing.T, m *manifest, ns string) {
				sm := m.only(t, "ServiceMonitor")
				assert.Equal(t, "monitoring.coreos.com/v1", sm.GetAPIVersion())
				assert.Equal(t, "prometheus", sm.GetLabels()["release"])
				endpoints, _, _ := unstructuredSlice(sm.Object, "spec", "endpoints")
				require.Len(t, endpoints, 1)
				ep := endpoints[0].(map[string]any)
				assert.Equal(t, "metrics", ep["port"])
				assert.Equal(t, "http", ep["scheme"])
				assert.Equal(t, "15s", ep["interval"])
				svc := decodeAs[corev1.Service](t, m, "Service", caseFullname)
				assert.Equal(t, svc.Labels["app.kubernetes.io/instance"], nestedString(t, sm.Object, "spec", "selector", "matchLabels", "app.kubernetes.io/instance"))
				assert.Contains(t, servicePortNames(svc), "metrics")
			},
		},
		{
			name:   "metrics.secure with serviceMonitor",
			values: vals{}.with("metrics.secure", true).with("metrics.serviceMonitor.enabled", true),
			check: func(t *testing.T, m *manifest, ns string) {
				args, _ := m.args(t)
				assert.Equal(t, "true", args["metrics-secure"])
				auth := decodeAs[rbacv1.ClusterRole](t, m, "ClusterRole", caseFullname+"-metrics-auth")
				assert.ElementsMatch(t, []rbacv1.PolicyRule{
					{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}},
					{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
				}, auth.Rules)
				binding := decodeAs[rbacv1.ClusterRoleBinding](t, m, "ClusterRoleBinding", caseFullname+"-metrics-auth")
				assert.Equal(t, caseFullname, binding.Subjects[0].Name)
				reader := decodeAs[rbacv1.ClusterRole](t, m, "ClusterRole", caseFullname+"-metrics-reader")
				assert.Equal(t, []string{"/metrics"}, reader.Rules[0].NonResourceURLs)
				endpoints, _, _ := unstructuredSlice(m.only(t, "ServiceMonitor").Object, "spec", "endpoints")
				assert.Equal(t, "https", endpoints[0].(map[string]any)["scheme"])
			},
		},
		{
			name:   "metrics disabled",
			values: vals{}.with("metrics.enabled", false).with("metrics.serviceMonitor.enabled", true),
			check: func(t *testing.T, m *manifest, ns string) {
				args, _ := m.args(t)
				assert.Equal(t, "0", args["metrics-bind-address"])
				assert.NotContains(t, args, "metrics-secure")
				assert.Empty(t, m.ofKind("ServiceMonitor"))
				assert.NotContains(t, servicePortNames(decodeAs[corev1.Service](t, m, "Service", caseFullname)), "metrics")
			},
		},
		{
			name: "priorityClassName and scheduling",
			values: vals{}.with("priorityClassName", "system-cluster-critical").
				with("nodeSelector", map[string]any{"kubernetes.io/os": "linux"}).
				with("tolerations", []any{map[string]any{"key": "dedicated", "operator": "Equal", "value": "platform", "effect": "NoSchedule"}}).
				with("affinity", map[string]any{"nodeAffinity": map[string]any{"requiredDuringSchedulingIgnoredDuringExecution": map[string]any{
					"nodeSelectorTerms": []any{map[string]any{"matchExpressions": []any{map[string]any{"key": "kubernetes.io/arch", "operator": "In", "values": []any{"amd64", "arm64"}}}}},
				}}}).
				with("podAnnotations", map[string]any{"example.com/team": "platform"}).
				with("podLabels", map[string]any{"team": "platform"}).
				with("imagePullSecrets", []any{map[string]any{"name": "registry"}}),
			check: func(t *testing.T, m *manifest, ns string) {
				spec := m.deployment(t).Spec.Template
				assert.Equal(t, "system-cluster-critical", spec.Spec.PriorityClassName)
				assert.Equal(t, map[string]string{"kubernetes.io/os": "linux"}, spec.Spec.NodeSelector)
				require.Len(t, spec.Spec.Tolerations, 1)
				assert.Equal(t, "dedicated", spec.Spec.Tolerations[0].Key)
				require.NotNil(t, spec.Spec.Affinity)
				require.NotNil(t, spec.Spec.Affinity.NodeAffinity)
				assert.Equal(t, "platform", spec.Annotations["example.com/team"])
				assert.Equal(t, "platform", spec.Labels["team"])
				assert.Equal(t, "registry", spec.Spec.ImagePullSecrets[0].Name)
			},
		},
		{
			name: "sweeper scoped and tuned",
			values: vals{}.with("sweeper", map[string]any{"namespace": "default", "podLabelSelector": "kubernetes_pod_operator=True", "maxDeletesPerSecond": 5, "workers": 2}).
				with("kubeAPI", map[string]any{"qps": 20.5, "burst": 40}).
				with("extraArgs", []any{"--enable-sweeper=true"}),
			check: func(t *testing.T, m *manifest, ns string) {
				args, list := m.args(t)
				assert.Equal(t, "default", args["namespace"])
				assert.Equal(t, "kubernetes_pod_operator=True", args["pod-label-selector"])
				assert.Equal(t, "5", args["max-deletes-per-second"])
				assert.Equal(t, "2", args["sweeper-workers"])
				assert.Equal(t, "20.5", args["kube-api-qps"])
				assert.Equal(t, "40", args["kube-api-burst"])
				assert.Equal(t, "--enable-sweeper=true", list[len(list)-1], "extraArgs come last")
				// The pod permissions hold in that namespace only.
				assert.False(t, m.has("ClusterRoleBinding", caseFullname))
				rb := decodeAs[rbacv1.RoleBinding](t, m, "RoleBinding", caseFullname+"-sweeper")
				assert.Equal(t, "default", rb.Namespace)
				assert.Equal(t, rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: caseFullname}, rb.RoleRef)
				assert.Equal(t, []rbacv1.Subject{{Kind: "ServiceAccount", Name: caseFullname, Namespace: ns}}, rb.Subjects)
			},
		},
		{
			name:   "image digest",
			values: vals{}.with("image", map[string]any{"repository": "registry.example.com/apd", "tag": "1.2.3", "digest": "sha256:" + strings.Repeat("ab", 32), "pullPolicy": "Always"}),
			check: func(t *testing.T, m *manifest, ns string) {
				c := m.deployment(t).Spec.Template.Spec.Containers[0]
				assert.Equal(t, "registry.example.com/apd:1.2.3@sha256:"+strings.Repeat("ab", 32), c.Image)
				assert.Equal(t, corev1.PullAlways, c.ImagePullPolicy)
			},
		},
	}
}

func containerPort(t *testing.T, c corev1.Container, name string) int32 {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("no container port %q", name)
	return 0
}

func servicePortNames(svc *corev1.Service) []string {
	var out []string
	for _, p := range svc.Spec.Ports {
		out = append(out, p.Name)
	}
	return out
}

func unstructuredSlice(obj map[string]any, fields ...string) ([]any, bool, error) {
	cur := any(obj)
	for _, f := range fields {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false, nil
		}
		cur = m[f]
	}
	s, ok := cur.([]any)
	return s, ok, nil
}

func nestedString(t *testing.T, obj map[string]any, fields ...string) string {
	t.Helper()
	cur := any(obj)
	for _, f := range fields {
		m, ok := cur.(map[string]any)
		require.True(t, ok, "no %v", fields)
		cur = m[f]
	}
	s, _ := cur.(string)
	return s
}

func webhookConfigsOf(t testing.TB, m *manifest, name string) (*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfiguration) {
	t.Helper()
	mut := decodeAs[admissionregistrationv1.MutatingWebhookConfiguration](t, m, "MutatingWebhookConfiguration", name)
	val := decodeAs[admissionregistrationv1.ValidatingWebhookConfiguration](t, m, "ValidatingWebhookConfiguration", name)
	require.Len(t, mut.Webhooks, 1)
	// The pod webhook, and the one for the subresources that write a pod's metadata.
	require.Len(t, val.Webhooks, 2)
	return mut, val
}

func excludedNamespaces(t testing.TB, sel *metav1.LabelSelector) []string {
	t.Helper()
	require.NotNil(t, sel)
	require.Len(t, sel.MatchExpressions, 1)
	e := sel.MatchExpressions[0]
	assert.Equal(t, "kubernetes.io/metadata.name", e.Key)
	assert.Equal(t, metav1.LabelSelectorOpNotIn, e.Operator)
	return e.Values
}

// protectedKeysOf returns the annotation keys the validating webhook's
// first matchCondition sends an UPDATE for, on the new and on the old object
// (which must list the same keys).
func protectedKeysOf(t *testing.T, expr string) []string {
	t.Helper()
	lists := regexp.MustCompile(`\[([^\]]*)\]\.exists\(k, k in (object|oldObject)\.metadata\.annotations\)`).FindAllStringSubmatch(expr, -1)
	require.Len(t, lists, 2, "one key list for object, one for oldObject: %s", expr)
	assert.Equal(t, "object", lists[0][2])
	assert.Equal(t, "oldObject", lists[1][2])
	assert.Equal(t, lists[0][1], lists[1][1])
	var keys []string
	for _, k := range strings.Split(lists[0][1], ", ") {
		keys = append(keys, strings.Trim(k, "'"))
	}
	return keys
}

func checkDefaults(t *testing.T, m *manifest, ns string) {
	dep := m.deployment(t)
	assert.Equal(t, caseFullname, dep.Name)
	assert.Equal(t, ns, dep.Namespace)
	assert.Equal(t, ptr.To[int32](2), dep.Spec.Replicas)
	pod := dep.Spec.Template.Spec
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]
	assert.Equal(t, "ghcr.io/airflow-pod-deadline/airflow-pod-deadline:"+chartAppVersion(t), c.Image, "tag defaults to appVersion")

	args, _ := m.args(t)
	svcDNS := caseFullname + "." + ns + ".svc"
	assert.Equal(t, map[string]string{
		"annotation-prefix":          deadline.DefaultPrefix,
		"dry-run":                    "false",
		"kubelet-grace":              "15s",
		"exclude-namespaces":         "kube-system," + ns,
		"leader-elect":               "true",
		"leader-election-namespace":  ns,
		"webhook-port":               "9443",
		"metrics-bind-address":       ":8080",
		"metrics-secure":             "false",
		"health-probe-bind-address":  ":8081",
		"zap-log-level":              "info",
		"cert-dir":                   "/tmp/k8s-webhook-server/serving-certs",
		"cert-mode":                  "self-managed",
		"cert-secret-name":           caseFullname + "-tls",
		"cert-secret-namespace":      ns,
		"cert-dns-names":             svcDNS + "," + svcDNS + ".cluster.local",
		"webhook-configuration-name": caseFullname,
	}, args)

	require.Len(t, c.Env, 1)
	assert.Equal(t, "POD_NAMESPACE", c.Env[0].Name)
	assert.Equal(t, "metadata.namespace", c.Env[0].ValueFrom.FieldRef.FieldPath)
	assert.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)
	assert.Equal(t, "probes", c.LivenessProbe.HTTPGet.Port.String())
	assert.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)
	assert.Equal(t, "probes", c.ReadinessProbe.HTTPGet.Port.String())
	assert.Equal(t, "50m", c.Resources.Requests.Cpu().String())
	assert.Equal(t, "64Mi", c.Resources.Requests.Memory().String())
	assert.Equal(t, "256Mi", c.Resources.Limits.Memory().String())

	// Restricted Pod Security Standard (TestChartPodPassesRestrictedPodSecurity
	// has the API server judge it).
	sc := c.SecurityContext
	assert.Equal(t, ptr.To(true), sc.RunAsNonRoot)
	assert.Equal(t, ptr.To[int64](65532), sc.RunAsUser)
	assert.Equal(t, ptr.To(true), sc.ReadOnlyRootFilesystem)
	assert.Equal(t, ptr.To(false), sc.AllowPrivilegeEscalation)
	assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
	assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, sc.SeccompProfile.Type)

	// Self-managed: nothing mounted but /tmp (the binary reads its Secret
	// through the API).
	require.Len(t, pod.Volumes, 1)
	assert.NotNil(t, pod.Volumes[0].EmptyDir)
	require.Len(t, c.VolumeMounts, 1)
	assert.Equal(t, "/tmp", c.VolumeMounts[0].MountPath)

	require.Len(t, pod.TopologySpreadConstraints, 1)
	spread := pod.TopologySpreadConstraints[0]
	assert.Equal(t, "kubernetes.io/hostname", spread.TopologyKey)
	assert.Equal(t, corev1.ScheduleAnyway, spread.WhenUnsatisfiable)
	assert.Equal(t, dep.Spec.Selector.MatchLabels, spread.LabelSelector.MatchLabels)

	pdb := decodeAs[policyv1.PodDisruptionBudget](t, m, "PodDisruptionBudget", caseFullname)
	assert.Equal(t, intstr.FromInt32(1), *pdb.Spec.MinAvailable)
	assert.Equal(t, dep.Spec.Selector.MatchLabels, pdb.Spec.Selector.MatchLabels)

	svc := decodeAs[corev1.Service](t, m, "Service", caseFullname)
	assert.Equal(t, dep.Spec.Selector.MatchLabels, svc.Spec.Selector)
	assert.Equal(t, int32(443), svc.Spec.Ports[0].Port)
	assert.Equal(t, "webhook", svc.Spec.Ports[0].TargetPort.String())

	mut, val := webhookConfigsOf(t, m, caseFullname)
	for _, w := range []struct {
		cc       admissionregistrationv1.WebhookClientConfig
		policy   *admissionregistrationv1.FailurePolicyType
		timeout  *int32
		selector *metav1.LabelSelector
	}{
		{mut.Webhooks[0].ClientConfig, mut.Webhooks[0].FailurePolicy, mut.Webhooks[0].TimeoutSeconds, mut.Webhooks[0].NamespaceSelector},
		{val.Webhooks[0].ClientConfig, val.Webhooks[0].FailurePolicy, val.Webhooks[0].TimeoutSeconds, val.Webhooks[0].NamespaceSelector},
	} {
		assert.Equal(t, caseFullname, w.cc.Service.Name)
		assert.Equal(t, ns, w.cc.Service.Namespace)
		assert.Equal(t, ptr.To[int32](443), w.cc.Service.Port)
		assert.Empty(t, w.cc.CABundle, "no caBundle before the binary injects it")
		assert.Equal(t, admissionregistrationv1.Fail, *w.policy)
		assert.Equal(t, int32(5), *w.timeout)
		assert.Equal(t, []string{"kube-system", ns}, excludedNamespaces(t, w.selector))
	}
	assert.Equal(t, "mutate.airflow-pod-deadline.io", mut.Webhooks[0].Name)
	assert.Equal(t, webhook.MutatePath, *mut.Webhooks[0].ClientConfig.Service.Path)
	assert.Equal(t, []admissionregistrationv1.OperationType{"CREATE"}, mut.Webhooks[0].Rules[0].Operations)
	assert.Equal(t, "validate.airflow-pod-deadline.io", val.Webhooks[0].Name)
	assert.Equal(t, webhook.ValidatePath, *val.Webhooks[0].ClientConfig.Service.Path)
	assert.Equal(t, []admissionregistrationv1.OperationType{"CREATE", "UPDATE"}, val.Webhooks[0].Rules[0].Operations)
	// An UPDATE touching any annotation only the creator may set reaches the webhook.
	assert.Equal(t, keys.Protected(), protectedKeysOf(t, val.Webhooks[0].MatchConditions[0].Expression))
	// The sweeper acts exactly where the webhooks serve: its exclusions are
	// the webhooks' namespaceSelector, from the one value.
	assert.Equal(t, strings.Join(excludedNamespaces(t, val.Webhooks[0].NamespaceSelector), ","), args["exclude-namespaces"])
	// The subresources that write a pod's metadata, on the same terms.
	sub := val.Webhooks[1]
	assert.Equal(t, "validate-subresources.airflow-pod-deadline.io", sub.Name)
	assert.Equal(t, val.Webhooks[0].ClientConfig, sub.ClientConfig)
	assert.Equal(t, val.Webhooks[0].FailurePolicy, sub.FailurePolicy)
	assert.Equal(t, val.Webhooks[0].NamespaceSelector, sub.NamespaceSelector)
	require.Len(t, sub.Rules, 2)
	assert.Equal(t, []admissionregistrationv1.OperationType{"UPDATE"}, sub.Rules[0].Operations)
	assert.Equal(t, []string{"pods/status", "pods/ephemeralcontainers", "pods/resize"}, sub.Rules[0].Resources)
	assert.Equal(t, []admissionregistrationv1.OperationType{"CREATE"}, sub.Rules[1].Operations)
	assert.Equal(t, []string{"pods/binding"}, sub.Rules[1].Resources)
	for _, k := range keys.Protected() {
		assert.Equal(t, 2, strings.Count(sub.MatchConditions[0].Expression, "'"+k+"'"), k)
	}
	assert.NotContains(t, mut.Annotations, "cert-manager.io/inject-ca-from")

	// The Secret the binary fills: rendered empty (nothing to look up).
	secret := decodeAs[corev1.Secret](t, m, "Secret", caseFullname+"-tls")
	assert.Equal(t, corev1.SecretTypeOpaque, secret.Type)
	assert.Empty(t, secret.Data)
	assert.NotContains(t, secret.Annotations, "helm.sh/resource-policy")

	checkRBAC(t, m, ns, true)
	assert.Empty(t, m.ofKind("Certificate"))
	assert.Empty(t, m.ofKind("Issuer"))
	assert.Empty(t, m.ofKind("ServiceMonitor"))
}

// checkRBAC asserts least privilege.
func checkRBAC(t *testing.T, m *manifest, ns string, selfManaged bool) {
	t.Helper()
	sweeper := decodeAs[rbacv1.ClusterRole](t, m, "ClusterRole", caseFullname)
	assert.Equal(t, []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch", "patch", "delete"}},
		{APIGroups: []string{"events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
	}, sweeper.Rules)
	crb := decodeAs[rbacv1.ClusterRoleBinding](t, m, "ClusterRoleBinding", caseFullname)
	assert.Equal(t, rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: caseFullname}, crb.RoleRef)
	assert.Equal(t, []rbacv1.Subject{{Kind: "ServiceAccount", Name: caseFullname, Namespace: ns}}, crb.Subjects)

	role := decodeAs[rbacv1.Role](t, m, "Role", caseFullname)
	assert.Equal(t, ns, role.Namespace)
	want := []rbacv1.PolicyRule{
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, ResourceNames: []string{leaderElectionID(t)}, Verbs: []string{"get", "update"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"create"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
	}
	if selfManaged {
		want = append(want, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{caseFullname + "-tls"}, Verbs: []string{"get", "update", "patch"}})
		webhookCA := decodeAs[rbacv1.ClusterRole](t, m, "ClusterRole", caseFullname+"-webhook-ca")
		assert.Equal(t, []rbacv1.PolicyRule{{
			APIGroups:     []string{"admissionregistration.k8s.io"},
			Resources:     []string{"mutatingwebhookconfigurations", "validatingwebhookconfigurations"},
			ResourceNames: []string{caseFullname},
			Verbs:         []string{"get", "update", "patch"},
		}}, webhookCA.Rules)
		assert.True(t, m.has("ClusterRoleBinding", caseFullname+"-webhook-ca"))
	} else {
		assert.False(t, m.has("ClusterRole", caseFullname+"-webhook-ca"))
		assert.False(t, m.has("ClusterRoleBinding", caseFullname+"-webhook-ca"))
	}
	assert.Equal(t, want, role.Rules)
	// Nothing else anywhere: no wildcard, no secrets beyond the one name.
	for _, u := range append(m.ofKind("ClusterRole"), m.ofKind("Role")...) {
		r := decodeAs[rbacv1.ClusterRole](t, m, u.GetKind(), u.GetName())
		for _, rule := range r.Rules {
			for _, s := range [][]string{rule.Verbs, rule.Resources, rule.APIGroups} {
				assert.NotContains(t, s, "*", "%s %s", u.GetKind(), u.GetName())
			}
			if slicesContain(rule.Resources, "secrets") {
				assert.NotEmpty(t, rule.ResourceNames, "secrets only by name")
			}
		}
	}
}

func slicesContain(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func checkCertManagerMode(t *testing.T, m *manifest, ns string) {
	args, _ := m.args(t)
	assert.Equal(t, "files", args["cert-mode"])
	for _, f := range []string{"cert-secret-name", "cert-secret-namespace", "cert-dns-names", "webhook-configuration-name"} {
		assert.NotContains(t, args, f)
	}
	assert.False(t, m.has("Secret", caseFullname+"-tls"), "cert-manager owns the Secret")
	checkRBAC(t, m, ns, false)
	serving := decodeAs[cmv1.Certificate](t, m, "Certificate", caseFullname+"-serving")
	pod := m.deployment(t).Spec.Template.Spec
	var volume *corev1.Volume
	for i := range pod.Volumes {
		if pod.Volumes[i].Secret != nil {
			volume = &pod.Volumes[i]
		}
	}
	require.NotNil(t, volume, "the serving Secret is mounted")
	assert.Equal(t, serving.Spec.SecretName, volume.Secret.SecretName)
	var mount *corev1.VolumeMount
	for i, vm := range pod.Containers[0].VolumeMounts {
		if vm.Name == volume.Name {
			mount = &pod.Containers[0].VolumeMounts[i]
		}
	}
	require.NotNil(t, mount)
	assert.Equal(t, args["cert-dir"], mount.MountPath)
	assert.True(t, mount.ReadOnly)
	mut, val := webhookConfigsOf(t, m, caseFullname)
	for _, a := range []map[string]string{mut.Annotations, val.Annotations} {
		assert.Equal(t, ns+"/"+serving.Name, a["cert-manager.io/inject-ca-from"])
	}
}

// chartAppVersion reads appVersion from Chart.yaml.
func chartAppVersion(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(suite.root, chartPath, "Chart.yaml"))
	require.NoError(t, err)
	match := regexp.MustCompile(`(?m)^appVersion:\s*"?([^"\s]+)"?`).FindSubmatch(b)
	require.NotNil(t, match)
	return string(match[1])
}

// leaderElectionID is the Lease name the binary uses, read from its source:
// the chart's Role names it.
func leaderElectionID(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(suite.root, "cmd", "airflow-pod-deadline", "main.go"))
	require.NoError(t, err)
	match := regexp.MustCompile(`leaderElectionID\s*=\s*"([^"]+)"`).FindSubmatch(b)
	require.NotNil(t, match, "const leaderElectionID not found in cmd/airflow-pod-deadline/main.go; keep the chart's apd.leaseName in step")
	return string(match[1])
}

func TestChartLint(t *testing.T) {
	for _, c := range chartCases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel() // renders only
			args := append([]string{"lint", "--strict", chartPath, "--namespace", "ops"}, valuesArgs(t, c.values)...)
			out, err := runHelm(t, args...)
			require.NoError(t, err, out)
			assert.Contains(t, out, "1 chart(s) linted, 0 chart(s) failed")
		})
	}
}

func TestChartTemplate(t *testing.T) {
	for _, c := range chartCases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel() // renders only
			const ns = "ops"
			m := renderChart(t, "apd", ns, c.values)
			// Every namespaced object lands in the release namespace (or
			// the sweeper's, for its RoleBinding).
			for _, u := range m.objs {
				switch u.GetKind() {
				case "ClusterRole", "ClusterRoleBinding", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration":
					assert.Empty(t, u.GetNamespace(), "%s is cluster-scoped", u.GetKind())
				case "RoleBinding":
					assert.Contains(t, []string{ns, "default"}, u.GetNamespace())
				default:
					assert.Equal(t, ns, u.GetNamespace(), "%s/%s", u.GetKind(), u.GetName())
				}
				assert.Equal(t, "apd", u.GetLabels()["app.kubernetes.io/instance"], "%s/%s labelled", u.GetKind(), u.GetName())
			}
			c.check(t, m, ns)
		})
	}
	t.Run("default install keeps the plain names", func(t *testing.T) {
		t.Parallel()
		m := renderChart(t, "airflow-pod-deadline", "airflow-pod-deadline", nil)
		mut, val := webhookConfigsOf(t, m, "airflow-pod-deadline")
		assert.Equal(t, "airflow-pod-deadline", mut.Webhooks[0].ClientConfig.Service.Name)
		assert.Equal(t, "validate.airflow-pod-deadline.io", val.Webhooks[0].Name)
		assert.True(t, m.has("Deployment", "airflow-pod-deadline"))
	})
	t.Run("kubeVersion below 1.30 is refused", func(t *testing.T) {
		t.Parallel()
		_, err := runHelm(t, "template", "apd", chartPath, "--kube-version", "1.29.9")
		require.Error(t, err)
		assert.Contains(t, err.Error(), ">=1.30.0-0")
	})
}

// TestChartArgsAcceptedByBinary feeds each rendering's args to the binary
// built for this run: flag parsing and validation must pass (exit status 2
// and "airflow-pod-deadline: --flag: ..." are how it refuses them); it then
// fails only for the missing kubeconfig.
func TestChartArgsAcceptedByBinary(t *testing.T) {
	for _, c := range chartCases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, list := renderChart(t, "apd", "ops", c.values).args(t)
			missing := filepath.Join(t.TempDir(), "no-kubeconfig")
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, suite.binary, append(list, "--kubeconfig="+missing)...)
			cmd.Env = append(os.Environ(), "KUBECONFIG="+missing, "POD_NAMESPACE=ops")
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				assert.NotEqual(t, 2, exit.ExitCode(), "the binary refused the chart's flags:\n%s", out)
			}
			assert.NotContains(t, string(out), "airflow-pod-deadline: --")
			assert.NotContains(t, string(out), "flag provided but not defined")
		})
	}
}

func TestChartSchemaRejectsBadValues(t *testing.T) {
	for _, c := range []struct {
		name   string
		values vals
		want   []string
	}{
		{"replicas is not a number", vals{"replicas": "two"}, []string{"at '/replicas': got string, want integer"}},
		{"zero replicas", vals{"replicas": 0}, []string{"at '/replicas'", "minimum"}},
		{"unknown certificates.mode", vals{}.with("certificates.mode", "vault"), []string{"at '/certificates/mode': value must be one of 'self-managed', 'cert-manager'"}},
		{"negative timeout", vals{}.with("webhook.timeoutSeconds", -1), []string{"at '/webhook/timeoutSeconds'", "minimum"}},
		{"timeout above 30", vals{}.with("webhook.timeoutSeconds", 31), []string{"at '/webhook/timeoutSeconds'", "maximum"}},
		{"failurePolicy Sometimes", vals{}.with("webhook.failurePolicy", "Sometimes"), []string{"at '/webhook/failurePolicy': value must be one of 'Fail', 'Ignore'"}},
		{"unknown top-level key", vals{"replicaCount": 3}, []string{"additional properties 'replicaCount' not allowed"}},
		{"unknown nested key", vals{}.with("webhook.failurePolice", "Fail"), []string{"at '/webhook'", "additional properties 'failurePolice' not allowed"}},
		{"annotationPrefix not a DNS subdomain", vals{"annotationPrefix": "Airflow_Deadline"}, []string{"at '/annotationPrefix'", "does not match pattern"}},
		{"kubeletGrace without unit", vals{"kubeletGrace": "15"}, []string{"at '/kubeletGrace'", "does not match pattern"}},
		{"dryRun as a string", vals{"dryRun": "yes"}, []string{"at '/dryRun': got string, want boolean"}},
		{"excluded namespace not a DNS label", vals{}.with("webhook.excludeNamespaces", []any{"Team_B"}), []string{"at '/webhook/excludeNamespaces/0'"}},
		{"issuerRef without name", vals{}.with("certificates.mode", "cert-manager").with("certificates.certManager.issuerRef", map[string]any{"kind": "ClusterIssuer"}), []string{"at '/certificates/certManager/issuerRef': missing property 'name'"}},
		{"logLevel unknown", vals{"logLevel": "verbose"}, []string{"at '/logLevel'", "'debug', 'info', 'error', 'panic'"}},
		{"bad image digest", vals{}.with("image.digest", "sha256:abc"), []string{"at '/image/digest'"}},
		{"port out of range", vals{}.with("webhook.port", 70000), []string{"at '/webhook/port'", "maximum"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := helmTemplate(t, "apd", "ops", c.values)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "values don't meet the specifications of the schema")
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

// TestChartCertManagerResources decodes the cert-manager objects strictly
// into cert-manager's own Go types (a misspelled field is an error) and checks
// the issuer chain the chart builds.
func TestChartCertManagerResources(t *testing.T) {
	const ns = "ops"
	svcDNS := []string{caseFullname + "." + ns + ".svc", caseFullname + "." + ns + ".svc.cluster.local"}
	t.Run("self-signed CA chain", func(t *testing.T) {
		m := renderChart(t, "apd", ns, vals{}.with("certificates.mode", "cert-manager"))
		for _, u := range append(m.ofKind("Issuer"), m.ofKind("Certificate")...) {
			assert.Equal(t, cmv1.SchemeGroupVersion.String(), u.GetAPIVersion())
		}
		require.Len(t, m.ofKind("Issuer"), 2)
		require.Len(t, m.ofKind("Certificate"), 2)

		selfSigned := decodeAs[cmv1.Issuer](t, m, "Issuer", caseFullname+"-selfsigned")
		assert.NotNil(t, selfSigned.Spec.SelfSigned)
		assert.Nil(t, selfSigned.Spec.CA)

		ca := decodeAs[cmv1.Certificate](t, m, "Certificate", caseFullname+"-ca")
		assert.True(t, ca.Spec.IsCA)
		assert.Equal(t, cmmeta.IssuerReference{Name: selfSigned.Name, Kind: "Issuer", Group: "cert-manager.io"}, ca.Spec.IssuerRef)
		assert.Equal(t, 87600*time.Hour, ca.Spec.Duration.Duration)

		caIssuer := decodeAs[cmv1.Issuer](t, m, "Issuer", caseFullname+"-ca")
		require.NotNil(t, caIssuer.Spec.CA)
		assert.Equal(t, ca.Spec.SecretName, caIssuer.Spec.CA.SecretName, "the CA Issuer signs with the CA Certificate's key")

		serving := decodeAs[cmv1.Certificate](t, m, "Certificate", caseFullname+"-serving")
		assert.False(t, serving.Spec.IsCA)
		assert.Equal(t, cmmeta.IssuerReference{Name: caIssuer.Name, Kind: "Issuer", Group: "cert-manager.io"}, serving.Spec.IssuerRef)
		assert.Equal(t, svcDNS, serving.Spec.DNSNames)
		assert.Contains(t, serving.Spec.Usages, cmv1.UsageServerAuth)
		assert.Less(t, serving.Spec.RenewBefore.Duration, serving.Spec.Duration.Duration)
		assert.NotEqual(t, ca.Spec.SecretName, serving.Spec.SecretName)
		checkServingWiring(t, m, ns, serving)
	})
	t.Run("given issuer", func(t *testing.T) {
		m := renderChart(t, "apd", ns, vals{}.with("certificates.mode", "cert-manager").
			with("certificates.certManager.issuerRef", map[string]any{"name": "corp-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}))
		assert.Empty(t, m.ofKind("Issuer"))
		require.Len(t, m.ofKind("Certificate"), 1)
		serving := decodeAs[cmv1.Certificate](t, m, "Certificate", caseFullname+"-serving")
		assert.Equal(t, cmmeta.IssuerReference{Name: "corp-ca", Kind: "ClusterIssuer", Group: "cert-manager.io"}, serving.Spec.IssuerRef)
		assert.Equal(t, svcDNS, serving.Spec.DNSNames)
		checkServingWiring(t, m, ns, serving)
	})
}

// checkServingWiring: the Deployment mounts the serving Certificate's Secret
// at --cert-dir, the Service is what the DNS names name, and cainjector is
// pointed at that Certificate.
func checkServingWiring(t *testing.T, m *manifest, ns string, serving *cmv1.Certificate) {
	t.Helper()
	svc := decodeAs[corev1.Service](t, m, "Service", caseFullname)
	assert.Equal(t, svc.Name+"."+ns+".svc", serving.Spec.DNSNames[0])
	checkCertManagerMode(t, m, ns)
	mut, val := webhookConfigsOf(t, m, caseFullname)
	assert.Equal(t, ns+"/"+serving.Name, mut.Annotations["cert-manager.io/inject-ca-from"])
	assert.Equal(t, ns+"/"+serving.Name, val.Annotations["cert-manager.io/inject-ca-from"])
	assert.Equal(t, svc.Name, mut.Webhooks[0].ClientConfig.Service.Name)
}

var installCertManagerCRDs = sync.OnceValue(func() error {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/cert-manager/cert-manager").Output()
	if err != nil {
		return fmt.Errorf("locating the cert-manager module: %w", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "deploy", "crds")
	_, err = envtest.InstallCRDs(suite.cfg, envtest.CRDInstallOptions{
		Paths: []string{
			filepath.Join(dir, "cert-manager.io_issuers.yaml"),
			filepath.Join(dir, "cert-manager.io_certificates.yaml"),
		},
		ErrorIfPathMissing: true,
	})
	return err
})

// TestChartObjectsDryRun creates every rendered object of every combination
// in the real API server with a server-side dry run: schema, defaulting,
// validation (CEL matchConditions compile, selectors, ports, RBAC) and
// admission all apply, nothing is stored.
//
// cert-manager's Issuer and Certificate are checked against cert-manager's
// own CRDs (the ones in the cert-manager Go module the test already depends
// on, installed into the API server once). The ServiceMonitor is skipped by
// kind: the Prometheus Operator's CRD is not available here, so the API
// server cannot know the kind; TestChartTemplate checks its shape.
func TestChartObjectsDryRun(t *testing.T) {
	require.NoError(t, installCertManagerCRDs())
	ctx := context.Background()
	for i, c := range chartCases() {
		t.Run(c.name, func(t *testing.T) {
			ns := newNamespace(t)
			// A release name per case: cluster-scoped names must not clash
			// with real objects (the shared webhook configurations are
			// named airflow-pod-deadline).
			release := fmt.Sprintf("apd-dry%d", i)
			m := renderChart(t, release, ns, c.values)
			applied := 0
			for _, u := range m.objs {
				if u.GetKind() == "ServiceMonitor" {
					continue // no CRD: see above
				}
				obj := u.DeepCopy()
				if err := suite.client.Create(ctx, obj, client.DryRunAll); err != nil {
					t.Errorf("dry-run create %s %s/%s: %v", u.GetKind(), u.GetNamespace(), u.GetName(), err)
				}
				applied++
			}
			assert.Greater(t, applied, 10)
		})
	}
}

// reviewsFor is how many admission reviews the shared server answers for a
// server-side dry-run create of one annotated pod in ns.
func reviewsFor(t testing.TB, ns string) float64 {
	t.Helper()
	tt, ok := t.(*testing.T)
	require.True(t, ok)
	before := webhookCalls(tt)
	require.NoError(t, suite.client.Create(context.Background(), kpoPod(ns, map[string]string{timeoutKey: "1h"}, nil), client.DryRunAll))
	return webhookCalls(tt) - before
}

// TestChartWebhooksLive installs the chart's rendered webhook configurations
// for real (release apd-chart) with their Service reference turned into the
// shared local server's URL, and shows the API server calls the webhooks
// through them: with both the shared and these configurations installed an
// annotated pod costs two reviews more, except in the namespaces the chart
// excludes.
func TestChartWebhooksLive(t *testing.T) {
	ctx := context.Background()
	releaseNS := newNamespace(t)
	excluded := newNamespace(t)
	ns := newNamespace(t)

	m := renderChart(t, "apd-chart", releaseNS, vals{}.with("webhook.excludeNamespaces", []any{excluded}))
	mut, val := webhookConfigsOf(t, m, "apd-chart-airflow-pod-deadline")
	testenv.PointAt(&mut.Webhooks[0].ClientConfig, suite.webhookAt, suite.webhookCA)
	for i := range val.Webhooks {
		testenv.PointAt(&val.Webhooks[i].ClientConfig, suite.webhookAt, suite.webhookCA)
	}

	// One review per pod and configuration pair: the validating call is
	// skipped when nothing changed the pod after the mutating one.
	require.Equal(t, 1.0, reviewsFor(t, ns), "before: the shared configurations only")
	require.NoError(t, suite.client.Create(ctx, mut))
	require.NoError(t, suite.client.Create(ctx, val))
	// Registered after the namespaces, so it runs before their deletion.
	// The configurations must be gone (and the API server must have noticed)
	// before other tests count the shared server's calls.
	t.Cleanup(func() {
		for _, obj := range []client.Object{mut, val} {
			if err := suite.client.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("deleting %s: %v", obj.GetName(), err)
			}
		}
		deadline := time.Now().Add(30 * time.Second)
		for reviewsFor(t, ns) != 1 {
			if time.Now().After(deadline) {
				t.Errorf("the API server still calls the removed configurations")
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	require.Eventually(t, func() bool { return reviewsFor(t, ns) >= 2 }, 30*time.Second, 100*time.Millisecond,
		"the API server never called the webhook through the chart's configurations")

	assert.GreaterOrEqual(t, reviewsFor(t, ns), 2.0, "a mutation through each configuration")
	assert.Equal(t, 1.0, reviewsFor(t, excluded), "webhook.excludeNamespaces")
	assert.Equal(t, 1.0, reviewsFor(t, releaseNS), "the release namespace is never intercepted")

	// A pod is clamped through them, and a late one refused.
	created := kpoPod(ns, map[string]string{timeoutKey: "20s"}, ptr.To[int64](3600))
	require.NoError(t, suite.client.Create(ctx, created))
	require.NotNil(t, created.Spec.ActiveDeadlineSeconds)
	assert.InDelta(t, 20, *created.Spec.ActiveDeadlineSeconds, 1)
	assert.Equal(t, "3600", created.Annotations[keys.ClampedFrom])
	late := kpoPod(ns, map[string]string{deadlineKey: deadline.Format(time.Now().Add(-time.Minute))}, nil)
	err := suite.client.Create(ctx, late)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `admission webhook "mutate.airflow-pod-deadline.io" denied the request`)
}

// TestChartPodPassesRestrictedPodSecurity has the API server's PodSecurity
// admission judge the Deployment's pod template, in both TLS modes, in a
// namespace that enforces the restricted standard.
func TestChartPodPassesRestrictedPodSecurity(t *testing.T) {
	ctx := context.Background()
	for _, mode := range []string{"self-managed", "cert-manager"} {
		t.Run(mode, func(t *testing.T) {
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "restricted-", Labels: map[string]string{
				"pod-security.kubernetes.io/enforce":         "restricted",
				"pod-security.kubernetes.io/enforce-version": "latest",
			}}}
			require.NoError(t, suite.client.Create(ctx, ns))
			t.Cleanup(func() { _ = suite.client.Delete(ctx, ns) })

			m := renderChart(t, "apd", ns.Name, vals{}.with("certificates.mode", mode))
			sa := decodeAs[corev1.ServiceAccount](t, m, "ServiceAccount", caseFullname)
			require.NoError(t, suite.client.Create(ctx, sa), "the pod's ServiceAccount must exist")
			tmpl := m.deployment(t).Spec.Template
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "apd-pod", Namespace: ns.Name, Labels: tmpl.Labels, Annotations: tmpl.Annotations},
				Spec:       tmpl.Spec,
			}
			require.NoError(t, suite.client.Create(ctx, pod.DeepCopy(), client.DryRunAll))

			// The same pod without the container's hardening is refused
			// here, so the acceptance above means something.
			weak := pod.DeepCopy()
			weak.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = nil
			weak.Spec.Containers[0].SecurityContext.Capabilities = nil
			err := suite.client.Create(ctx, weak, client.DryRunAll)
			require.Error(t, err)
			assert.Contains(t, err.Error(), `violates PodSecurity "restricted:latest"`)
		})
	}
}

// TestChartInstallYAMLUpToDate renders manifests/install.yaml as
// `make manifests` does and compares bytes.
func TestChartInstallYAMLUpToDate(t *testing.T) {
	header, err := os.ReadFile(filepath.Join(suite.root, "manifests", "chart", "install-namespace.yaml"))
	require.NoError(t, err)
	out, err := runHelm(t, "template", "airflow-pod-deadline", chartPath, "--namespace", "airflow-pod-deadline")
	require.NoError(t, err)
	want := append(header, out...)
	have, err := os.ReadFile(filepath.Join(suite.root, "manifests", "install.yaml"))
	require.NoError(t, err)
	if !bytes.Equal(want, have) {
		w, h := strings.Split(string(want), "\n"), strings.Split(string(have), "\n")
		line := 0
		for line < len(w) && line < len(h) && w[line] == h[line] {
			line++
		}
		get := func(s []string) string {
			if line < len(s) {
				return s[line]
			}
			return "<end of file>"
		}
		t.Fatalf("manifests/install.yaml is stale: run `make manifests`.\nfirst difference at line %d:\n  file:     %q\n  rendered: %q", line+1, get(h), get(w))
	}

	// What kubectl apply gets: the Namespace first, then the chart, every
	// namespaced object in that namespace.
	m := parseManifest(t, have)
	require.Equal(t, "Namespace", m.objs[0].GetKind())
	assert.Equal(t, "airflow-pod-deadline", m.objs[0].GetName())
	assert.Equal(t, "restricted", m.objs[0].GetLabels()["pod-security.kubernetes.io/enforce"])
	for _, u := range m.objs[1:] {
		switch u.GetKind() {
		case "ClusterRole", "ClusterRoleBinding", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration":
		default:
			assert.Equal(t, "airflow-pod-deadline", u.GetNamespace(), "%s/%s", u.GetKind(), u.GetName())
		}
	}
	args, _ := m.args(t)
	assert.Equal(t, "self-managed", args["cert-mode"])
}

// TestChartHelmUpgradeKeepsSelfManagedCA installs the chart for real with
// helm into the API server (self-managed mode), plays the binary's part
// (fills the Secret, injects the caBundle), and shows that `helm upgrade`,
// even with --force (replace), keeps both, and what `helm uninstall` removes.
// Its annotation prefix is one no test pod carries, so its webhook
// configurations (whose Service has no pods here) never intercept anything.
func TestChartHelmUpgradeKeepsSelfManagedCA(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	const release = "apd-upgrade"
	const fullname = "apd-upgrade-airflow-pod-deadline"
	base := []string{"--namespace", ns, "--set", "annotationPrefix=upgrade-test.invalid"}

	out, err := runHelm(t, append([]string{"install", release, chartPath}, base...)...)
	require.NoError(t, err)
	uninstalled := false
	t.Cleanup(func() {
		if !uninstalled {
			_, _ = runHelm(t, "uninstall", release, "--namespace", ns)
		}
	})
	// NOTES.txt: the Airflow template reaches the user verbatim.
	assert.Contains(t, out, `"upgrade-test.invalid/execution-deadline":`)
	assert.Contains(t, out, `"{{ (ti.start_date + task.execution_timeout).isoformat() }}"`)
	assert.Contains(t, out, "kubectl get events -A --field-selector reason=ExecutionDeadlineExceeded")

	secretKey := client.ObjectKey{Namespace: ns, Name: fullname + "-tls"}
	secret := &corev1.Secret{}
	require.NoError(t, suite.client.Get(ctx, secretKey, secret))
	assert.Empty(t, secret.Data, "created empty; the binary fills it")

	// The binary's part: a CA and serving certificate in the Secret, the CA
	// in both caBundles.
	now := time.Now()
	ca, err := certs.NewCA("apd-upgrade-ca", now, time.Hour)
	require.NoError(t, err)
	serving, err := ca.IssueServing([]string{fullname + "." + ns + ".svc"}, nil, now, time.Hour)
	require.NoError(t, err)
	secret.Data = map[string][]byte{"ca.crt": ca.CertPEM, "ca.key": ca.KeyPEM, "tls.crt": serving.CertPEM, "tls.key": serving.KeyPEM}
	require.NoError(t, suite.client.Update(ctx, secret))
	mutKey := client.ObjectKey{Name: fullname}
	mut := &admissionregistrationv1.MutatingWebhookConfiguration{}
	require.NoError(t, suite.client.Get(ctx, mutKey, mut))
	mut.Webhooks[0].ClientConfig.CABundle = ca.CertPEM
	require.NoError(t, suite.client.Update(ctx, mut))
	val := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	require.NoError(t, suite.client.Get(ctx, mutKey, val))
	for i := range val.Webhooks {
		val.Webhooks[i].ClientConfig.CABundle = ca.CertPEM
	}
	require.NoError(t, suite.client.Update(ctx, val))
	want := secret.Data

	for _, upgrade := range []struct {
		name  string
		extra []string
	}{
		{"helm upgrade", []string{"--set", "logLevel=debug"}},
		{"helm upgrade --force", []string{"--set", "logLevel=error", "--force"}},
	} {
		_, err := runHelm(t, append(append([]string{"upgrade", release, chartPath}, base...), upgrade.extra...)...)
		require.NoError(t, err, upgrade.name)
		dep := &appsv1.Deployment{}
		require.NoError(t, suite.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: fullname}, dep))
		level := strings.TrimPrefix(upgrade.extra[1], "logLevel=")
		assert.Contains(t, dep.Spec.Template.Spec.Containers[0].Args, "--zap-log-level="+level, "%s applied", upgrade.name)

		got := &corev1.Secret{}
		require.NoError(t, suite.client.Get(ctx, secretKey, got))
		assert.Equal(t, want, got.Data, "%s keeps the CA and serving certificate", upgrade.name)
		require.NoError(t, suite.client.Get(ctx, mutKey, mut))
		require.NoError(t, suite.client.Get(ctx, mutKey, val))
		assert.Equal(t, ca.CertPEM, mut.Webhooks[0].ClientConfig.CABundle, "%s keeps the mutating caBundle", upgrade.name)
		for _, w := range val.Webhooks {
			assert.Equal(t, ca.CertPEM, w.ClientConfig.CABundle, "%s keeps the validating caBundle of %s", upgrade.name, w.Name)
		}
	}

	// What the rendered caBundle is made of: the Secret's ca.crt, looked up.
	rendered, err := runHelm(t, append([]string{"template", release, chartPath, "--dry-run=server", "--show-only", "templates/webhooks.yaml"}, base...)...)
	require.NoError(t, err)
	assert.Contains(t, rendered, "caBundle: "+base64.StdEncoding.EncodeToString(ca.CertPEM))

	// helm uninstall removes everything it installed, the Secret (and its CA
	// key) included; the namespace and helm's own release Secrets aside,
	// nothing is left.
	_, err = runHelm(t, "uninstall", release, "--namespace", ns)
	require.NoError(t, err)
	uninstalled = true
	assert.True(t, apierrors.IsNotFound(suite.client.Get(ctx, secretKey, &corev1.Secret{})), "Secret removed")
	assert.True(t, apierrors.IsNotFound(suite.client.Get(ctx, mutKey, &admissionregistrationv1.MutatingWebhookConfiguration{})))
	assert.True(t, apierrors.IsNotFound(suite.client.Get(ctx, mutKey, &admissionregistrationv1.ValidatingWebhookConfiguration{})))
	assert.True(t, apierrors.IsNotFound(suite.client.Get(ctx, client.ObjectKey{Name: fullname}, &rbacv1.ClusterRole{})))
	left := &corev1.SecretList{}
	require.NoError(t, suite.client.List(ctx, left, client.InNamespace(ns)))
	var names []string
	for _, s := range left.Items {
		names = append(names, s.Name)
	}
	sort.Strings(names)
	assert.Empty(t, names, "no Secret left behind")
}

// TestChartDocsListEveryValue keeps docs/install.md's values table complete:
// every value the schema declares (down to free-form objects such as
// resources) has a row there, itself or through its parent (issuerRef), and
// every row names a value the schema declares.
func TestChartDocsListEveryValue(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(suite.root, chartPath, "values.schema.json"))
	require.NoError(t, err)
	var root map[string]any
	require.NoError(t, json.Unmarshal(b, &root))
	known := map[string]bool{}
	var leaves []string
	var walk func(prefix string, s map[string]any)
	walk = func(prefix string, s map[string]any) {
		known[prefix] = true
		props, ok := s["properties"].(map[string]any)
		if !ok || s["additionalProperties"] != false || len(props) == 0 {
			leaves = append(leaves, prefix)
			return
		}
		for name, sub := range props {
			p := name
			if prefix != "" {
				p = prefix + "." + name
			}
			walk(p, sub.(map[string]any))
		}
	}
	walk("", root)

	docs, err := os.ReadFile(filepath.Join(suite.root, "docs", "install.md"))
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(docs), "\n## Values\n")
	require.True(t, ok, "docs/install.md has a ## Values section")
	section, _, _ = strings.Cut(section, "\n## ")
	rows := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([^`]+)` \\|").FindAllStringSubmatch(section, -1) {
		rows[m[1]] = true
		assert.True(t, known[m[1]], "docs/install.md documents %s, which values.schema.json does not declare", m[1])
	}
	sort.Strings(leaves)
	for _, p := range leaves {
		if p == "global" {
			continue // for umbrella charts; nothing reads it
		}
		documented := false
		for q := p; q != "" && !documented; {
			documented = rows[q]
			i := strings.LastIndex(q, ".")
			if i < 0 {
				break
			}
			q = q[:i]
		}
		assert.True(t, documented, "docs/install.md's values table lacks %s", p)
	}
}
