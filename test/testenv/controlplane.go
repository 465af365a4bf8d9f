package testenv

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
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

// StartControlPlane starts etcd and kube-apiserver from binDir, keeping their
// data under envtest's temporary directories, and writes an admin kubeconfig
// into dir. apiServerArgs are extra kube-apiserver flags (name → value).
func StartControlPlane(binDir, dir string, apiServerArgs map[string]string) (*ControlPlane, error) {
	for _, b := range []string{"kube-apiserver", "etcd", "kubectl"} {
		if _, err := os.Stat(filepath.Join(binDir, b)); err != nil {
			return nil, fmt.Errorf("%s missing in %s: run `make bin-tools`", b, binDir)
		}
	}
	env := &envtest.Environment{BinaryAssetsDirectory: binDir}
	if len(apiServerArgs) > 0 {
		args := env.ControlPlane.GetAPIServer().Configure()
		for k, v := range apiServerArgs {
			args.Set(k, v)
		}
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting kube-apiserver and etcd: %w", err)
	}
	cp := &ControlPlane{Env: env, Config: cfg}
	if err := cp.init(dir); err != nil {
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
