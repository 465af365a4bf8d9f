package deadline

import "testing"

// Native fuzz targets. Their seed corpora run in every `go test`;
// `make fuzz` explores each for FUZZTIME.

var parseSeeds = []string{
	"2026-05-20T10:15:30Z", "2026-05-20T10:15:30.123456+00:00", "2026-05-20 10:15:30+02:00", "1779272130", "1779272130.5",
	"30s", "1h30m", "30", "30.0", "PT30S", "P1DT2H", "PT1,5S", "0:00:30", "1 day, 0:00:05", "2 days, 1:00:00.5",
	"", " ", "-1 day, 23:59:30", "99999999999999999999", "P", "PT", "1e3", "0x10", "2026-05-20T10:15:30", "\x00",
}

func FuzzParseDeadline(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		at, err := deadlineValue(v)
		if err != nil {
			return
		}
		// Whatever is accepted survives the stamped form exactly.
		back, err := deadlineValue(Format(at))
		if err != nil || !back.Equal(at) {
			t.Fatalf("%q -> %s -> %q: %v", v, at, Format(at), err)
		}
	})
}

func FuzzParseTimeout(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, err := timeoutValue(v)
		if err != nil {
			return
		}
		if d <= 0 || d > MaxBudget {
			t.Fatalf("%q accepted as %s, outside (0, %s]", v, d, MaxBudget)
		}
		if v != "" && (v[0] == ' ' || v[len(v)-1] == ' ') {
			t.Fatalf("%q accepted with surrounding whitespace", v)
		}
	})
}
