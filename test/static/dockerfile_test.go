package static

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// No Docker engine exists here, so the Dockerfile is checked as text and the
// binary is built with the very command its build stage runs.

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case
	args string
	line int
}

type stage struct {
	from  string // the image reference (or an earlier stage's name)
	name  string
	instr []instruction
}

func parseDockerfile(t testing.TB, path string) []stage {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var stages []stage
	var cur strings.Builder
	start := 0
	flush := func() {
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		if text == "" {
			return
		}
		cmd, args, _ := strings.Cut(text, " ")
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start}
		if in.cmd == "FROM" {
			fields := strings.Fields(in.args)
			var rest []string
			for _, f := range fields {
				if !strings.HasPrefix(f, "--") { // --platform=...
					rest = append(rest, f)
				}
			}
			require.NotEmpty(t, rest, "line %d: FROM without an image", in.line)
			s := stage{from: rest[0]}
			if len(rest) == 3 && strings.EqualFold(rest[1], "AS") {
				s.name = rest[2]
			}
			stages = append(stages, s)
			return
		}
		require.NotEmpty(t, stages, "line %d: %s before FROM", in.line, in.cmd)
		stages[len(stages)-1].instr = append(stages[len(stages)-1].instr, in)
	}
	for i, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		flush()
	}
	flush()
	return stages
}

// shellWords splits a command line as sh would (quotes, backslashes; no
// expansion).
func shellWords(t testing.TB, s string) []string {
	t.Helper()
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			require.GreaterOrEqual(t, j, 0, "unterminated ' in %q", s)
			w.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				w.WriteByte(s[i])
			}
			require.Less(t, i, len(s), "unterminated \" in %q", s)
			inWord = true
		case c == '\\' && i+1 < len(s):
			i++
			w.WriteByte(s[i])
			inWord = true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// goBuild is a `[VAR=value ...] go build [flags] -o out pkg` command line.
type goBuild struct {
	env   map[string]string
	flags []string // without -o and its value
	pkg   string
}

func parseGoBuild(t testing.TB, words []string) goBuild {
	t.Helper()
	g := goBuild{env: map[string]string{}}
	i := 0
	for ; i < len(words) && strings.Contains(words[i], "=") && !strings.HasPrefix(words[i], "-"); i++ {
		k, v, _ := strings.Cut(words[i], "=")
		g.env[k] = v
	}
	require.GreaterOrEqual(t, len(words)-i, 3, "no go build in %q", words)
	require.Equal(t, "build", words[i+1], "%q", words)
	require.Contains(t, []string{"go", "$(GO)"}, words[i])
	rest := words[i+2:]
	for j := 0; j < len(rest); j++ {
		switch {
		case rest[j] == "-o":
			j++
		case strings.HasPrefix(rest[j], "-"):
			g.flags = append(g.flags, rest[j])
			if rest[j] == "-ldflags" || rest[j] == "-tags" || rest[j] == "-gcflags" {
				j++
				g.flags = append(g.flags, rest[j])
			}
		default:
			require.Empty(t, g.pkg, "two packages in %q", words)
			g.pkg = rest[j]
		}
	}
	return g
}

// versionPkg receives the version stamps (-X) in every build.
const versionPkg = "github.com/airflow-pod-deadline/airflow-pod-deadline/version"

// sameVars writes make's $(NAME) and the shell's $NAME alike, so the
// Makefile's and the Dockerfile's stamps compare equal.
func sameVars(flags []string) []string {
	out := make([]string, len(flags))
	for i, f := range flags {
		out[i] = regexp.MustCompile(`\$\((\w+)\)`).ReplaceAllString(f, "$$$1")
	}
	return out
}

// makefileBuild is the Makefile's build recipe with $(BUILD_FLAGS) expanded.
func makefileBuild(t testing.TB) goBuild {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "Makefile"))
	require.NoError(t, err)
	flags := regexp.MustCompile(`(?m)^BUILD_FLAGS\s*:?=\s*(.+)$`).FindSubmatch(b)
	require.NotNil(t, flags, "BUILD_FLAGS in the Makefile")
	recipe := regexp.MustCompile(`(?m)^build:.*\n\t(.+)$`).FindSubmatch(b)
	require.NotNil(t, recipe, "the build target in the Makefile")
	line := strings.ReplaceAll(string(recipe[1]), "$(BUILD_FLAGS)", strings.TrimSpace(string(flags[1])))
	line = strings.ReplaceAll(line, "$(VERSION_PKG)", versionPkg)
	line = strings.ReplaceAll(line, "$(BINARY)", "bin/airflow-pod-deadline")
	return parseGoBuild(t, shellWords(t, line))
}

