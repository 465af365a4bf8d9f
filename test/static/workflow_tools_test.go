package static

import (
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// makeRules returns each target's prerequisites and recipe lines (a target
// may have several rules: `test:` appears twice), continuation lines joined.
func makeRules(makefile string) (prereqs, recipes map[string][]string) {
	prereqs, recipes = map[string][]string{}, map[string][]string{}
	lines := strings.Split(strings.ReplaceAll(makefile, "\\\n", " "), "\n")
	ruleRE := regexp.MustCompile(`^([a-z][a-z0-9-]*):(?:[^=]|$)(.*)$`)
	current := ""
	for _, line := range lines {
		if strings.HasPrefix(line, "\t") {
			if current != "" {
				recipes[current] = append(recipes[current], strings.TrimSpace(line))
			}
			continue
		}
		current = ""
		if m := ruleRE.FindStringSubmatch(line); m != nil {
			current = m[1]
			prereqs[current] = append(prereqs[current], strings.Fields(m[2])...)
		}
	}
	return prereqs, recipes
}

var (
	quotedRE    = regexp.MustCompile(`'[^']*'|"[^"]*"`)
	separatorRE = regexp.MustCompile(`;|&&|\|\||\||\$\$\(|\(|\{`)
)

// commandWords are the words a shell runs as commands in a recipe line: the
// first word of the line and after ; && || | $$( ( {, past VAR=value
// assignments and make's @/- prefixes. $(GO) is go; quoted text is no command.
func commandWords(line string) []string {
	line = strings.ReplaceAll(line, "$(GO)", "go")
	line = quotedRE.ReplaceAllString(line, "''")
	var out []string
	for _, seg := range separatorRE.Split(line, -1) {
		for _, w := range strings.Fields(seg) {
			w = strings.TrimLeft(w, "@-")
			if regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`).MatchString(w) || w == "" {
				continue
			}
			out = append(out, w)
			break
		}
	}
	return out
}

// needs maps each command make test's recipes run to the tools it needs
// from the machine. A command missing here fails the test: say what it needs.
var needs = map[string][]string{
	"go":                             {"go", "gcc"}, // gcc: go test -race needs cgo
	"./test/tools/build.sh":          {"go", "bash", "sha256sum"},
	"./test/tools/release/build.sh":  {"go", "bash"},
	"./test/e2e/airflow/venvs.sh":    {"python3.11", "bash", "git", "sha256sum"},
	"./integrations/airflow/test.sh": {"python3.11", "bash", "git", "sha256sum"},
	"gofmt":                          {"go"},
	"git":                            {"git"},
	"grep":                           {},
	"echo":                           {},
	"exit":                           {},
	"if":                             {},
	"then":                           {},
	"fi":                             {},
	"find":                           {},
	"[":                              {},
}

// Every tool the Makefile's test target needs is provided by a step of the
// release workflow, which runs make test on a fresh runner: Go and Python by
// their setup actions, the rest checked by the "Tools make test needs" step.
func TestReleaseWorkflowProvidesWhatMakeTestNeeds(t *testing.T) {
	prereqs, recipes := makeRules(repoFile(t, "Makefile"))
	require.NotEmpty(t, recipes["test"], "the Makefile has no test recipe")

	tools := map[string]bool{}
	seen := map[string]bool{}
	var walk func(target string)
	walk = func(target string) {
		if seen[target] {
			return
		}
		seen[target] = true
		for _, p := range prereqs[target] {
			walk(p)
		}
		for _, line := range recipes[target] {
			for _, w := range commandWords(line) {
				n, ok := needs[w]
				if !assert.True(t, ok, "make %s runs %q (%s): add what it needs to this test's needs map, and the workflow step that provides it", target, w, line) {
					continue
				}
				for _, tool := range n {
					tools[tool] = true
				}
			}
		}
	}
	walk("test")
	for _, want := range []string{"go", "python3.11", "git"} {
		assert.True(t, tools[want], "make test needs %s, by this test's reading of the Makefile", want)
	}

	var wf struct {
		Jobs map[string]struct {
			Steps []struct {
				Name string            `json:"name"`
				Uses string            `json:"uses"`
				With map[string]string `json:"with"`
				Run  string            `json:"run"`
			} `json:"steps"`
		} `json:"jobs"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(repoFile(t, ".github/workflows/release.yml")), &wf))
	job, ok := wf.Jobs["release"]
	require.True(t, ok, "release.yml has no release job")

	provided := map[string]string{"make": "the runner (the workflow calls make)"}
	ranTest := false
	for _, s := range job.Steps {
		switch {
		case strings.HasPrefix(s.Uses, "actions/setup-go@") && s.With["go-version-file"] == "go.mod":
			provided["go"] = "actions/setup-go"
		case strings.HasPrefix(s.Uses, "actions/setup-python@") && s.With["python-version"] == "3.11":
			provided["python3.11"] = "actions/setup-python"
		case strings.Contains(s.Run, "command -v"):
			if m := regexp.MustCompile(`for tool in ([^;\n]+)`).FindStringSubmatch(s.Run); m != nil {
				for _, tool := range strings.Fields(m[1]) {
					// Go and Python come from their setup actions; a runner's
					// own python3.11 or go would be whatever the image has.
					if tool == "go" || tool == "python3.11" {
						continue
					}
					if _, done := provided[tool]; !done {
						provided[tool] = "step " + s.Name
					}
				}
			}
		case regexp.MustCompile(`(?m)^\s*make test\s*$`).MatchString(s.Run):
			ranTest = true
			// A tool provided only after make test ran does not count.
			var missing []string
			for tool := range tools {
				if _, ok := provided[tool]; !ok {
					missing = append(missing, tool)
				}
			}
			sort.Strings(missing)
			assert.Empty(t, missing, "make test needs these tools, which no workflow step before it provides")
		}
	}
	assert.True(t, ranTest, "the release job does not run make test")
}

func TestCommandWords(t *testing.T) {
	tests := map[string]struct {
		in   string
		want []string
	}{
		"env prefix":          {in: "APD_E2E_AIRFLOW=1 $(GO) test -count=1 ./test/e2e/ 2>&1 | grep -v '^{'", want: []string{"go", "grep"}},
		"make @ and subshell": {in: "@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))", want: []string{"gofmt", "git", "find"}},
		"script":              {in: "./integrations/airflow/test.sh", want: []string{"./integrations/airflow/test.sh"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.want, commandWords(tc.in))
		})
	}
}
