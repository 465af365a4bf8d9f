package static

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/helmchart"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/webhook"
)

// chartChecks say what each of helmchart.Cases() must render, by name;
// check receives the rendering for release "apd" in namespace ns (fullname
// helmchart.CaseFullname).
var chartChecks = map[string]func(t *testing.T, m *helmchart.Manifest, ns string){
	"defaults": checkDefaults,
	"self-managed tuned": func(t *testing.T, m *helmchart.Manifest, ns string) {
		args, _ := m.Args(t)
		assert.Equal(t, "720h", args["cert-validity"])
		assert.Equal(t, "8760h", args["ca-validity"])
		assert.Equal(t, "168h", args["cert-renew-before"])
		assert.Equal(t, "30s", args["cert-check-interval"])
		assert.Equal(t, "3s", args["admission-tolerance"])
		assert.Equal(t, "45s", args["kubelet-grace"])
		assert.Equal(t, "debug", args["zap-log-level"])
		assert.Equal(t, "10250", args["webhook-port"])
		assert.Equal(t, ":9440", args["health-probe-bind-address"])
		c := m.Deployment(t).Spec.Template.Spec.Containers[0]
		assert.Equal(t, int32(10250), containerPort(t, c, "webhook"))
		assert.Equal(t, int32(9440), containerPort(t, c, "probes"))
		svc := helmchart.DecodeAs[corev1.Service](t, m, "Service", helmchart.CaseFullname)
		assert.Equal(t, "webhook", svc.Spec.Ports[0].TargetPort.String(), "the Service follows the named port")
	},
	"cert-manager": checkCertManagerMode,
	"cert-manager with issuerRef": func(t *testing.T, m *helmchart.Manifest, ns string) {
		checkCertManagerMode(t, m, ns)
		assert.Empty(t, m.OfKind("Issuer"), "a given issuer replaces the chart's CA chain")
		require.Len(t, m.OfKind("Certificate"), 1, "only the serving certificate")
	},
	"failurePolicy Ignore and excludeNamespaces": func(t *testing.T, m *helmchart.Manifest, ns string) {
		mut, val := m.WebhookConfigs(t, helmchart.CaseFullname)
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
			assert.Equal(t, []string{"kube-system", ns, "airflow-dev", "team-b"}, helmchart.ExcludedNamespaces(t, w.selector))
		}
		// The sweeper leaves the same namespaces alone.
		args, _ := m.Args(t)
		assert.Equal(t, "kube-system,"+ns+",airflow-dev,team-b", args["exclude-namespaces"])
	},
	"custom annotationPrefix": func(t *testing.T, m *helmchart.Manifest, ns string) {
		args, _ := m.Args(t)
		assert.Equal(t, "deadlines.example.com", args["annotation-prefix"])
		mut, val := m.WebhookConfigs(t, helmchart.CaseFullname)
		for _, cond := range []string{mut.Webhooks[0].MatchConditions[0].Expression, val.Webhooks[0].MatchConditions[0].Expression} {
			assert.Contains(t, cond, "'deadlines.example.com/execution-deadline' in object.metadata.annotations")
			assert.Contains(t, cond, "'deadlines.example.com/execution-timeout' in object.metadata.annotations")
			assert.NotContains(t, cond, deadline.DefaultPrefix)
		}
		assert.Equal(t, deadline.NewKeys("deadlines.example.com").Protected(), protectedKeysOf(t, val.Webhooks[0].MatchConditions[0].Expression))
		assert.Equal(t, "mutate.airflow-pod-deadline.io", mut.Webhooks[0].Name, "webhook names do not follow the prefix")
	},
	"dryRun": func(t *testing.T, m *helmchart.Manifest, ns string) {
		args, _ := m.Args(t)
		assert.Equal(t, "true", args["dry-run"])
	},
	"one replica": func(t *testing.T, m *helmchart.Manifest, ns string) {
		assert.Equal(t, ptr.To[int32](1), m.Deployment(t).Spec.Replicas)
		assert.Empty(t, m.OfKind("PodDisruptionBudget"), "minAvailable 1 with one replica would block node drains")
	},
	"serviceMonitor": func(t *testing.T, m *helmchart.Manifest, ns string) {
		sm := m.Only(t, "ServiceMonitor")
		assert.Equal(t, "monitoring.coreos.com/v1", sm.GetAPIVersion())
		assert.Equal(t, "prometheus", sm.GetLabels()["release"])
		endpoints, _, _ := unstructuredSlice(sm.Object, "spec", "endpoints")
		require.Len(t, endpoints, 1)
		ep := endpoints[0].(map[string]any)
		assert.Equal(t, "metrics", ep["port"])
		assert.Equal(t, "http", ep["scheme"])
		assert.Equal(t, "15s", ep["interval"])
		svc := helmchart.DecodeAs[corev1.Service](t, m, "Service", helmchart.CaseFullname)
		assert.Equal(t, svc.Labels["app.kubernetes.io/instance"], nestedString(t, sm.Object, "spec", "selector", "matchLabels", "app.kubernetes.io/instance"))
		assert.Contains(t, servicePortNames(svc), "metrics")
	},
	"metrics.secure with serviceMonitor": func(t *testing.T, m *helmchart.Manifest, ns string) {
		args, _ := m.Args(t)
		assert.Equal(t, "true", args["metrics-secure"])
		auth := helmchart.DecodeAs[rbacv1.ClusterRole](t, m, "ClusterRole", helmchart.CaseFullname+"-metrics-auth")
		assert.ElementsMatch(t, []rbacv1.PolicyRule{
			{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}},
			{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
		}, auth.Rules)
		binding := helmchart.DecodeAs[rbacv1.ClusterRoleBinding](t, m, "ClusterRoleBinding", helmchart.CaseFullname+"-metrics-auth")
		assert.Equal(t, helmchart.CaseFullname, binding.Subjects[0].Name)
		reader := helmchart.DecodeAs[rbacv1.ClusterRole](t, m, "ClusterRole", helmchart.CaseFullname+"-metrics-reader")
		assert.Equal(t, []string{"/metrics"}, reader.Rules[0].NonResourceURLs)
		endpoints, _, _ := unstructuredSlice(m.Only(t, "ServiceMonitor").Object, "spec", "endpoints")
		assert.Equal(t, "https", endpoints[0].(map[string]any)["scheme"])
	},
	"metrics disabled": func(t *testing.T, m *helmchart.Manifest, ns string) {
		args, _ := m.Args(t)
		assert.Equal(t, "0", args["metrics-bind-address"])
		assert.NotContains(t, args, "metrics-secure")
		assert.Empty(t, m.OfKind("ServiceMonitor"))
		assert.NotContains(t, servicePortNames(helmchart.DecodeAs[corev1.Service](t, m, "Service", helmchart.CaseFullname)), "metrics")
	},
	"priorityClassName and scheduling": func(t *testing.T, m *helmchart.Manifest, ns string) {
		spec := m.Deployment(t).Spec.Template
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
	"sweeper scoped and tuned": func(t *testing.T, m *helmchart.Manifest, ns string) {
		args, list := m.Args(t)
		assert.Equal(t, "default", args["namespace"])
		assert.Equal(t, "kubernetes_pod_operator=True", args["pod-label-selector"])
		assert.Equal(t, "5", args["max-deletes-per-second"])
		assert.Equal(t, "2", args["sweeper-workers"])
		assert.Equal(t, "20.5", args["kube-api-qps"])
		assert.Equal(t, "40", args["kube-api-burst"])
		assert.Equal(t, "--enable-sweeper=true", list[len(list)-1], "extraArgs come last")
		// The pod permissions hold in that namespace only.
		assert.False(t, m.Has("ClusterRoleBinding", helmchart.CaseFullname))
		rb := helmchart.DecodeAs[rbacv1.RoleBinding](t, m, "RoleBinding", helmchart.CaseFullname+"-sweeper")
		assert.Equal(t, "default", rb.Namespace)
		assert.Equal(t, rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: helmchart.CaseFullname}, rb.RoleRef)
		assert.Equal(t, []rbacv1.Subject{{Kind: "ServiceAccount", Name: helmchart.CaseFullname, Namespace: ns}}, rb.Subjects)
	},
	"image digest": func(t *testing.T, m *helmchart.Manifest, ns string) {
		c := m.Deployment(t).Spec.Template.Spec.Containers[0]
		assert.Equal(t, "registry.example.com/apd:1.2.3@sha256:"+strings.Repeat("ab", 32), c.Image)
		assert.Equal(t, corev1.PullAlways, c.ImagePullPolicy)
	},
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

