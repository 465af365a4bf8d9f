// Command floor is controller-runtime's webhook server with a handler that
// allows everything: the framework's own cost, which test/perf/webhookserver
// and test/perf/admission compare airflow-pod-deadline's webhook server
// against. It serves TLS the way the binary does by default (HTTP/1.1, the
// certificates in -cert-dir). With -patch the mutating path instead answers
// every review, without reading it, with the patch and warning our mutating
// webhook returns for test/perf/admission's pod: the API server then applies
// the same patch, and only our decoding and deciding is missing.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	jsonpatch "gomodules.xyz/jsonpatch/v2"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
	apdwebhook "github.com/airflow-pod-deadline/airflow-pod-deadline/webhook"
)

func main() {
	port := flag.Int("port", 9443, "port on 127.0.0.1")
	certDir := flag.String("cert-dir", "", "directory with tls.crt and tls.key")
	patch := flag.Bool("patch", false, "answer the mutating path with our patch for test/perf/admission's pod")
	budget := flag.Duration("budget", time.Hour, "with -patch: the pod's execution timeout")
	from := flag.Int64("from", 7200, "with -patch: the pod's activeDeadlineSeconds")
	flag.Parse()
	server := webhook.NewServer(webhook.Options{
		Host: "127.0.0.1", Port: *port, CertDir: *certDir,
		TLSOpts: []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }},
	})
	noop := admission.HandlerFunc(func(context.Context, admission.Request) admission.Response { return admission.Allowed("") })
	var mutate admission.Handler = noop
	if *patch {
		mutate = samePatch(time.Now().Truncate(time.Second), *budget, *from)
	}
	server.Register("/mutate-v1-pod", &admission.Webhook{Handler: mutate})
	server.Register("/validate-v1-pod", &admission.Webhook{Handler: noop})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := server.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// samePatch answers with the operations and warning our mutating webhook
// gives a pod with execution-timeout budget, activeDeadlineSeconds from and
// an annotations map (test/perf/admission's annotatedPod), admitted at now
// (a whole second: test/perf/admission expects exactly the budget's seconds).
func samePatch(now time.Time, budget time.Duration, from int64) admission.Handler {
	k := deadline.NewKeys(deadline.DefaultPrefix)
	token := func(key string) string { return "/metadata/annotations/" + strings.ReplaceAll(key, "/", "~1") }
	at := now.Add(budget)
	ads := apdwebhook.AdmissionSeconds(at, now)
	stamped := deadline.Format(at.Truncate(time.Millisecond))
	ops := []jsonpatch.JsonPatchOperation{
		jsonpatch.NewOperation("replace", "/spec/activeDeadlineSeconds", ads),
		jsonpatch.NewOperation("add", token(k.Admitted), strconv.FormatInt(ads, 10)),
		jsonpatch.NewOperation("add", token(k.ClampedFrom), strconv.FormatInt(from, 10)),
		jsonpatch.NewOperation("add", token(k.Deadline), stamped),
	}
	warning := fmt.Sprintf("airflow-pod-deadline: activeDeadlineSeconds %d -> %d to fit execution deadline %s", from, ads, stamped)
	return admission.HandlerFunc(func(context.Context, admission.Request) admission.Response {
		return admission.Patched("", ops...).WithWarnings(warning)
	})
}
