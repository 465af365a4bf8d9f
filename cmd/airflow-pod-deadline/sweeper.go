package main

import (
	"golang.org/x/time/rate"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/sweeper"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/webhook"
)

func sweeperCacheOptions(opts *options) (cache.Options, error) {
	return sweeper.CacheOptions(webhook.NewKeys(opts.annotationPrefix), opts.namespace, opts.podSelector)
}

func setupSweeper(mgr ctrl.Manager, opts *options, keys webhook.Keys) error {
	r := &sweeper.Reconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorder(sweeper.ControllerName),
		Config:    sweeper.Config{Keys: keys, KubeletGrace: opts.kubeletGrace},
		DryRun:    opts.dryRun,
		Deletes:   rate.NewLimiter(rate.Limit(opts.deletesPerSecond), max(1, int(opts.deletesPerSecond))),
	}
	return r.SetupWithManager(mgr, opts.workers)
}
