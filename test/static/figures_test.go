package static

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// numberRE finds the numbers of a text: 2, 2.82, 10,000, the 1.3 and 1.9 of
// "1.3–1.9". A digit right after a letter, digit, '_' or '.' does not start
// one, so the 50 of "p50" and the 2 of "a2" are not figures.
var numberRE = regexp.MustCompile(`(?:^|[^\pL\pN_.])(\d+(?:,\d{3})*(?:\.\d+)?)`)

var dateRE = regexp.MustCompile(`\b20\d\d-\d\d-\d\d\b`)

func numbers(s string) []string {
	var out []string
	for _, m := range numberRE.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

// costParagraph is README's paragraph that starts "What it costs".
func costParagraph(t *testing.T, readme string) string {
	t.Helper()
	start := strings.Index(readme, "What it costs")
	require.GreaterOrEqual(t, start, 0, "README.md has no paragraph starting \"What it costs\"")
	rest := readme[start:]
	if end := strings.Index(rest, "\n\n"); end >= 0 {
		rest = rest[:end]
	}
	return rest
}

// summaryTable is the table under docs/performance.md's "## Summary" heading.
func summaryTable(t *testing.T, perf string) []string {
	t.Helper()
	start := strings.Index(perf, "\n## Summary\n")
	require.GreaterOrEqual(t, start, 0, "docs/performance.md has no \"## Summary\" section")
	section := perf[start+len("\n## Summary\n"):]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	var rows []string
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, "|") {
			rows = append(rows, line)
		} else if len(rows) > 0 {
			break
		}
	}
	require.Greater(t, len(rows), 2, "the summary section of docs/performance.md has no table")
	return rows
}

// README quotes only figures that docs/performance.md's summary table
// carries, so a figure corrected there cannot live on in README.
func TestReadmeCostFiguresAreInPerformanceSummary(t *testing.T) {
	paragraph := costParagraph(t, repoFile(t, "README.md"))
	rows := summaryTable(t, repoFile(t, "docs/performance.md"))

	inTable := map[string]bool{}
	for _, row := range rows {
		for _, n := range numbers(row) {
			inTable[n] = true
		}
	}
	figures := numbers(paragraph)
	require.NotEmpty(t, figures, "README's cost paragraph quotes no figure: %q", paragraph)
	for _, n := range figures {
		assert.True(t, inTable[n], "README's cost paragraph quotes %s, which docs/performance.md's summary table does not carry", n)
	}
}

// Every measured row of the summary names the date of its run, and the
// summary names the machine, so a figure quoted from it can be traced.
func TestPerformanceSummaryRowsNameTheirRun(t *testing.T) {
	perf := repoFile(t, "docs/performance.md")
	rows := summaryTable(t, perf)
	for _, row := range rows[2:] { // header and separator
		assert.Regexp(t, dateRE, row, "summary row without the date of its run: %s", row)
	}
	assert.Contains(t, perf[:strings.Index(perf, "\n## Summary\n")], "**Machine**", "docs/performance.md names no machine before its summary")
}

func TestNumbers(t *testing.T) {
	tests := map[string]struct {
		in   string
		want []string
	}{
		"decimal and range": {in: "1.3–1.9 KB", want: []string{"1.3", "1.9"}},
		"thousands":         {in: "with 10,000 deadlines, p99 336 ms", want: []string{"10,000", "336"}},
		"percentile names":  {in: "p50 0.87 s, p99 2.74 s", want: []string{"0.87", "2.74"}},
		"unit glued":        {in: "a 2-vCPU VM, +2.82 ms", want: []string{"2", "2.82"}},
		"path":              {in: "docs/performance.md#summary", want: nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.want, numbers(tc.in))
		})
	}
}
