package airflowenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
)

// APIUser is an Airflow user of the public REST API, for the try check.
type APIUser struct{ Name, Password string }

// APIUserEnv is the environment that makes Airflow 3's simple auth manager
// check passwords (instead of making everyone admin) and know reader, a
// Viewer (read-only: DAGs, DAG runs, task instances), and admin, an Admin.
// Pass it in Options.Env; home is a directory for the passwords file.
func APIUserEnv(home string, reader, admin APIUser) ([]string, error) {
	b, err := json.Marshal(map[string]string{reader.Name: reader.Password, admin.Name: admin.Password})
	if err != nil {
		return nil, err
	}
	file := filepath.Join(home, "simple_auth_manager_passwords.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		return nil, err
	}
	return []string{
		"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS=False",
		fmt.Sprintf("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=%s:viewer,%s:admin", reader.Name, admin.Name),
		"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=" + file,
	}, nil
}

// StartAPI makes the public REST API answer and returns its base URL. On
// Airflow 3 that is the api-server Start already runs (users from
// APIUserEnv). Airflow 2 serves API v1 from its webserver, which Start does
// not run: this creates reader (Viewer) and admin (Admin) and starts the
// webserver on loopback with basic auth; Stop ends it.
func (a *Airflow) StartAPI(ctx context.Context, reader, admin APIUser) (string, error) {
	if a.Major >= 3 {
		return fmt.Sprintf("http://127.0.0.1:%d", a.APIPort), nil
	}
	// A fresh FAB database has only Admin and Public until the roles are synced.
	if out, err := a.CLI(ctx, "sync-perm"); err != nil {
		return "", fmt.Errorf("airflow sync-perm: %w\n%s", err, tail(out, 20))
	}
	for _, u := range []struct {
		APIUser
		role string
	}{{reader, "Viewer"}, {admin, "Admin"}} {
		if out, err := a.CLI(ctx, "users", "create", "--username", u.Name, "--password", u.Password, "--role", u.role,
			"--firstname", u.Name, "--lastname", "apd", "--email", u.Name+"@example.com"); err != nil {
			return "", fmt.Errorf("airflow users create %s: %w\n%s", u.Name, err, tail(out, 20))
		}
	}
	port, err := testenv.FreePort()
	if err != nil {
		return "", err
	}
	a.webPort = port
	if err := a.startWebserver(port); err != nil {
		return "", err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	return url, a.waitHTTP(ctx, "webserver", url+"/health")
}

// startWebserver starts Airflow 2's webserver (one gunicorn worker, basic
// auth for API v1) as the component "webserver".
func (a *Airflow) startWebserver(port int) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	logPath := filepath.Join(a.Home, "webserver.log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(a.bin("airflow"), "webserver", "--hostname", "127.0.0.1", "--port", strconv.Itoa(port), "--workers", "1")
	cmd.Env = append(append(os.Environ(), a.env...),
		"AIRFLOW__API__AUTH_BACKENDS=airflow.api.auth.backend.basic_auth",
		"AIRFLOW__WEBSERVER__WORKERS=1",
		"AIRFLOW__WEBSERVER__WEB_SERVER_MASTER_TIMEOUT=300",
	)
	cmd.Dir = a.Home
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = testenv.ChildProcAttr(true)
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("starting airflow webserver: %w", err)
	}
	c := &component{cmd: cmd, log: logPath, started: time.Now(), exited: make(chan struct{})}
	go func() {
		c.waitErr = cmd.Wait()
		f.Close()
		close(c.exited)
	}()
	a.procs["webserver"] = c
	return nil
}

// MarkTask sets a task instance's state through the public API as user (an
// Admin), as the UI's "Mark as failed" does: PATCH
// /api/{v2,v1}/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}
// with {"new_state": state} (v2's PatchTaskInstanceBody, v1's
// UpdateTaskInstance with dry_run false).
func (a *Airflow) MarkTask(ctx context.Context, baseURL string, user APIUser, dagID, runID, taskID, state string) error {
	body := map[string]any{"new_state": state}
	if a.Major < 3 {
		body["dry_run"] = false
	}
	return a.call(ctx, http.MethodPatch, baseURL, user, fmt.Sprintf("/dags/%s/dagRuns/%s/taskInstances/%s",
		url.PathEscape(dagID), url.PathEscape(runID), url.PathEscape(taskID)), body)
}

// MarkRun sets a DAG run's state through the public API as user (an Admin),
// as the UI's "Mark run as failed" does: PATCH
// /api/{v2,v1}/dags/{dag_id}/dagRuns/{dag_run_id} with {"state": state}
// (v2's DAGRunPatchBody, v1's UpdateDagRunState).
func (a *Airflow) MarkRun(ctx context.Context, baseURL string, user APIUser, dagID, runID, state string) error {
	return a.call(ctx, http.MethodPatch, baseURL, user, fmt.Sprintf("/dags/%s/dagRuns/%s",
		url.PathEscape(dagID), url.PathEscape(runID)), map[string]any{"state": state})
}

// ClearTask clears one task of a run through the public API as user (an
// Admin), as the UI's "Clear" does, whatever its state: POST
// /api/{v2,v1}/dags/{dag_id}/clearTaskInstances (v2's
// ClearTaskInstancesBody, v1's ClearTaskInstances; both default to a dry
// run of failed tasks only).
func (a *Airflow) ClearTask(ctx context.Context, baseURL string, user APIUser, dagID, runID, taskID string) error {
	return a.call(ctx, http.MethodPost, baseURL, user, fmt.Sprintf("/dags/%s/clearTaskInstances", url.PathEscape(dagID)),
		map[string]any{"dry_run": false, "only_failed": false, "dag_run_id": runID, "task_ids": []string{taskID}})
}

// call sends body as JSON to the public API's path (under /api/v2 on
// Airflow 3, /api/v1 on 2) as user and requires a 200.
func (a *Airflow) call(ctx context.Context, method, baseURL string, user APIUser, path string, body any) error {
	version := "v2"
	if a.Major < 3 {
		version = "v1"
	}
	u := baseURL + "/api/" + version + path
	payload, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(payload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if a.Major >= 3 {
		token, err := a.token(ctx, baseURL, user)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
	} else {
		req.SetBasicAuth(user.Name, user.Password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d %s", method, u, resp.StatusCode, out)
	}
	return nil
}

func (a *Airflow) token(ctx context.Context, baseURL string, user APIUser) (string, error) {
	payload, _ := json.Marshal(map[string]string{"username": user.Name, "password": user.Password})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"/auth/token", bytes.NewReader(payload))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" {
		return "", fmt.Errorf("POST /auth/token: %d %v", resp.StatusCode, err)
	}
	return out.AccessToken, nil
}
