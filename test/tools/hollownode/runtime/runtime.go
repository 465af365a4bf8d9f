// Package runtime makes the kubelet's fake CRI runtime behave like a real
// one where a pod's owner can see it: exit codes of stopped containers,
// container logs, and commands that end by themselves.
package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	internalapi "k8s.io/cri-api/pkg/apis"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	apitest "k8s.io/cri-api/pkg/apis/testing"
	"k8s.io/klog/v2"
)

// OnSigtermAnnotation on a pod chooses how its containers answer the
// kubelet's stop, as their main process would:
//
//   - "exit" (the default): the process handles SIGTERM and exits at once
//     with 143 (128+15);
//   - "ignore": PID 1 without a SIGTERM handler (a shell running sleep, as in
//     Airflow's upstream reproduction): the signal is ignored, the runtime
//     sends SIGKILL when the grace period ends, and the exit code is 137.
//
// containerd behaves the same way: StopContainer(timeout) returns once the
// process is gone, and the kubelet reports the pod terminal only then.
const OnSigtermAnnotation = "hollow-node.airflow-pod-deadline.io/on-sigterm"

const (
	exitSIGTERM = 128 + 15
	exitSIGKILL = 128 + 9
)

// Runtime is the kubelet's CRI runtime client with the fake runtime behind
// it made to behave like a real one where that is visible to a pod's owner:
// exit codes, logs, and commands that end by themselves.
type Runtime struct {
	internalapi.RuntimeService
	fake *apitest.FakeRuntimeService

	mu         sync.Mutex
	containers map[string]*container
}

type container struct {
	name    string
	argv    []string
	logPath string
	ignore  bool          // OnSigtermAnnotation "ignore"
	stopped chan struct{} // closed when the container has exited
	once    sync.Once
}

// New wraps client, the kubelet's connection to fake.
func New(client internalapi.RuntimeService, fake *apitest.FakeRuntimeService) *Runtime {
	return &Runtime{RuntimeService: client, fake: fake, containers: map[string]*container{}}
}

func (r *Runtime) CreateContainer(ctx context.Context, sandboxID string, config *runtimeapi.ContainerConfig, sandboxConfig *runtimeapi.PodSandboxConfig) (string, error) {
	id, err := r.RuntimeService.CreateContainer(ctx, sandboxID, config, sandboxConfig)
	if err != nil {
		return id, err
	}
	c := &container{
		name:    config.GetMetadata().GetName(),
		argv:    append(append([]string{}, config.GetCommand()...), config.GetArgs()...),
		ignore:  sandboxConfig.GetAnnotations()[OnSigtermAnnotation] == "ignore",
		stopped: make(chan struct{}),
	}
	if dir, rel := sandboxConfig.GetLogDirectory(), config.GetLogPath(); dir != "" && rel != "" {
		c.logPath = filepath.Join(dir, rel)
		// The kubelet's OS is faked too, so nothing has made the directory.
		if err := os.MkdirAll(filepath.Dir(c.logPath), 0o755); err != nil {
			return id, err
		}
		if err := os.WriteFile(c.logPath, nil, 0o644); err != nil {
			return id, err
		}
	}
	r.withFake(id, func(fc *apitest.FakeContainer) { fc.LogPath = c.logPath })
	r.mu.Lock()
	r.containers[id] = c
	r.mu.Unlock()
	return id, nil
}

func (r *Runtime) StartContainer(ctx context.Context, id string) error {
	if err := r.RuntimeService.StartContainer(ctx, id); err != nil {
		return err
	}
	c := r.container(id)
	if c == nil {
		return nil
	}
	go r.interpret(c, id)
	return nil
}

