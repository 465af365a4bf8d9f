// Command webhookserver measures the webhook server alone: AdmissionReviews
// of a realistic KPO pod over TLS (HTTP/1.1 keep-alive, as kube-apiserver
// calls it) from a bounded load generator, against airflow-pod-deadline's
// mutating webhook and, in the same run, against controller-runtime's webhook
// server with a no-op handler (./floor): the framework's floor. The server
// runs with GOMAXPROCS=1 pinned to CPU 0 (the generator pinned to CPU 1),
// then with GOMAXPROCS=2 on both CPUs, sharing them with the generator.
//
// With -baseline, a second airflow-pod-deadline built from another source tree
// (an earlier revision: git archive REV | tar -x -C DIR) is measured in the
// same rounds, for a before/after in one run.
//
//	go run ./test/perf/webhookserver -duration 10s -rounds 3
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	var cfg config
	flag.StringVar(&cfg.root, "root", ".", "repository root")
	flag.StringVar(&cfg.baseline, "baseline", "", "source tree of an earlier revision whose binary is measured too")
	flag.DurationVar(&cfg.duration, "duration", 10*1e9, "load per measurement")
	flag.IntVar(&cfg.rounds, "rounds", 3, "rounds; each measures both servers at both CPU counts")
	flag.IntVar(&cfg.conns, "conns", 8, "concurrent connections of the load generator")
	gen := flag.Bool("generate", false, "internal: run as the load generator")
	flag.StringVar(&cfg.url, "url", "", "internal: generator target")
	flag.StringVar(&cfg.ca, "ca", "", "internal: generator CA file")
	flag.StringVar(&cfg.body, "body", "", "internal: generator request body file")
	flag.Parse()
	var err error
	if *gen {
		err = generate(cfg)
	} else {
		cfg.root, err = filepath.Abs(cfg.root)
		if err == nil {
			err = run(cfg)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "webhookserver bench:", err)
		os.Exit(1)
	}
}
