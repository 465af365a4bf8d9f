package runtime

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	apitest "k8s.io/cri-api/pkg/apis/testing"
)

// start creates and starts a container running argv in a fresh runtime,
// with the pod annotations given.
func start(t *testing.T, argv []string, annotations map[string]string) (*Runtime, *apitest.FakeRuntimeService, string, string) {
	t.Helper()
	fake := apitest.NewFakeRuntimeService()
	r := New(fake, fake)
	dir := t.TempDir()
	sandbox := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: "p", Namespace: "ns", Uid: "u"},
		LogDirectory: dir,
		Annotations:  annotations,
	}
	ctx := context.Background()
	sandboxID, err := fake.RunPodSandbox(ctx, sandbox, "")
	if err != nil {
		t.Fatal(err)
	}
	id, err := r.CreateContainer(ctx, sandboxID, &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: "base"},
		Image:    &runtimeapi.ImageSpec{Image: "alpine:3.20"},
		Command:  argv[:min(2, len(argv))],
		Args:     argv[min(2, len(argv)):],
		LogPath:  "base/0.log",
	}, sandbox)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	return r, fake, id, filepath.Join(dir, "base/0.log")
}

func status(t *testing.T, fake *apitest.FakeRuntimeService, id string) runtimeapi.ContainerStatus {
	t.Helper()
	fake.Lock()
	defer fake.Unlock()
	return fake.Containers[id].ContainerStatus
}

func waitExited(t *testing.T, fake *apitest.FakeRuntimeService, id string) runtimeapi.ContainerStatus {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if s := status(t, fake, id); s.State == runtimeapi.ContainerState_CONTAINER_EXITED {
			return s
		}
	}
	t.Fatal("container never exited")
	return runtimeapi.ContainerStatus{}
}

func TestScriptsEndByThemselves(t *testing.T) {
	tests := map[string]struct {
		argv     []string
		exitCode int32
		reason   string
		logged   []string
	}{
		"echo then exit 3":     {argv: []string{"sh", "-c", "echo task failed; exit 3"}, exitCode: 3, reason: "Error", logged: []string{"stdout F task failed"}},
		"short sleep succeeds": {argv: []string{"sh", "-c", "sleep 0.05 && echo done"}, exitCode: 0, reason: "Completed", logged: []string{"stdout F done"}},
		"false fails":          {argv: []string{"/bin/sh", "-c", "false"}, exitCode: 1, reason: "Error"},
		"bare sleep":           {argv: []string{"sleep", "0.01"}, exitCode: 0, reason: "Completed"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, fake, id, logPath := start(t, tc.argv, nil)
			s := waitExited(t, fake, id)
			if s.ExitCode != tc.exitCode || s.Reason != tc.reason {
				t.Fatalf("exit code %d reason %q, want %d %q", s.ExitCode, s.Reason, tc.exitCode, tc.reason)
			}
			if s.FinishedAt < s.StartedAt {
				t.Fatalf("finishedAt %d before startedAt %d", s.FinishedAt, s.StartedAt)
			}
			log, err := os.ReadFile(logPath)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range tc.logged {
				if !strings.Contains(string(log), want) {
					t.Fatalf("log %q lacks %q", log, want)
				}
			}
			if s.LogPath != logPath {
				t.Fatalf("logPath %q, want %q", s.LogPath, logPath)
			}
		})
	}
}

func TestStopExitsLikeContainerd(t *testing.T) {
	tests := map[string]struct {
		annotations map[string]string
		timeout     int64
		exitCode    int32
		atLeast     time.Duration // how long the stop takes at least
	}{
		"handles SIGTERM":               {timeout: 30, exitCode: 143},
		"ignores SIGTERM: killed later": {annotations: map[string]string{OnSigtermAnnotation: "ignore"}, timeout: 1, exitCode: 137, atLeast: time.Second},
		"no grace period: SIGKILL":      {timeout: 0, exitCode: 137},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r, fake, id, _ := start(t, []string{"sh", "-c", "sleep 1800"}, tc.annotations)
			if s := status(t, fake, id); s.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
				t.Fatalf("state %v, want running", s.State)
			}
			began := time.Now()
			if err := r.StopContainer(context.Background(), id, tc.timeout); err != nil {
				t.Fatal(err)
			}
			took := time.Since(began)
			s := status(t, fake, id)
			if s.State != runtimeapi.ContainerState_CONTAINER_EXITED || s.ExitCode != tc.exitCode {
				t.Fatalf("state %v exit code %d, want exited %d", s.State, s.ExitCode, tc.exitCode)
			}
			if took < tc.atLeast {
				t.Fatalf("stop returned after %s, before the grace period %s", took, tc.atLeast)
			}
		})
	}
}

func TestProgramsRunUntilStopped(t *testing.T) {
	r, fake, id, _ := start(t, []string{"python", "-m", "server"}, nil)
	time.Sleep(50 * time.Millisecond)
	if s := status(t, fake, id); s.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Fatalf("state %v, want running", s.State)
	}
	if err := r.StopContainer(context.Background(), id, 10); err != nil {
		t.Fatal(err)
	}
	if s := status(t, fake, id); s.ExitCode != 143 {
		t.Fatalf("exit code %d, want 143", s.ExitCode)
	}
}
