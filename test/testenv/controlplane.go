package testenv

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// ControlPlane is a running etcd + kube-apiserver with an admin identity.
type ControlPlane struct {
	Env    *envtest.Environment
	Config *rest.Config
	Client client.Client
	// Kubeconfig is an admin kubeconfig file for processes and kubectl.
	Kubeconfig string
}

// Options tune StartControlPlane.
type Options struct {
	// Dir receives the admin kubeconfig, and etcd's data and
	// kube-apiserver's certificates when DataInDir is set.
	Dir string
	// DataInDir keeps etcd's data and the API server's certificates under
	// Dir instead of envtest's own temporary directories.
	DataInDir bool
	// Log receives etcd's and kube-apiserver's output (nil: discarded).
	Log io.Writer
	// StopTimeout bounds how long Stop waits for each process after SIGTERM
	// before killing it (0: envtest's default).
	StopTimeout time.Duration
	// APIServerFlags are extra kube-apiserver flags ("name=value").
	APIServerFlags []string
}

// StartControlPlane starts etcd and kube-apiserver from binDir (exactly
// those binaries: KUBEBUILDER_ASSETS cannot swap in others) and writes an
// admin kubeconfig. There is no scheduler, controller-manager or kubelet:
// pods are stored and never run (StartCluster adds them).
func StartControlPlane(binDir string, o Options) (*ControlPlane, error) {
	for _, b := range []string{"kube-apiserver", "etcd", "kubectl"} {
		if _, err := os.Stat(filepath.Join(binDir, b)); err != nil {
			return nil, fmt.Errorf("%s missing in %s: run `make bin-tools`", b, binDir)
		}
	}
	etcd := &envtest.Etcd{Path: filepath.Join(binDir, "etcd"), Out: o.Log, Err: o.Log}
	apiServer := &envtest.APIServer{Path: filepath.Join(binDir, "kube-apiserver"), Out: o.Log, Err: o.Log}
	for _, f := range o.APIServerFlags {
		name, value, _ := strings.Cut(f, "=")
		apiServer.Configure().Set(name, value)
	}
	if o.DataInDir {
		etcd.DataDir = filepath.Join(o.Dir, "etcd")
		apiServer.CertDir = filepath.Join(o.Dir, "kube-apiserver")
		for _, d := range []string{etcd.DataDir, apiServer.CertDir} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				return nil, err
			}
		}
	}
	env := &envtest.Environment{
		// Never a real cluster (USE_EXISTING_CLUSTER=true): callers create pods.
		UseExistingCluster:       ptr.To(false),
		BinaryAssetsDirectory:    binDir,
		ControlPlaneStartTimeout: time.Minute, // a busy machine can be slow the first time
		ControlPlaneStopTimeout:  o.StopTimeout,
		ControlPlane: envtest.ControlPlane{
			Etcd: etcd, APIServer: apiServer, KubectlPath: filepath.Join(binDir, "kubectl"),
		},
	}
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop() // a start that failed half-way may have left etcd running
		return nil, fmt.Errorf("starting kube-apiserver and etcd: %w", err)
	}
	cp := &ControlPlane{Env: env, Config: cfg}
	if err := cp.init(o.Dir); err != nil {
		_ = env.Stop()
		return nil, err
	}
	return cp, nil
}

func (cp *ControlPlane) init(dir string) error {
	var err error
	if cp.Client, err = client.New(cp.Config, client.Options{Scheme: scheme.Scheme}); err != nil {
		return err
	}
	admin, err := cp.Env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	kc, err := admin.KubeConfig()
	if err != nil {
		return err
	}
	cp.Kubeconfig = filepath.Join(dir, "kubeconfig")
	return os.WriteFile(cp.Kubeconfig, kc, 0o600)
}

// Stop stops kube-apiserver and etcd and removes their data.
func (cp *ControlPlane) Stop() error {
	return cp.Env.Stop()
}
