# airflow-pod-deadline. `make test` needs nothing but Go and make: it builds the
# pinned Kubernetes binaries into bin/ when they are missing (about 30
# minutes cold on 2 cores), then runs every test.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
GO ?= go
BINARY := bin/airflow-pod-deadline
# Build flags shared with the Dockerfile and release/build-image: static,
# reproducible, stamped with the release version (set below, hence "=").
VERSION_PKG := github.com/airflow-pod-deadline/airflow-pod-deadline/version
BUILD_FLAGS = -trimpath -buildvcs=false -ldflags "-s -w -X $(VERSION_PKG).version=$(VERSION) -X $(VERSION_PKG).commit=$(REVISION)"
FUZZTIME ?= 30s
# Extra flags for `go test -fuzz`, e.g. FUZZFLAGS=-parallel=1 to leave a core free.
FUZZFLAGS ?=
FUZZ ?= ^Fuzz
FUZZMINIMIZE ?= 5s

.PHONY: all build bin-tools airflow-venvs airflow-locks test lint fuzz bench faults clean

all: build

build:
	CGO_ENABLED=0 $(GO) build $(BUILD_FLAGS) -o $(BINARY) ./cmd/airflow-pod-deadline

## bin-tools: kube-apiserver, etcd, kubectl, helm, kube-scheduler,
## kube-controller-manager and hollow-node (the kubelet over a fake runtime)
## from the Go module proxy (test/tools).
bin-tools:
	./test/tools/build.sh

## airflow-venvs: Airflow + cncf-kubernetes virtualenvs in bin/venvs/ from PyPI,
## installed from the lock files in test/e2e/airflow/locks (about 70s cold, 3s warm).
airflow-venvs:
	./test/e2e/airflow/venvs.sh

## dist: the Airflow policy package (integrations/airflow) as a wheel and an sdist in dist/,
## reproducible (pinned hatchling, SOURCE_DATE_EPOCH: the last commit touching
## integrations/airflow unless set), checked by `twine check --strict` (pinned, bin/twine).
## The Airflow venvs of make test install this same wheel (test/e2e/airflow/venvs.sh).
.PHONY: dist
dist:
	./test/e2e/airflow/venvs.sh dist
	./test/e2e/airflow/venvs.sh check-dist

## airflow-locks: re-resolve test/e2e/airflow/requirements/*.in into the lock files.
airflow-locks:
	./test/e2e/airflow/venvs.sh lock

## e2e-airflow: real Airflow on a real kube-apiserver, with and without
## airflow-pod-deadline (test/e2e; minutes per cell). E2E_VENVS="name ..." replaces
## the default venvs, E2E_RUN picks the tests (go test -run).
E2E_VENVS ?=
E2E_RUN ?= .
.PHONY: e2e-airflow
e2e-airflow: bin-tools airflow-venvs
	APD_E2E_AIRFLOW=1 APD_E2E_VENVS="$(E2E_VENVS)" $(GO) test -count=1 -v -timeout 60m -run '$(E2E_RUN)' ./test/e2e/ 2>&1 | grep -v '^{'

## e2e: the whole matrix of docs/airflow.md (rows 1-7 and the try check's rows, without
## and with us, then rows 1-6 with the try check on too, in every venv; E2E_PARALLEL
## venvs at once), then e2e-table.
## E2E_VENVS="name ..." runs some venvs only (their results are replaced, the rest kept);
## E2E_CELLS (a go test -run pattern under TestMatrix, e.g. 'TestMatrix/.*/.*/triggerer-down/row5')
## reruns some cells and keeps every other result.
E2E_PARALLEL ?= 2
E2E_CELLS ?=
.PHONY: e2e e2e-table
e2e: bin-tools airflow-venvs
	status=0; APD_E2E_AIRFLOW=1 APD_E2E_VENVS="$(E2E_VENVS)" APD_E2E_PARALLEL=$(E2E_PARALLEL) \
	  APD_E2E_RESULTS=$(CURDIR)/test/e2e/results APD_E2E_RESULTS_KEEP=$(if $(E2E_CELLS),1,0) \
	  $(GO) test -count=1 -v -parallel 32 -timeout 180m -run '$(if $(E2E_CELLS),$(E2E_CELLS),^(TestMatrix|TestTryCheckMatrix)$$)' \
	  ./test/e2e/ 2>&1 | grep -v '^{' | tee bin/e2e$(if $(E2E_CELLS),-cells).log || status=$$?; \
	$(MAKE) e2e-table; exit $$status

