package main

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/time/rate"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/sweeper"
)

func setupSweeper(mgr ctrl.Manager, opts *options, keys deadline.Keys) error {
	cs, err := kubernetes.NewForConfig(mgr.GetConfig())
	if err != nil {
		return err
	}
	informer, err := sweeper.NewPodInformer(cs, keys, sweeper.Scope{
		Namespace: opts.namespace, LabelSelector: opts.podSelector, ExcludeNamespaces: sweeperExclusions(opts.excludeNamespaces),
	})
	if err != nil {
		return err
	}
	r := &sweeper.Reconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorder(sweeper.ControllerName),
		Config:    sweeper.Config{Keys: keys, KubeletGrace: opts.kubeletGrace},
		DryRun:    opts.dryRun,
		Clock:     clock.RealClock{},
		Deletes:   rate.NewLimiter(rate.Limit(opts.deletesPerSecond), max(1, int(opts.deletesPerSecond))),
	}
	if err := r.SetupWithManager(mgr, informer, opts.workers); err != nil {
		return err
	}
	// One check per Airflow instance, each polling on its own: a slow or
	// failing Airflow does not delay the others, and each judges only the
	// pods stamped with its own instance name.
	var bad []error
	instances := opts.airflow.instances(func(flag, format string, args ...any) {
		bad = append(bad, fmt.Errorf("--%s: %s", flag, fmt.Sprintf(format, args...)))
	})
	if len(bad) > 0 {
		// validate refused these already; never serve a partial list.
		return errors.Join(bad...)
	}
	for _, in := range instances {
		api, err := in.client(opts.airflow.timeout)
		if err != nil {
			return err
		}
		if err := mgr.Add(&sweeper.TryCheck{
			R: r, API: api, Interval: opts.airflow.pollInterval, Synced: informer.HasSynced,
			Config: sweeper.TryConfig{Instance: in.name, Grace: opts.airflow.grace, Handoff: opts.airflow.handoff},
		}); err != nil {
			return err
		}
	}
	return nil
}

// sweeperExclusions are the namespaces the sweeper never enforces in: the
// --exclude-namespaces list, and always kube-system and the binary's own
// namespace ($POD_NAMESPACE, which the chart sets), which the webhooks'
// namespaceSelector never serves either. We act only where we are asked to,
// even when run without the chart's flags.
func sweeperExclusions(list string) []string {
	out := append(splitList(list), "kube-system")
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		out = append(out, ns)
	}
	return out
}
