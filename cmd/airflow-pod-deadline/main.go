// Command airflow-pod-deadline runs the admission webhooks (every replica) and
// the sweeper (the elected leader) that enforce Airflow's execution_timeout on
// pods. This file only wires flags into a controller-runtime manager.
package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/certs"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/webhook"
)

// leaderElectionID names the Lease the replicas compete for.
const leaderElectionID = "airflow-pod-deadline-sweeper"

func main() {
	showVersion := versionFlag(flag.CommandLine)
	opts, err := parseOptions(flag.CommandLine, os.Args[1:])
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "airflow-pod-deadline:", err)
		}
		os.Exit(2)
	}
	if *showVersion {
		fmt.Println(buildVersion())
		return
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts.zap)))
	log := ctrl.Log.WithName("setup")
	if err := run(opts); err != nil {
		log.Error(err, "exiting")
		os.Exit(1)
	}
}

func run(opts *options) error {
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = float32(opts.apiQPS), opts.apiBurst
	cfg.UserAgent = "airflow-pod-deadline"

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	var tlsOpts []func(*tls.Config)
	if !opts.enableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	metricsOpts := metricsserver.Options{BindAddress: opts.metricsBindAddress, SecureServing: opts.metricsSecure, TLSOpts: tlsOpts}
	if opts.metricsSecure {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	webhookPort := opts.webhookPort
	if !opts.enableWebhook {
		webhookPort = -1
	}
	webhookOpts := ctrlwebhook.Options{Host: opts.webhookBindAddress, Port: webhookPort, CertDir: opts.certDir, TLSOpts: slices.Clone(tlsOpts)}
	var rotator *certs.Rotator
	if opts.enableWebhook && opts.certMode == certModeSelfManaged {
		if rotator, err = newRotator(cfg, scheme, opts); err != nil {
			return err
		}
		// Served from memory: no certificate files, no --cert-dir watch.
		webhookOpts.TLSOpts = append(webhookOpts.TLSOpts, func(c *tls.Config) { c.GetCertificate = rotator.GetCertificate })
	}
	mgr, err := ctrl.NewManager(cfg, manager.Options{
		Scheme:                        scheme,
		Metrics:                       metricsOpts,
		WebhookServer:                 ctrlwebhook.NewServer(webhookOpts),
		HealthProbeBindAddress:        opts.probeBindAddress,
		PprofBindAddress:              opts.pprofBindAddress,
		LeaderElection:                opts.leaderElect,
		LeaderElectionID:              leaderElectionID,
		LeaderElectionNamespace:       opts.leaderElectionNS,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &opts.leaseDuration,
		RenewDeadline:                 &opts.renewDeadline,
		RetryPeriod:                   &opts.retryPeriod,
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}

	admissionCfg := webhook.Config{Keys: deadline.NewKeys(opts.annotationPrefix), Tolerance: opts.tolerance}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if opts.enableWebhook {
		server := mgr.GetWebhookServer()
		if opts.certMode == certModeFiles {
			// Self-managed mode reports from the Rotator; here, read the files.
			if err := mgr.Add(&certs.FileExpiry{Dir: opts.certDir, Clock: clock.RealClock{}}); err != nil {
				return err
			}
		}
		if rotator != nil {
			if err := mgr.Add(rotator); err != nil {
				return err
			}
		}
		server.Register(webhook.MutatePath, webhook.NewMutatingWebhook(admissionCfg, clock.RealClock{}))
		server.Register(webhook.ValidatePath, webhook.NewValidatingWebhook(admissionCfg, clock.RealClock{}))
		// Ready only once the server answers TLS with a loaded certificate.
		if err := mgr.AddReadyzCheck("webhook", server.StartedChecker()); err != nil {
			return err
		}
	} else if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if opts.enableSweeper {
		if err := setupSweeper(mgr, opts, admissionCfg.Keys); err != nil {
			return err
		}
	}
	return mgr.Start(ctrl.SetupSignalHandler())
}