## e2e-table: rewrite the matrix in docs/airflow.md from test/e2e/results.
e2e-table:
	$(GO) run ./test/e2e/matrixtable -results test/e2e/results -doc docs/airflow.md

## test: everything CI runs.
test: bin-tools airflow-venvs lint
	$(GO) -C test/tools test -count=1 ./hollownode/runtime/
	$(GO) test -race -count=1 ./...
	./integrations/airflow/test.sh
	APD_E2E_AIRFLOW=1 $(GO) test -count=1 -timeout 40m -run '^(TestRows1And2|TestTryCheckRows)$$' ./test/e2e/ 2>&1 | grep -v '^{'
	APD_E2E_AIRFLOW=1 $(GO) test -count=1 -timeout 15m -run '^TestToy$$' ./test/perf/trycheck/

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './bin/*')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) mod tidy -diff

## fuzz: each native fuzz target matching FUZZ for FUZZTIME
## (make fuzz FUZZTIME=10m). Minimizing each new coverage input is capped at
## FUZZMINIMIZE: the instrumented admission handler is slow enough that the
## default 60s cap leaves the fuzzer minimizing ("0/sec") most of the time.
fuzz:
	@for pkg in ./deadline/ ./webhook/ ./sweeper/ ./airflowapi/; do \
	  for target in $$($(GO) test -list '$(FUZZ)' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$target ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) $(FUZZFLAGS) $$pkg; \
	  done; \
	done

## bench: the benchmarks whose figures docs/performance.md reports: the
## handler microbenchmarks, then the webhook server alone, admission through
## a real kube-apiserver, the sweeper at scale, pods stopped by real
## kubelets on 10 hollow nodes, and the try check against a real Airflow
## api-server (about 25 minutes).
bench: bin-tools airflow-venvs
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./webhook/
	$(GO) run ./test/perf/webhookserver -duration 10s -rounds 3
	$(GO) run ./test/perf/admission -rounds 8 -floor
	$(GO) run ./test/perf/sweeper -pods 10000 -spread 60s -overdue 5000
	$(GO) run ./test/perf/kubelet -nodes 10 -pods 600 -unscheduled 60
	$(GO) run ./test/perf/trycheck $(TRYCHECK_BENCH)

## bench-trycheck: the try check's cost at scale alone (the last step of make
## bench): 5,000 tracked pods over 500 DAG runs against a real Airflow 3.3.2
## api-server, 5 polls (about 5 minutes).
TRYCHECK_BENCH := -runs 500 -tasks 10 -polls 5
.PHONY: bench-trycheck
bench-trycheck: bin-tools airflow-venvs
	$(GO) run ./test/perf/trycheck $(TRYCHECK_BENCH)

## perf-smoke: each program of make bench at toy size (TestToy in test/perf/*:
## a few pods, one round, seconds of load); make test runs them too, in go test ./...
## (test/perf/trycheck's needs an Airflow venv: APD_E2E_AIRFLOW=1, make test's Airflow step)
.PHONY: perf-smoke
perf-smoke: bin-tools
	$(GO) test -count=1 -run '^TestToy$$' ./test/perf/...

## faults: the fault tests of docs/reliability.md at five times the load
## `make test` runs them with.
faults: bin-tools
	APD_FAULT_SCALE=5 $(GO) test -count=1 -v -run 'TestFault|TestSelfManagedRotation' ./test/controlplane/ 2>&1 | grep -v '^{'

clean:
	rm -f $(BINARY)

