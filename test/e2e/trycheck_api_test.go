package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/airflowapi"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/e2e/airflowenv"
)

// apiDAG has five tasks that need no worker (EmptyOperator is finished by
// the scheduler itself), so a run's task instances reach success fast.
const apiDAG = `
import datetime
try:
    from airflow.sdk import DAG
except ImportError:
    from airflow import DAG
try:
    from airflow.providers.standard.operators.empty import EmptyOperator
except ImportError:
    from airflow.operators.empty import EmptyOperator

with DAG("apd_api", schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False):
    for i in range(5):
        EmptyOperator(task_id=f"t{i}")

# Paused: a triggered run's task instances stay without a state (a live try).
with DAG("apd_api_live", schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False,
         is_paused_upon_creation=True):
    EmptyOperator(task_id="t0")
`

var (
	apiReader = airflowenv.APIUser{Name: "apd-reader", Password: "reader-pw"}
	apiAdmin  = airflowenv.APIUser{Name: "apd-admin", Password: "admin-pw"}
)

// apiAirflow starts Airflow from venv with its public API up (users
// apiReader, apiAdmin) over dagsDir, and returns it with the API base URL.
func apiAirflow(t *testing.T, venv, dagsDir, kubeconfig string) (*airflowenv.Airflow, string) {
	t.Helper()
	home := t.TempDir()
	env, err := airflowenv.APIUserEnv(home, apiReader, apiAdmin)
	require.NoError(t, err)
	logf, err := os.Create(filepath.Join(home, "..", "airflowenv.log"))
	require.NoError(t, err)
	t.Cleanup(func() { logf.Close() })
	a, err := airflowenv.Start(context.Background(), airflowenv.Options{
		Venv: filepath.Join(suite.root, "bin", "venvs", venv), Kubeconfig: kubeconfig, DAGsFolder: dagsDir,
		Dir: filepath.Join(home, "airflow"), Env: env, Log: logf,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Stop() })
	url, err := a.StartAPI(context.Background(), apiReader, apiAdmin)
	require.NoError(t, err)
	return a, url
}

func credsDir(t *testing.T, u airflowenv.APIUser) string {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, airflowapi.UsernameFile), []byte(u.Name), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, airflowapi.PasswordFile), []byte(u.Password+"\n"), 0o600))
	return dir
}

// TestTryCheck runs the try check against real Airflow API servers:
// Airflow 3's api-server (v2, JWT) and Airflow 2's webserver (v1, basic
// auth), as a read-only user: the client alone, then the sweeper binary on a
// real kube-apiserver.
func TestTryCheck(t *testing.T) {
	for _, venv := range venvs(t, "af3.3.2-k8s10.25.0", "af2.11.2-k8s10.25.0") {
		t.Run(venv, func(t *testing.T) {
			dags := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dags, "apd_api.py"), []byte(apiDAG), 0o644))
			kubeconfig := filepath.Join(t.TempDir(), "kubeconfig") // never used: no KPO task here
			require.NoError(t, os.WriteFile(kubeconfig, []byte("apiVersion: v1\nkind: Config\n"), 0o600))
			a, url := apiAirflow(t, venv, dags, kubeconfig)
			ctx := context.Background()
			runID, err := a.Trigger(ctx, "apd_api")
			require.NoError(t, err)
			for i := range 5 {
				_, err := a.WaitTaskState(ctx, "apd_api", runID, "t"+string(rune('0'+i)), -1, []string{"success"}, 3*time.Minute, nil)
				require.NoError(t, err)
			}
			liveRun, err := a.Trigger(ctx, "apd_api_live")
			require.NoError(t, err)
			version := airflowapi.V2
			if a.Major < 3 {
				version = airflowapi.V1
			}
			client := func(u airflowenv.APIUser) *airflowapi.Client {
				c, err := airflowapi.New(airflowapi.Config{
					Instance: "test", URL: url, Version: version, CredentialsDir: credsDir(t, u),
					Timeout: 30 * time.Second, PageLimit: 2,
				})
				require.NoError(t, err)
				return c
			}
			c := client(apiReader)

			db, err := a.TaskInstances(ctx, "apd_api", runID)
			require.NoError(t, err)
			require.Len(t, db, 5)
			var keys []airflowapi.TaskKey
			for _, ti := range db {
				keys = append(keys, airflowapi.TaskKey{DagID: ti.DagID, RunID: ti.RunID, TaskID: ti.TaskID, MapIndex: ti.MapIndex})
			}
			missing := airflowapi.TaskKey{DagID: "apd_api", RunID: runID, TaskID: "no_such_task", MapIndex: -1}
			b, err := c.TaskInstances(ctx, append(keys, missing))
			require.NoError(t, err)
			assert.True(t, b.Complete, "every page read")
			assert.Equal(t, 3, b.Calls, "5 task instances at page_limit 2")
			require.Len(t, b.Found, 5)
			for i, ti := range db {
				got := b.Found[keys[i]]
				assert.Equal(t, ti.State, got.State, ti.String())
				assert.Equal(t, ti.TryNumber, got.TryNumber, ti.String())
				// What confirms the Airflow (sweeper.Confirms) and times the
				// handoff: the API's dates are the database's, to the µs.
				assert.True(t, got.StartDate.Equal(ti.Start), "start_date: API %s, database %s", got.StartDate, ti.Start)
				assert.True(t, got.EndDate.Equal(ti.End), "end_date: API %s, database %s", got.EndDate, ti.End)
			}
			assert.NotContains(t, b.Found, missing)

			ok, err := c.DAGExists(ctx, "apd_api")
			require.NoError(t, err)
			assert.True(t, ok)
			ok, err = c.DAGExists(ctx, "no_such_dag")
			require.NoError(t, err)
			assert.False(t, ok)

			_, err = client(airflowenv.APIUser{Name: apiReader.Name, Password: "wrong"}).TaskInstances(ctx, keys)
			require.Error(t, err)
			assert.Equal(t, airflowapi.KindAuth, airflowapi.KindOf(err), err.Error())
			_, err = client(airflowenv.APIUser{Name: "nobody", Password: "x"}).DAGExists(ctx, "apd_api")
			assert.Equal(t, airflowapi.KindAuth, airflowapi.KindOf(err), "an unknown user proves no DAG absent")

			t.Run("sweeper", func(t *testing.T) { trySweeper(t, url, version, runID, liveRun, db) })
		})
	}
}
