package airflowenv

import (
	"context"
	"fmt"
	"time"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
)

// readAPI is the component name of the public API server the try check
// reads on Airflow 3 (see StartReadAPI).
const readAPI = "read-api"

// StartReadAPI starts the public REST API the try check reads, one that
// StopReadAPI can take down as an outage would, and returns its base URL.
// On Airflow 3 it is a second api-server serving the public API alone
// (`--apps core`): the one Start runs also serves the execution API the
// task workers report to, and stopping that would end the live tries the
// outage must leave alone. On Airflow 2 it is the webserver of StartAPI
// (which must have run), which serves the public API only.
func (a *Airflow) StartReadAPI(ctx context.Context) (string, error) {
	if a.Major < 3 {
		if a.webPort == 0 {
			return "", fmt.Errorf("StartAPI first: Airflow 2's public API is its webserver")
		}
		return fmt.Sprintf("http://127.0.0.1:%d", a.webPort), nil
	}
	if a.readPort == 0 {
		port, err := testenv.FreePort()
		if err != nil {
			return "", err
		}
		a.readPort = port
	}
	if err := a.startComponent(readAPI); err != nil {
		return "", err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", a.readPort)
	return url, a.waitHTTP(ctx, readAPI, url+"/api/v2/version")
}

// StopReadAPI stops the public API server of StartReadAPI (SIGTERM, then
// SIGKILL after 30 s).
func (a *Airflow) StopReadAPI() error {
	name := readAPI
	if a.Major < 3 {
		name = "webserver"
	}
	a.mu.Lock()
	c, ok := a.procs[name]
	delete(a.procs, name)
	a.mu.Unlock()
	if !ok {
		return fmt.Errorf("no %s running", name)
	}
	return c.stop(30 * time.Second)
}

// RestartReadAPI starts the public API server of StartReadAPI again, on the
// same port, and returns once it answers.
func (a *Airflow) RestartReadAPI(ctx context.Context) error {
	if a.Major >= 3 {
		_, err := a.StartReadAPI(ctx)
		return err
	}
	if err := a.startWebserver(a.webPort); err != nil {
		return err
	}
	return a.waitHTTP(ctx, "webserver", fmt.Sprintf("http://127.0.0.1:%d/health", a.webPort))
}

// waitHTTP waits (up to 3 minutes) until url answers, or the component
// exits.
func (a *Airflow) waitHTTP(ctx context.Context, name, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	for {
		if _, err := testenv.HTTPGet(ctx, url); err == nil {
			return nil
		}
		if c := a.snapshot()[name]; c != nil && c.done() {
			return fmt.Errorf("%s exited at start:\n%s", name, c.tail(30))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not up at %s: %w", name, url, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}