## manifests: manifests/install.yaml, the Helm chart rendered for `kubectl apply -f`
## (default values: self-managed TLS, release and namespace airflow-pod-deadline).
.PHONY: manifests image chart chart-push release-image-ref release-version
CHART := manifests/chart/airflow-pod-deadline
# One place for the release version: the chart's appVersion (its version is
# kept equal; a test checks). The default image of the chart is
# $(RELEASE_IMAGE), which is what the release workflow pushes.
VERSION := $(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}/\1/p' $(CHART)/Chart.yaml)
IMAGE_REPO := $(shell sed -n '/^image:/,/^[^ ]/s/^  repository: *//p' $(CHART)/values.yaml)
RELEASE_IMAGE := $(IMAGE_REPO):$(VERSION)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
IMAGE ?=
# Where `make chart-push` puts the chart (helm push appends the chart name).
CHART_REPO ?= oci://ghcr.io/airflow-pod-deadline/charts

## release-tools: actionlint and promtool from the Go module proxy (test/tools/release).
.PHONY: release-tools
release-tools:
	./test/tools/release/build.sh

# test/release runs them: a rule of its own adds the prerequisite to make test.
test: release-tools

## release-image-ref: print the image reference the release publishes and the chart defaults to.
release-image-ref:
	@echo $(RELEASE_IMAGE)

## release-version: print the release version (Chart.yaml appVersion).
release-version:
	@echo $(VERSION)

## chart: package the chart as dist/airflow-pod-deadline-$(VERSION).tgz.
chart:
	./test/tools/build.sh helm
	bin/helm package $(CHART) --destination dist

## chart-push: push the packaged chart to CHART_REPO (an oci:// reference;
## credentials from `helm registry login`).
chart-push: chart
	bin/helm push dist/airflow-pod-deadline-$(VERSION).tgz $(CHART_REPO)
manifests:
	./test/tools/build.sh helm
	{ cat manifests/chart/install-namespace.yaml; \
	  bin/helm template airflow-pod-deadline $(CHART) --namespace airflow-pod-deadline; } > manifests/install.yaml.tmp
	mv manifests/install.yaml.tmp manifests/install.yaml

## image: the release image for linux/amd64 and linux/arm64, without a
## container engine (release/build-image, go-containerregistry): static binary,
## uid 65532, no shell, OCI labels, SPDX SBOM, reproducible digest.
## IMAGE=registry/repo:tag pushes it (credentials: $$DOCKER_CONFIG/config.json);
## without IMAGE it is written to dist/image (OCI layout) and dist/image.tar.
image:
	$(GO) run ./release/build-image -version $(VERSION) -revision $(REVISION) \
	  -source-date-epoch $(SOURCE_DATE_EPOCH) -digest-file dist/image.digest \
	  $(if $(IMAGE),-push $(IMAGE),-out dist/image -archive dist/image.tar -ref $(RELEASE_IMAGE))

## demo: the whole story in ~35 s once built (2-vCPU VM), on a local cluster whose pods run
## (hollow nodes) with the real binary (test/demo): admission, refusals, the
## kubelet stopping a pod at its deadline, the sweeper, audit.
.PHONY: demo cluster
demo: bin-tools build
	$(GO) build -o bin/airflow-pod-deadline-demo ./test/demo
	./bin/airflow-pod-deadline-demo

## demo-airflow: make demo's cluster plus real Airflow 3.3.2 (the venv DEMO_VENV of the
## locks, LocalExecutor, SQLite, the policy installed from the wheel): the upstream
## reproduction DAG once without and once with airflow-pod-deadline, told through the
## task (test/demoairflow).
DEMO_VENV ?= af3.3.2-k8s10.17.1
.PHONY: demo-airflow
demo-airflow: bin-tools build
	./test/e2e/airflow/venvs.sh $(DEMO_VENV)
	$(GO) build -o bin/airflow-pod-deadline-demo-airflow ./test/demoairflow
	./bin/airflow-pod-deadline-demo-airflow -venv $(DEMO_VENV)

## cluster: the local test cluster (etcd, kube-apiserver, kube-scheduler,
## kube-controller-manager, NODES hollow nodes; all on 127.0.0.1) until
## Ctrl-C, for trying things by hand with bin/kubectl.
NODES ?= 2
cluster: bin-tools
	$(GO) run ./test/cluster -nodes $(NODES)