func checkDefaults(t *testing.T, m *helmchart.Manifest, ns string) {
	dep := m.Deployment(t)
	assert.Equal(t, helmchart.CaseFullname, dep.Name)
	assert.Equal(t, ns, dep.Namespace)
	assert.Equal(t, ptr.To[int32](2), dep.Spec.Replicas)
	pod := dep.Spec.Template.Spec
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]
	assert.Equal(t, "ghcr.io/airflow-pod-deadline/airflow-pod-deadline:"+helmchart.AppVersion(t, root), c.Image, "tag defaults to appVersion")

	args, _ := m.Args(t)
	svcDNS := helmchart.CaseFullname + "." + ns + ".svc"
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
		"cert-secret-name":           helmchart.CaseFullname + "-tls",
		"cert-secret-namespace":      ns,
		"cert-dns-names":             svcDNS + "," + svcDNS + ".cluster.local",
		"webhook-configuration-name": helmchart.CaseFullname,
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

	pdb := helmchart.DecodeAs[policyv1.PodDisruptionBudget](t, m, "PodDisruptionBudget", helmchart.CaseFullname)
	assert.Equal(t, intstr.FromInt32(1), *pdb.Spec.MinAvailable)
	assert.Equal(t, dep.Spec.Selector.MatchLabels, pdb.Spec.Selector.MatchLabels)

	svc := helmchart.DecodeAs[corev1.Service](t, m, "Service", helmchart.CaseFullname)
	assert.Equal(t, dep.Spec.Selector.MatchLabels, svc.Spec.Selector)
	assert.Equal(t, int32(443), svc.Spec.Ports[0].Port)
	assert.Equal(t, "webhook", svc.Spec.Ports[0].TargetPort.String())

	mut, val := m.WebhookConfigs(t, helmchart.CaseFullname)
	for _, w := range []struct {
		cc       admissionregistrationv1.WebhookClientConfig
		policy   *admissionregistrationv1.FailurePolicyType
		timeout  *int32
		selector *metav1.LabelSelector
	}{
		{mut.Webhooks[0].ClientConfig, mut.Webhooks[0].FailurePolicy, mut.Webhooks[0].TimeoutSeconds, mut.Webhooks[0].NamespaceSelector},
		{val.Webhooks[0].ClientConfig, val.Webhooks[0].FailurePolicy, val.Webhooks[0].TimeoutSeconds, val.Webhooks[0].NamespaceSelector},
	} {
		assert.Equal(t, helmchart.CaseFullname, w.cc.Service.Name)
		assert.Equal(t, ns, w.cc.Service.Namespace)
		assert.Equal(t, ptr.To[int32](443), w.cc.Service.Port)
		assert.Empty(t, w.cc.CABundle, "no caBundle before the binary injects it")
		assert.Equal(t, admissionregistrationv1.Fail, *w.policy)
		assert.Equal(t, int32(5), *w.timeout)
		assert.Equal(t, []string{"kube-system", ns}, helmchart.ExcludedNamespaces(t, w.selector))
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
	assert.Equal(t, strings.Join(helmchart.ExcludedNamespaces(t, val.Webhooks[0].NamespaceSelector), ","), args["exclude-namespaces"])
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
	secret := helmchart.DecodeAs[corev1.Secret](t, m, "Secret", helmchart.CaseFullname+"-tls")
	assert.Equal(t, corev1.SecretTypeOpaque, secret.Type)
	assert.Empty(t, secret.Data)
	assert.NotContains(t, secret.Annotations, "helm.sh/resource-policy")

	checkRBAC(t, m, ns, true)
	assert.Empty(t, m.OfKind("Certificate"))
	assert.Empty(t, m.OfKind("Issuer"))
	assert.Empty(t, m.OfKind("ServiceMonitor"))
}

