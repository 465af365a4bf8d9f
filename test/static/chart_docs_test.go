package static

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/helmchart"
)

// TestChartDocsListEveryValue keeps docs/install.md's values table complete:
// every value the schema declares (down to free-form objects such as
// resources) has a row there, itself or through its parent (issuerRef), and
// every row names a value the schema declares.
func TestChartDocsListEveryValue(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, helmchart.Path, "values.schema.json"))
	require.NoError(t, err)
	var schema map[string]any
	require.NoError(t, json.Unmarshal(b, &schema))
	known := map[string]bool{}
	var leaves []string
	var walk func(prefix string, s map[string]any)
	walk = func(prefix string, s map[string]any) {
		known[prefix] = true
		props, ok := s["properties"].(map[string]any)
		if !ok || s["additionalProperties"] != false || len(props) == 0 {
			leaves = append(leaves, prefix)
			return
		}
		for name, sub := range props {
			p := name
			if prefix != "" {
				p = prefix + "." + name
			}
			walk(p, sub.(map[string]any))
		}
	}
	walk("", schema)

	docs, err := os.ReadFile(filepath.Join(root, "docs", "install.md"))
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(docs), "\n## Values\n")
	require.True(t, ok, "docs/install.md has a ## Values section")
	section, _, _ = strings.Cut(section, "\n## ")
	rows := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([^`]+)` \\|").FindAllStringSubmatch(section, -1) {
		rows[m[1]] = true
		assert.True(t, known[m[1]], "docs/install.md documents %s, which values.schema.json does not declare", m[1])
	}
	sort.Strings(leaves)
	for _, p := range leaves {
		if p == "global" {
			continue // for umbrella charts; nothing reads it
		}
		documented := false
		for q := p; q != "" && !documented; {
			documented = rows[q]
			i := strings.LastIndex(q, ".")
			if i < 0 {
				break
			}
			q = q[:i]
		}
		assert.True(t, documented, "docs/install.md's values table lacks %s", p)
	}
}
