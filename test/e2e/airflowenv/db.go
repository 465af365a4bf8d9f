package airflowenv

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

//go:embed query.py
var queryPy string

// Query runs a read-only SQL statement on the metadata database with the
// venv's Python (sqlite3; no Airflow import) and returns the rows.
func (a *Airflow) Query(ctx context.Context, sql string, params ...any) ([][]any, error) {
	if params == nil {
		params = []any{}
	}
	p, err := json.Marshal(params)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, a.bin("python"), "-c", queryPy, a.DB, sql, string(p))
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = tail(string(ee.Stderr), 5)
		}
		return nil, fmt.Errorf("query %q: %w %s", sql, err, msg)
	}
	var rows [][]any
	if err := json.Unmarshal(out, &rows); err != nil {
		return nil, fmt.Errorf("query %q: %w", sql, err)
	}
	return rows, nil
}

// ParseTime reads a datetime column of Query's rows (see parseTime).
func ParseTime(v any) (time.Time, error) { return parseTime(v) }

// parseTime reads a datetime as SQLAlchemy stores it in SQLite (UTC,
// "2026-12-01 22:48:17.586463", with or without an offset); zero for NULL.
func parseTime(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok || s == "" {
		return time.Time{}, nil
	}
	s = strings.Replace(s, " ", "T", 1)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05.999999999-07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("unparsable time %q", s)
}
