package airflowenv

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Options says which Airflow to run, against what.
type Options struct {
	// Venv is the virtualenv (bin/venvs/<name>); its bin/airflow is run.
	Venv string
	// Kubeconfig is the cluster the kubernetes_default connection points at.
	Kubeconfig string
	// DAGsFolder holds the DAG files.
	DAGsFolder string
	// Dir is where AIRFLOW_HOME is created (a temporary directory when empty).
	// It is kept after Stop when set, removed otherwise.
	Dir string
	// Env adds KEY=VALUE entries to every Airflow process's environment,
	// after (and so over) the ones Start sets.
	Env []string
	// HeartbeatTimeout is how long the scheduler waits for a running task's
	// heartbeat before failing it ([scheduler] task_instance_heartbeat_timeout);
	// matrix row 5 (the task process SIGKILLed) waits that long. Default 20s.
	HeartbeatTimeout time.Duration
	// StartTimeout bounds Start (db migrate and every component up). Default 5m.
	StartTimeout time.Duration
	// Log receives progress lines (nil: discarded).
	Log io.Writer
}

func (o *Options) defaults() {
	if o.HeartbeatTimeout == 0 {
		o.HeartbeatTimeout = 20 * time.Second
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 5 * time.Minute
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
}

// environment is the configuration every Airflow process of one home gets.
// Both the Airflow 3 and the Airflow 2 names are set where they differ:
// each version ignores the other's.
func (a *Airflow) environment() ([]string, error) {
	conn, err := json.Marshal(map[string]any{
		"conn_type": "kubernetes",
		// Read as extras by every supported provider (10.17 .. 10.25), which also
		// accept the old "extra__kubernetes__" prefixed names.
		"extra": map[string]any{"kube_config_path": a.opts.Kubeconfig, "in_cluster": false},
	})
	if err != nil {
		return nil, err
	}
	executor := "LocalExecutor"
	if a.Major < 3 {
		// Airflow 2 refuses LocalExecutor on SQLite ("error: cannot use SQLite with the
		// LocalExecutor"); SequentialExecutor runs one task at a time in the scheduler.
		executor = "SequentialExecutor"
	}
	hb := fmt.Sprint(int(a.opts.HeartbeatTimeout.Seconds()))
	env := []string{
		"AIRFLOW_HOME=" + a.Home,
		"AIRFLOW__CORE__DAGS_FOLDER=" + a.opts.DAGsFolder,
		"AIRFLOW__CORE__LOAD_EXAMPLES=False",
		"AIRFLOW__CORE__EXECUTOR=" + executor,
		"AIRFLOW__CORE__PARALLELISM=8",
		"AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=False",
		"AIRFLOW__CORE__UNIT_TEST_MODE=False",
		"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=sqlite:///" + a.DB,
		"AIRFLOW__DATABASE__CHECK_MIGRATIONS=False",
		"AIRFLOW__LOGGING__BASE_LOG_FOLDER=" + filepath.Join(a.Home, "logs"),
		"AIRFLOW__LOGGING__LOGGING_LEVEL=INFO",
		"AIRFLOW_CONN_KUBERNETES_DEFAULT=" + string(conn),
		// Fast scheduling: tests wait on state changes, not on Airflow's idle loops.
		"AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC=2",
		"AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC=2",
		"AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC=2",
		"AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT=" + hb, // Airflow 3
		"AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL=5",
		"AIRFLOW__SCHEDULER__SCHEDULER_ZOMBIE_TASK_THRESHOLD=" + hb, // Airflow 2
		"AIRFLOW__SCHEDULER__ZOMBIE_DETECTION_INTERVAL=5",
		"AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL=5",
		"AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=5", // Airflow 3: rescan the folder
		"AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL=30",
		"AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL=5", // Airflow 2
		"AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL=30",
		"AIRFLOW__SCHEDULER__PARSING_PROCESSES=1",
		"AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES=1",
		// Airflow 3: one API server, on loopback, that the task workers reach; one JWT
		// secret for all processes, or tokens minted by one are refused by another.
		"AIRFLOW__API__HOST=127.0.0.1",
		fmt.Sprintf("AIRFLOW__API__PORT=%d", a.APIPort),
		"AIRFLOW__API__WORKERS=1",
		fmt.Sprintf("AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://127.0.0.1:%d/execution/", a.APIPort),
		"AIRFLOW__API_AUTH__JWT_SECRET=" + a.secret,
		"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS=True",
		"AIRFLOW__CORE__INTERNAL_API_SECRET_KEY=" + a.secret,
		"AIRFLOW__WEBSERVER__SECRET_KEY=" + a.secret,
		// Airflow 2's executors start `airflow tasks run` by name: the venv's bin first.
		"PATH=" + filepath.Join(a.opts.Venv, "bin") + string(os.PathListSeparator) + os.Getenv("PATH"),
		"VIRTUAL_ENV=" + a.opts.Venv,
		"PYTHONDONTWRITEBYTECODE=1",
		"NO_PROXY=*",
	}
	return append(env, a.opts.Env...), nil
}