// interpret runs the container's command: statements separated by ";", "&&"
// or newlines, of which it knows sleep N, echo ..., exit N, true and false.
// Anything else (a real program) runs until the container is stopped.
func (r *Runtime) interpret(c *container, id string) {
	script := strings.Join(c.argv, " ")
	if len(c.argv) >= 3 && filepath.Base(c.argv[0]) != "" && isShell(c.argv[0]) && c.argv[1] == "-c" {
		script = c.argv[2]
	}
	r.log(c, "stdout", fmt.Sprintf("hollow-node: %s runs %q", c.name, script))
	if len(c.argv) == 0 {
		return // the image's entrypoint: a server, until stopped
	}
	code := 0
	for _, stmt := range statements(script) {
		fields := strings.Fields(stmt)
		switch fields[0] {
		case "sleep":
			secs, err := strconv.ParseFloat(strings.Join(fields[1:], ""), 64)
			if err != nil || secs < 0 {
				return
			}
			select {
			case <-c.stopped:
				return
			case <-time.After(time.Duration(secs * float64(time.Second))):
			}
			code = 0
		case "echo":
			r.log(c, "stdout", strings.Trim(strings.Join(fields[1:], " "), `"'`))
			code = 0
		case "true":
			code = 0
		case "false":
			code = 1
		case "exit":
			code = 0
			if len(fields) > 1 {
				code, _ = strconv.Atoi(fields[1])
			}
			r.exit(c, id, code, "")
			return
		default:
			return // a program we cannot run: it runs until stopped
		}
	}
	r.exit(c, id, code, "")
}

func isShell(arg0 string) bool {
	switch filepath.Base(arg0) {
	case "sh", "bash", "ash", "dash":
		return true
	}
	return false
}

func statements(script string) []string {
	script = strings.NewReplacer("&&", ";", "\n", ";").Replace(script)
	var out []string
	for _, s := range strings.Split(script, ";") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// StopContainer stops the container as containerd would: SIGTERM, then
// SIGKILL after timeout seconds if the process ignores SIGTERM.
func (r *Runtime) StopContainer(ctx context.Context, id string, timeout int64) error {
	c := r.container(id)
	if c == nil || r.exited(id) {
		return r.RuntimeService.StopContainer(ctx, id, timeout)
	}
	code := exitSIGTERM
	if c.ignore || timeout <= 0 {
		code = exitSIGKILL
		if timeout > 0 {
			select {
			case <-c.stopped: // ended by itself meanwhile
				return nil
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(timeout) * time.Second):
			}
		}
	}
	r.exit(c, id, code, "Error")
	return nil
}

// exit records that the container's process ended with code, once.
func (r *Runtime) exit(c *container, id string, code int, reason string) {
	c.once.Do(func() {
		if reason == "" && code != 0 {
			reason = "Error"
		} else if reason == "" {
			reason = "Completed"
		}
		r.withFake(id, func(fc *apitest.FakeContainer) {
			if fc.State == runtimeapi.ContainerState_CONTAINER_EXITED {
				return
			}
			fc.State = runtimeapi.ContainerState_CONTAINER_EXITED
			fc.FinishedAt = time.Now().UnixNano()
			fc.ExitCode = int32(code)
			fc.Reason = reason
		})
		close(c.stopped)
		klog.V(2).InfoS("container exited", "container", c.name, "id", id, "exitCode", code)
	})
}

func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	if c := r.container(id); c != nil {
		r.exit(c, id, exitSIGKILL, "Error")
	}
	r.mu.Lock()
	delete(r.containers, id)
	r.mu.Unlock()
	return r.RuntimeService.RemoveContainer(ctx, id)
}

func (r *Runtime) container(id string) *container {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.containers[id]
}

func (r *Runtime) exited(id string) bool {
	exited := false
	r.withFake(id, func(fc *apitest.FakeContainer) {
		exited = fc.State == runtimeapi.ContainerState_CONTAINER_EXITED
	})
	return exited
}

func (r *Runtime) withFake(id string, f func(*apitest.FakeContainer)) {
	r.fake.Lock()
	defer r.fake.Unlock()
	if fc, ok := r.fake.Containers[id]; ok {
		f(fc)
	}
}

// log appends one line in the CRI log format the kubelet reads.
func (r *Runtime) log(c *container, stream, line string) {
	if c.logPath == "" {
		return
	}
	f, err := os.OpenFile(c.logPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return // removed with the pod
	}
	defer f.Close()
	fmt.Fprintf(f, "%s %s F %s\n", time.Now().UTC().Format(time.RFC3339Nano), stream, line)
}
