package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
)

// The demo is read by people who have never seen the project: every scene is
// a short caption, the exact command (as they could type it) and its real
// output, like a terminal session.

// scene prints the heading and caption of scene n.
func (d *demo) scene(n int, title string, caption ...string) {
	fmt.Fprintf(d.out, "\n== %d/%d  %s\n", n, scenes, title)
	d.say(caption...)
}

// say prints caption lines, indented to stand apart from command output.
func (d *demo) say(lines ...string) {
	for _, l := range lines {
		if l == "" {
			fmt.Fprintln(d.out)
			continue
		}
		fmt.Fprintln(d.out, "   "+l)
	}
}

// echo prints a command line the way a shell user would type it, with the
// here-document it reads when stdin is given.
func (d *demo) echo(stdin string, argv ...string) {
	quoted := make([]string, len(argv))
	for i, a := range argv {
		quoted[i] = shellQuote(a)
	}
	line := "$ " + strings.Join(quoted, " ")
	if stdin == "" {
		fmt.Fprintln(d.out, line)
		return
	}
	fmt.Fprintf(d.out, "%s <<EOF\n%sEOF\n", line, stdin)
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// shellQuote quotes a word so the printed command can be pasted into a shell.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// kubectl echoes and runs bin/kubectl against the demo's API server. It
// returns the combined stdout and stderr (the admission warning and the
// denial messages are on stderr) and whether the command succeeded.
func (d *demo) kubectl(ctx context.Context, stdin string, args ...string) (string, error) {
	d.echo(stdin, append([]string{"kubectl"}, args...)...)
	cmd := d.kubectlCmd(ctx, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out strings.Builder
	// One writer for both streams keeps warnings and output in order.
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	fmt.Fprint(d.out, out.String())
	if ctx.Err() != nil {
		return out.String(), ctx.Err()
	}
	return out.String(), err
}

// kubectlGrep echoes and runs "kubectl args | grep -E pattern", the grep
// done in Go, and returns the matching lines. When kubectl fails, its whole
// output is shown.
func (d *demo) kubectlGrep(ctx context.Context, pattern string, args ...string) ([]string, error) {
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = shellQuote(a)
	}
	fmt.Fprintf(d.out, "$ kubectl %s | grep -E %s\n", strings.Join(quoted, " "), shellQuote(pattern))
	cmd := d.kubectlCmd(ctx, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		fmt.Fprint(d.out, out.String())
		return nil, err
	}
	re := regexp.MustCompile(pattern)
	var matched []string
	for _, line := range strings.Split(out.String(), "\n") {
		if re.MatchString(line) {
			fmt.Fprintln(d.out, line)
			matched = append(matched, line)
		}
	}
	return matched, nil
}

// kubectlUntil echoes and runs a streaming kubectl command (a --watch),
// printing each line as it arrives, and stops it once done reports true for
// a line or after timeout. It returns every line and whether done fired.
func (d *demo) kubectlUntil(ctx context.Context, timeout time.Duration, done func(line string) bool, args ...string) ([]string, bool, error) {
	d.echo("", append([]string{"kubectl"}, args...)...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := d.kubectlCmd(ctx, args...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return nil, false, err
	}
	exited := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		pw.Close() // ends the scan below
		exited <- err
	}()

	var lines []string
	fired := false
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(d.out, line)
		lines = append(lines, line)
		if !fired && done(line) {
			fired = true
			cancel() // kills kubectl: a watch never ends by itself
		}
	}
	err := <-exited
	switch {
	case fired:
		return lines, true, nil
	case ctx.Err() != nil:
		return lines, false, ctx.Err()
	default:
		return lines, false, err
	}
}

// kubectlCmd is bin/kubectl with the demo's kubeconfig. Its discovery cache
// goes to the scratch directory instead of ~/.kube/cache.
func (d *demo) kubectlCmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, d.kubectlPath, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+d.kubeconfig, "KUBECACHEDIR="+d.path("kube-cache"))
	cmd.SysProcAttr = testenv.ChildProcAttr(false) // a watch must not outlive a killed demo
	return cmd
}

// curlGrep prints "curl -s url | grep pattern" and does the same with Go's
// HTTP client (curl need not be installed), returning the matching lines.
func (d *demo) curlGrep(ctx context.Context, url, pattern string) ([]string, error) {
	fmt.Fprintf(d.out, "$ curl -s %s | grep %s\n", shellQuote(url), shellQuote(pattern))
	body, err := testenv.HTTPGet(ctx, url)
	if err != nil {
		fmt.Fprintln(d.out, err)
		return nil, err
	}
	var matched []string
	for _, line := range strings.Split(body, "\n") {
		if strings.Contains(line, pattern) {
			fmt.Fprintln(d.out, line)
			matched = append(matched, line)
		}
	}
	return matched, nil
}

// failed reports whether err is a command's non-zero exit (as opposed to not
// being able to run it at all).
func failed(err error) bool {
	var exit *exec.ExitError
	return errors.As(err, &exit)
}
