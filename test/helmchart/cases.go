package helmchart

import "strings"

// CaseFullname is the fullname of release "apd", as every Case is rendered
// by the tests that go through them.
const CaseFullname = "apd-airflow-pod-deadline"

// Case is one notable combination of values. test/static checks what each
// renders (its checks are keyed by Name); test/controlplane feeds each to the
// binary and to the API server.
type Case struct {
	Name   string
	Values Values
}

// Cases are the combinations every chart test goes through.
func Cases() []Case {
	return []Case{
		{Name: "defaults"},
		{
			Name: "self-managed tuned",
			Values: Values{}.With("certificates.mode", "self-managed").
				With("certificates.selfManaged", map[string]any{"certValidity": "720h", "caValidity": "8760h", "renewBefore": "168h", "checkInterval": "30s"}).
				With("webhook.admissionTolerance", "3s").With("kubeletGrace", "45s").With("logLevel", "debug").
				With("webhook.port", 10250).With("healthProbePort", 9440),
		},
		{Name: "cert-manager", Values: Values{}.With("certificates.mode", "cert-manager")},
		{
			Name: "cert-manager with issuerRef",
			Values: Values{}.With("certificates.mode", "cert-manager").
				With("certificates.certManager.issuerRef", map[string]any{"name": "corp-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}),
		},
		{
			Name: "failurePolicy Ignore and excludeNamespaces",
			Values: Values{}.With("webhook.failurePolicy", "Ignore").With("webhook.timeoutSeconds", 10).
				With("webhook.excludeNamespaces", []any{"airflow-dev", "team-b"}),
		},
		{Name: "custom annotationPrefix", Values: Values{}.With("annotationPrefix", "deadlines.example.com")},
		{Name: "dryRun", Values: Values{}.With("dryRun", true)},
		{Name: "one replica", Values: Values{}.With("replicas", 1)},
		{
			Name: "serviceMonitor",
			Values: Values{}.With("metrics.serviceMonitor", map[string]any{
				"enabled": true, "interval": "15s", "scrapeTimeout": "10s", "labels": map[string]any{"release": "prometheus"},
			}),
		},
		{Name: "metrics.secure with serviceMonitor", Values: Values{}.With("metrics.secure", true).With("metrics.serviceMonitor.enabled", true)},
		{Name: "metrics disabled", Values: Values{}.With("metrics.enabled", false).With("metrics.serviceMonitor.enabled", true)},
		{
			Name: "priorityClassName and scheduling",
			Values: Values{}.With("priorityClassName", "system-cluster-critical").
				With("nodeSelector", map[string]any{"kubernetes.io/os": "linux"}).
				With("tolerations", []any{map[string]any{"key": "dedicated", "operator": "Equal", "value": "platform", "effect": "NoSchedule"}}).
				With("affinity", map[string]any{"nodeAffinity": map[string]any{"requiredDuringSchedulingIgnoredDuringExecution": map[string]any{
					"nodeSelectorTerms": []any{map[string]any{"matchExpressions": []any{map[string]any{"key": "kubernetes.io/arch", "operator": "In", "values": []any{"amd64", "arm64"}}}}},
				}}}).
				With("podAnnotations", map[string]any{"example.com/team": "platform"}).
				With("podLabels", map[string]any{"team": "platform"}).
				With("imagePullSecrets", []any{map[string]any{"name": "registry"}}),
		},
		{
			Name: "sweeper scoped and tuned",
			Values: Values{}.With("sweeper", map[string]any{"namespace": "default", "podLabelSelector": "kubernetes_pod_operator=True", "maxDeletesPerSecond": 5, "workers": 2}).
				With("kubeAPI", map[string]any{"qps": 20.5, "burst": 40}).
				With("extraArgs", []any{"--enable-sweeper=true"}),
		},
		{
			Name:   "image digest",
			Values: Values{}.With("image", map[string]any{"repository": "registry.example.com/apd", "tag": "1.2.3", "digest": "sha256:" + strings.Repeat("ab", 32), "pullPolicy": "Always"}),
		},
	}
}
