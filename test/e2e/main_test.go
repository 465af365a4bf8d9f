package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
)

// suite is what every cell shares: the repository and the binary under test.
var suite struct {
	root   string // repository root
	tmp    string
	binary string // airflow-pod-deadline built for this run
}

func TestMain(m *testing.M) {
	logf.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	if os.Getenv("APD_E2E_AIRFLOW") != "1" {
		fmt.Println("e2e: skipped (set APD_E2E_AIRFLOW=1 to run real Airflow; make airflow-venvs first)")
		return m.Run(), nil // the tests skip themselves
	}
	wd, err := os.Getwd()
	if err != nil {
		return 0, err
	}
	suite.root = filepath.Dir(filepath.Dir(wd))
	if suite.tmp, err = os.MkdirTemp("", "apd-e2e-"); err != nil {
		return 0, err
	}
	if os.Getenv("APD_E2E_KEEP") == "" {
		defer os.RemoveAll(suite.tmp)
	} else {
		fmt.Println("e2e: keeping", suite.tmp)
	}
	suite.binary = filepath.Join(suite.tmp, "airflow-pod-deadline")
	if err := testenv.BuildBinary(suite.root, suite.binary); err != nil {
		return 0, err
	}
	return m.Run(), nil
}