// dockerfileBuild is the builder stage's go build, and the stage itself.
func dockerfileBuild(t testing.TB, stages []stage) goBuild {
	t.Helper()
	for _, s := range stages[:len(stages)-1] {
		for _, in := range s.instr {
			if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
				return parseGoBuild(t, shellWords(t, in.args))
			}
		}
	}
	t.Fatal("no RUN ... go build in a build stage")
	return goBuild{}
}

// pinned reports whether an image reference names a tag other than latest,
// or a digest.
func pinned(ref string) (bool, string) {
	if strings.Contains(ref, "$") {
		return false, "uses a variable"
	}
	if _, digest, ok := strings.Cut(ref, "@"); ok {
		return strings.HasPrefix(digest, "sha256:") && len(digest) == len("sha256:")+64, "digest"
	}
	slash := strings.LastIndex(ref, "/")
	colon := strings.LastIndex(ref, ":")
	if colon < slash+1 {
		return false, "no tag"
	}
	if tag := ref[colon+1:]; tag == "latest" || tag == "" {
		return false, "tag " + tag
	}
	return true, "tag"
}

func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t, filepath.Join(root, "Dockerfile"))
	require.GreaterOrEqual(t, len(stages), 2, "multi-stage")
	final := stages[len(stages)-1]
	names := map[string]bool{}

	t.Run("base images pinned", func(t *testing.T) {
		for _, s := range stages {
			if names[s.from] {
				continue // an earlier stage
			}
			ok, why := pinned(s.from)
			assert.True(t, ok, "FROM %s is not pinned (%s)", s.from, why)
			if s.name != "" {
				names[s.name] = true
			}
		}
		assert.Equal(t, "golang:1.26-bookworm", stages[0].from)
	})
	t.Run("final stage distroless static nonroot", func(t *testing.T) {
		repo, tag, _ := strings.Cut(strings.SplitN(final.from, "@", 2)[0], ":")
		assert.Equal(t, "gcr.io/distroless/static-debian12", repo)
		assert.Equal(t, "nonroot", tag)
	})
	t.Run("runs as non-root 65532", func(t *testing.T) {
		var user string
		for _, in := range final.instr {
			if in.cmd == "USER" {
				user = in.args
			}
		}
		uid, gid, _ := strings.Cut(user, ":")
		assert.Equal(t, "65532", uid, "USER must be numeric (runAsNonRoot can only verify a number)")
		if gid != "" {
			assert.Equal(t, "65532", gid)
		}
		n, err := strconv.Atoi(uid)
		require.NoError(t, err)
		assert.NotZero(t, n)
	})
	t.Run("no shell in the final stage", func(t *testing.T) {
		var entrypoint string
		for _, in := range final.instr {
			assert.NotEqual(t, "RUN", in.cmd, "line %d: the final stage has no shell to RUN with", in.line)
			if in.cmd == "ENTRYPOINT" {
				entrypoint = in.args
			}
			if in.cmd == "CMD" || in.cmd == "ENTRYPOINT" {
				var exec []string
				assert.NoError(t, json.Unmarshal([]byte(in.args), &exec), "line %d: %s must be exec form (JSON), shell form needs /bin/sh", in.line, in.cmd)
			}
			if in.cmd == "COPY" {
				assert.Contains(t, in.args, "--from=", "line %d: only the binary is copied in, from the build stage", in.line)
			}
		}
		assert.Equal(t, `["/airflow-pod-deadline"]`, entrypoint)
	})
	t.Run("build command equals the Makefile's", func(t *testing.T) {
		docker, mk := dockerfileBuild(t, stages), makefileBuild(t)
		assert.Equal(t, sameVars(mk.flags), docker.flags, "go build flags")
		assert.Equal(t, []string{"-trimpath", "-buildvcs=false", "-ldflags",
			"-s -w -X " + versionPkg + ".version=$VERSION -X " + versionPkg + ".commit=$REVISION"}, docker.flags)
		assert.Equal(t, mk.pkg, docker.pkg)
		assert.Equal(t, "0", docker.env["CGO_ENABLED"])
		assert.Equal(t, "0", mk.env["CGO_ENABLED"])
	})
	t.Run(".dockerignore keeps the build inputs", func(t *testing.T) {
		ignore := dockerignore(t)
		for _, f := range buildInputs(t) {
			assert.False(t, ignore(f), ".dockerignore excludes %s, which the build needs", f)
		}
		for _, f := range []string{".git/config", "bin/kube-apiserver", "bin/helm", "test/static/chart_render_test.go"} {
			assert.True(t, ignore(f), ".dockerignore should exclude %s", f)
		}
	})
}

