package main

import (
	"errors"
	"net"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/certs"
)

// serviceAccountNamespace is where Kubernetes mounts the pod's namespace.
const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// newRotator builds the self-managed certificate rotator.
func newRotator(cfg *rest.Config, scheme *runtime.Scheme, opts *options) (*certs.Rotator, error) {
	ns, err := certSecretNamespace(opts.certSecretNS)
	if err != nil {
		return nil, err
	}
	// Uncached: the rotator reads its three objects by name, which is all
	// the chart's RBAC allows; a cache would list and watch them all.
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	dnsNames, ips := splitNames(opts.certDNSNames)
	return &certs.Rotator{
		Client:        c,
		Secret:        types.NamespacedName{Namespace: ns, Name: opts.certSecretName},
		WebhookConfig: opts.webhookConfigName,
		DNSNames:      dnsNames,
		IPs:           ips,
		CAValidity:    opts.caValidity,
		CertValidity:  opts.certValidity,
		RenewBefore:   opts.certRenewBefore,
		CheckInterval: opts.certCheckInterval,
		Clock:         clock.RealClock{},
	}, nil
}

func certSecretNamespace(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns, nil
	}
	if b, err := os.ReadFile(serviceAccountNamespace); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	return "", errors.New("--cert-secret-namespace: not set, and neither $POD_NAMESPACE nor the in-cluster namespace is available")
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(list string) []string {
	var out []string
	for _, n := range strings.Split(list, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// splitNames splits --cert-dns-names into DNS names and IP addresses.
func splitNames(list string) (dnsNames []string, ips []net.IP) {
	for _, n := range splitList(list) {
		switch ip := net.ParseIP(n); {
		case ip != nil:
			ips = append(ips, ip)
		default:
			dnsNames = append(dnsNames, n)
		}
	}
	return dnsNames, ips
}