// checkRBAC asserts least privilege.
func checkRBAC(t *testing.T, m *helmchart.Manifest, ns string, selfManaged bool) {
	t.Helper()
	sweeper := helmchart.DecodeAs[rbacv1.ClusterRole](t, m, "ClusterRole", helmchart.CaseFullname)
	assert.Equal(t, []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch", "patch", "delete"}},
		{APIGroups: []string{"events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
	}, sweeper.Rules)
	crb := helmchart.DecodeAs[rbacv1.ClusterRoleBinding](t, m, "ClusterRoleBinding", helmchart.CaseFullname)
	assert.Equal(t, rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: helmchart.CaseFullname}, crb.RoleRef)
	assert.Equal(t, []rbacv1.Subject{{Kind: "ServiceAccount", Name: helmchart.CaseFullname, Namespace: ns}}, crb.Subjects)

	role := helmchart.DecodeAs[rbacv1.Role](t, m, "Role", helmchart.CaseFullname)
	assert.Equal(t, ns, role.Namespace)
	want := []rbacv1.PolicyRule{
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, ResourceNames: []string{leaderElectionID(t)}, Verbs: []string{"get", "update"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"create"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
	}
	if selfManaged {
		want = append(want, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{helmchart.CaseFullname + "-tls"}, Verbs: []string{"get", "update", "patch"}})
		webhookCA := helmchart.DecodeAs[rbacv1.ClusterRole](t, m, "ClusterRole", helmchart.CaseFullname+"-webhook-ca")
		assert.Equal(t, []rbacv1.PolicyRule{{
			APIGroups:     []string{"admissionregistration.k8s.io"},
			Resources:     []string{"mutatingwebhookconfigurations", "validatingwebhookconfigurations"},
			ResourceNames: []string{helmchart.CaseFullname},
			Verbs:         []string{"get", "update", "patch"},
		}}, webhookCA.Rules)
		assert.True(t, m.Has("ClusterRoleBinding", helmchart.CaseFullname+"-webhook-ca"))
	} else {
		assert.False(t, m.Has("ClusterRole", helmchart.CaseFullname+"-webhook-ca"))
		assert.False(t, m.Has("ClusterRoleBinding", helmchart.CaseFullname+"-webhook-ca"))
	}
	assert.Equal(t, want, role.Rules)
	// Nothing else anywhere: no wildcard, no secrets beyond the one name.
	for _, u := range append(m.OfKind("ClusterRole"), m.OfKind("Role")...) {
		r := helmchart.DecodeAs[rbacv1.ClusterRole](t, m, u.GetKind(), u.GetName())
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

func checkCertManagerMode(t *testing.T, m *helmchart.Manifest, ns string) {
	args, _ := m.Args(t)
	assert.Equal(t, "files", args["cert-mode"])
	for _, f := range []string{"cert-secret-name", "cert-secret-namespace", "cert-dns-names", "webhook-configuration-name"} {
		assert.NotContains(t, args, f)
	}
	assert.False(t, m.Has("Secret", helmchart.CaseFullname+"-tls"), "cert-manager owns the Secret")
	checkRBAC(t, m, ns, false)
	serving := helmchart.DecodeAs[cmv1.Certificate](t, m, "Certificate", helmchart.CaseFullname+"-serving")
	pod := m.Deployment(t).Spec.Template.Spec
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
	mut, val := m.WebhookConfigs(t, helmchart.CaseFullname)
	for _, a := range []map[string]string{mut.Annotations, val.Annotations} {
		assert.Equal(t, ns+"/"+serving.Name, a["cert-manager.io/inject-ca-from"])
	}
}

// leaderElectionID is the Lease name the binary uses, read from its source:
// the chart's Role names it.
func leaderElectionID(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "cmd", "airflow-pod-deadline", "main.go"))
	require.NoError(t, err)
	match := regexp.MustCompile(`leaderElectionID\s*=\s*"([^"]+)"`).FindSubmatch(b)
	require.NotNil(t, match, "const leaderElectionID not found in cmd/airflow-pod-deadline/main.go; keep the chart's apd.leaseName in step")
	return string(match[1])
}