// dockerignore returns a matcher for the patterns of .dockerignore: a path
// is excluded when it or a parent directory matches (Docker's rules, without
// exceptions, which the file does not use).
func dockerignore(t testing.TB) func(string) bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	require.NoError(t, err)
	var patterns []*regexp.Regexp
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		require.False(t, strings.HasPrefix(line, "!"), "exceptions are not supported by this check")
		line = strings.TrimSuffix(strings.TrimPrefix(filepath.Clean(line), "/"), "/")
		var re strings.Builder
		re.WriteString("^")
		for i := 0; i < len(line); i++ {
			switch c := line[i]; {
			case strings.HasPrefix(line[i:], "**/"):
				re.WriteString("(.*/)?")
				i += 2
			case strings.HasPrefix(line[i:], "**"):
				re.WriteString(".*")
				i++
			case c == '*':
				re.WriteString("[^/]*")
			case c == '?':
				re.WriteString("[^/]")
			default:
				re.WriteString(regexp.QuoteMeta(string(c)))
			}
		}
		re.WriteString("$")
		patterns = append(patterns, regexp.MustCompile(re.String()))
	}
	return func(path string) bool {
		parts := strings.Split(path, "/")
		for i := 1; i <= len(parts); i++ {
			prefix := strings.Join(parts[:i], "/")
			for _, p := range patterns {
				if p.MatchString(prefix) {
					return true
				}
			}
		}
		return false
	}
}

// buildInputs lists the module's own files the binary is built from.
func buildInputs(t testing.TB) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-f", `{{if .Module}}{{if .Module.Main}}{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}
{{end}}{{range .EmbedFiles}}{{$d}}/{{.}}
{{end}}{{end}}{{end}}`, "./cmd/airflow-pod-deadline")
	cmd.Dir = root
	out, err := cmd.Output()
	require.NoError(t, err)
	files := []string{"go.mod", "go.sum"}
	for _, f := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(root, f)
		require.NoError(t, err)
		files = append(files, filepath.ToSlash(rel))
	}
	require.Greater(t, len(files), 5)
	return files
}

// TestDockerfileBuildIsStatic builds the binary with exactly the Dockerfile's
// command and checks what distroless static needs: a static executable (no
// ELF interpreter, no dynamic section), stripped, no build paths, and it
// runs.
func TestDockerfileBuildIsStatic(t *testing.T) {
	g := dockerfileBuild(t, parseDockerfile(t, filepath.Join(root, "Dockerfile")))
	out := filepath.Join(t.TempDir(), "airflow-pod-deadline")
	args := append(append([]string{"build"}, g.flags...), "-o", out, g.pkg)
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Env = os.Environ()
	for k, v := range g.env {
		switch k {
		case "GOOS":
			v = "linux"
		case "GOARCH":
			v = runtime.GOARCH
		}
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	built, err := cmd.CombinedOutput()
	require.NoError(t, err, "go %s:\n%s", strings.Join(args, " "), built)

	f, err := elf.Open(out)
	require.NoError(t, err)
	defer f.Close()
	for _, p := range f.Progs {
		assert.NotEqual(t, elf.PT_INTERP, p.Type, "an ELF interpreter: dynamically linked")
		assert.NotEqual(t, elf.PT_DYNAMIC, p.Type, "a dynamic section: dynamically linked")
	}
	assert.Nil(t, f.Section(".interp"))
	assert.Nil(t, f.Section(".dynamic"))
	libs, err := f.ImportedLibraries()
	require.NoError(t, err)
	assert.Empty(t, libs)
	assert.Nil(t, f.Section(".symtab"), "-s strips the symbol table")
	assert.Nil(t, f.Section(".debug_info"), "-w drops DWARF")
	data, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.False(t, bytes.Contains(data, []byte(root+"/")), "-trimpath removes %s from the binary", root)

	help := exec.Command(out, "--help")
	text, err := help.CombinedOutput()
	// flag.ErrHelp: the usage, then exit status 2 (parseOptions' error path).
	if err != nil {
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "%s", text)
	}
	for _, flag := range []string{"-annotation-prefix", "-cert-dir", "-webhook-port", "-leader-elect", "-dry-run", "-kubelet-grace"} {
		assert.Contains(t, string(text), flag, "--help lists %s", flag)
	}
	t.Log(fmt.Sprintf("static binary: %d bytes", len(data)))
}
