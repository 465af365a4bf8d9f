package airflowapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests pin the parsing and the protocol edges (pagination that does not
// add up, 401 refresh, bounded bodies) that a real Airflow will not produce
// on demand; integration_test.go in test/ runs the client against real
// Airflow API servers.

func creds(t *testing.T, user, pass string) string {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, UsernameFile), []byte(user+"\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, PasswordFile), []byte(pass), 0o600))
	return dir
}

type fakeTI struct {
	DagID     string  `json:"dag_id"`
	DagRunID  string  `json:"dag_run_id"`
	TaskID    string  `json:"task_id"`
	MapIndex  int     `json:"map_index"`
	State     *string `json:"state"`
	TryNumber int     `json:"try_number"`
	EndDate   *string `json:"end_date"`
	StartDate *string `json:"start_date,omitempty"`
	ID        *string `json:"id,omitempty"`
}

// served counts the list calls a server answered and keeps the page_limit
// the last one asked for.
type served struct{ pages, asked atomic.Int32 }

// server answers the list with rows, page_limit capped at maxLimit; mutate
// may change the answer per page.
func server(t *testing.T, version string, rows []fakeTI, maxLimit int, mutate func(page int, ans map[string]any)) (*httptest.Server, *served) {
	var got served
	mux := http.NewServeMux()
	mux.HandleFunc("POST /auth/token", func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		_ = json.NewDecoder(r.Body).Decode(&body)
		if body["username"] != "reader" || body["password"] != "secret" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"detail":"Invalid credentials"}`)
			return
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"access_token":"tok"}`)
	})
	mux.HandleFunc("POST /api/"+version+"/dags/~/dagRuns/~/taskInstances/list", func(w http.ResponseWriter, r *http.Request) {
		if version == V2 && r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"detail":"Not authenticated"}`)
			return
		}
		if u, p, _ := r.BasicAuth(); version == V1 && (u != "reader" || p != "secret") {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var body map[string]any
		require.NoError(t, json.NewDecoder(r.Body).Decode(&body))
		asked := int(body["page_limit"].(float64))
		got.asked.Store(int32(asked))
		off, limit := int(body["page_offset"].(float64)), min(asked, maxLimit)
		end := min(off+limit, len(rows))
		page := rows[min(off, len(rows)):end]
		ans := map[string]any{"task_instances": page, "total_entries": len(rows)}
		n := int(got.pages.Add(1))
		if mutate != nil {
			mutate(n, ans)
		}
		_ = json.NewEncoder(w).Encode(ans)
	})
	mux.HandleFunc("GET /api/"+version+"/dags/{dag}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("dag") == "gone" {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"detail":"Dag with id gone was not found"}`)
			return
		}
		if r.PathValue("dag") == "proxied" {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `<html>404</html>`)
			return
		}
		fmt.Fprint(w, `{"dag_id":"x"}`)
	})
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s, &got
}

func rows(n int) ([]fakeTI, []TaskKey) {
	var out []fakeTI
	var keys []TaskKey
	for i := range n {
		st := "running"
		out = append(out, fakeTI{DagID: "etl", DagRunID: "run", TaskID: "load", MapIndex: i, State: &st, TryNumber: 1})
		keys = append(keys, TaskKey{DagID: "etl", RunID: "run", TaskID: "load", MapIndex: i})
	}
	return out, keys
}

func newClient(t *testing.T, url, version, dir string) *Client {
	c, err := New(Config{Instance: "prod", URL: url, Version: version, CredentialsDir: dir, Timeout: 5 * time.Second})
	require.NoError(t, err)
	return c
}

func TestTaskInstancesPaginates(t *testing.T) {
	for _, version := range []string{V2, V1} {
		t.Run(version, func(t *testing.T) {
			r, keys := rows(250)
			s, got := server(t, version, r, 100, nil)
			b, err := newClient(t, s.URL, version, creds(t, "reader", "secret")).TaskInstances(context.Background(), keys)
			require.NoError(t, err)
			assert.True(t, b.Complete)
			assert.Len(t, b.Found, 250)
			assert.Equal(t, int32(3), got.pages.Load())
			assert.Equal(t, int32(100), got.asked.Load(), "the default page_limit")
			assert.Equal(t, 3, b.Calls)
			assert.Equal(t, TaskInstance{TaskKey: keys[7], State: "running", TryNumber: 1}, b.Found[keys[7]])
		})
	}
}

// TestTaskInstancesServerCapsThePageLimit: a server that answers fewer rows
// than page_limit (Airflow 2's [api] maximum_page_limit, or a proxy's) costs
// pages, never rows: the offset advances by what came back.
func TestTaskInstancesServerCapsThePageLimit(t *testing.T) {
	for name, tc := range map[string]struct {
		version            string
		pageLimit, maxPage int
		rows, wantPages    int
	}{
		"default page, the server's maximum 50":          {V2, 0, 50, 120, 3},
		"page 1000, the server's maximum 100 (v1)":       {V1, 1000, 100, 250, 3},
		"page 1000, the server's maximum 100 (v2)":       {V2, 1000, 100, 250, 3},
		"page 1000, the server's maximum 1000":           {V2, 1000, 1000, 2500, 3},
		"page 1000, the server's maximum 1000, one page": {V1, 1000, 1000, 250, 1},
	} {
		t.Run(name, func(t *testing.T) {
			r, keys := rows(tc.rows)
			s, got := server(t, tc.version, r, tc.maxPage, nil)
			c, err := New(Config{Instance: "prod", URL: s.URL, Version: tc.version, CredentialsDir: creds(t, "reader", "secret"), Timeout: 5 * time.Second, PageLimit: tc.pageLimit})
			require.NoError(t, err)
			b, err := c.TaskInstances(context.Background(), keys)
			require.NoError(t, err)
			assert.True(t, b.Complete)
			assert.Len(t, b.Found, tc.rows)
			assert.Equal(t, int32(tc.wantPages), got.pages.Load())
			assert.Equal(t, tc.wantPages, b.Calls)
			assert.Equal(t, int32(max(tc.pageLimit, 100)), got.asked.Load(), "page_limit as configured")
		})
	}
}

func TestTaskInstancesIncomplete(t *testing.T) {
	tests := map[string]func(page int, ans map[string]any){
		"total changes between pages": func(page int, ans map[string]any) {
			if page == 2 {
				ans["total_entries"] = 251
			}
		},
		"a page repeats a row (v1 has no order)": func(page int, ans map[string]any) {
			if page == 2 {
				tis := ans["task_instances"].([]fakeTI)
				tis[0] = tis[1]
			}
		},
		"an empty page before the total": func(page int, ans map[string]any) {
			if page == 2 {
				ans["task_instances"] = []fakeTI{}
			}
		},
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			r, keys := rows(250)
			s, _ := server(t, V1, r, 100, mutate)
			b, err := newClient(t, s.URL, V1, creds(t, "reader", "secret")).TaskInstances(context.Background(), keys)
			require.NoError(t, err)
			assert.False(t, b.Complete)
		})
	}
}

func TestTaskInstancesErrors(t *testing.T) {
	tests := map[string]struct {
		handler http.HandlerFunc
		kind    string
	}{
		"500":      {func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) }, KindHTTP},
		"403":      {func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(403) }, KindAuth},
		"not JSON": {func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "<html>") }, KindParse},
		"no total": {func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `{"task_instances":[]}`) }, KindParse},
		"no try_number": {func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, `{"total_entries":1,"task_instances":[{"dag_id":"a","dag_run_id":"r","task_id":"t","map_index":-1,"state":"failed"}]}`)
		}, KindParse},
		"too large": {func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, `{"total_entries":1,"x":"`+strings.Repeat("a", maxBody)+`"}`)
		}, KindParse},
		"slow": {func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(time.Second):
			}
		}, KindTimeout},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := httptest.NewServer(tc.handler)
			defer s.Close()
			timeout := 30 * time.Second // an 8 MiB body under -race on a loaded machine
			if tc.kind == KindTimeout {
				timeout = 200 * time.Millisecond
			}
			c, err := New(Config{Instance: "prod", URL: s.URL, Version: V1, CredentialsDir: creds(t, "reader", "secret"), Timeout: timeout})
			require.NoError(t, err)
			_, err = c.TaskInstances(context.Background(), []TaskKey{{DagID: "a", RunID: "r", TaskID: "t", MapIndex: -1}})
			require.Error(t, err)
			assert.Equal(t, tc.kind, KindOf(err), err.Error())
		})
	}
	t.Run("connection refused", func(t *testing.T) {
		s := httptest.NewServer(http.NotFoundHandler())
		s.Close()
		_, err := newClient(t, s.URL, V2, creds(t, "reader", "secret")).TaskInstances(context.Background(), []TaskKey{{DagID: "a"}})
		assert.Equal(t, KindNetwork, KindOf(err))
	})
}

// TestBodyBoundGrowsWithThePage: a page of more rows may be a larger body,
// 16 KiB a row past the 8 MiB that bounds any page of 512 rows or fewer.
func TestBodyBoundGrowsWithThePage(t *testing.T) {
	body := `{"total_entries":1,"x":"` + strings.Repeat("a", 12<<20) + `","task_instances":[{"dag_id":"a","dag_run_id":"r","task_id":"t","map_index":-1,"state":"running","try_number":1}]}`
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, body) }))
	defer s.Close()
	key := []TaskKey{{DagID: "a", RunID: "r", TaskID: "t", MapIndex: -1}}
	for name, tc := range map[string]struct {
		pageLimit int
		ok        bool
	}{
		"default page: 8 MiB": {0, false},
		"page 512: 8 MiB":     {512, false},
		"page 1000: 15.6 MiB": {1000, true},
		"page 10000: 156 MiB": {10000, true},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := New(Config{Instance: "prod", URL: s.URL, Version: V1, CredentialsDir: creds(t, "reader", "secret"), Timeout: 30 * time.Second, PageLimit: tc.pageLimit})
			require.NoError(t, err)
			b, err := c.TaskInstances(context.Background(), key)
			if !tc.ok {
				require.Error(t, err)
				assert.Equal(t, KindParse, KindOf(err))
				assert.Contains(t, err.Error(), "response body too large: over 8388608 bytes")
				return
			}
			require.NoError(t, err)
			assert.Len(t, b.Found, 1)
		})
	}
}

func TestTokenRefreshedOnceOn401(t *testing.T) {
	r, keys := rows(3)
	s, _ := server(t, V2, r, 100, nil)
	c := newClient(t, s.URL, V2, creds(t, "reader", "secret"))
	c.token = "expired"
	b, err := c.TaskInstances(context.Background(), keys)
	require.NoError(t, err)
	assert.Len(t, b.Found, 3)
	assert.Equal(t, "tok", c.token)

	bad := newClient(t, s.URL, V2, creds(t, "reader", "wrong"))
	_, err = bad.TaskInstances(context.Background(), keys)
	assert.Equal(t, KindAuth, KindOf(err))
	s1, _ := server(t, V1, r, 100, nil)
	_, err = newClient(t, s1.URL, V1, creds(t, "reader", "wrong")).TaskInstances(context.Background(), keys)
	assert.Equal(t, KindAuth, KindOf(err))
	_, err = newClient(t, s1.URL, V1, t.TempDir()).TaskInstances(context.Background(), keys)
	assert.Equal(t, KindAuth, KindOf(err), "no credential files")
}

func TestDAGExists(t *testing.T) {
	s, _ := server(t, V2, nil, 100, nil)
	c := newClient(t, s.URL, V2, creds(t, "reader", "secret"))
	ok, err := c.DAGExists(context.Background(), "etl")
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = c.DAGExists(context.Background(), "gone")
	require.NoError(t, err)
	assert.False(t, ok)
	_, err = c.DAGExists(context.Background(), "proxied")
	assert.Error(t, err, "a 404 that is not Airflow's proves nothing")
}

func TestNewRejects(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no scheme":   {URL: "host:8080", Version: V2, Timeout: time.Second},
		"bad version": {URL: "http://h", Version: "v3", Timeout: time.Second},
		"no timeout":  {URL: "http://h", Version: V2},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(cfg)
			assert.Error(t, err)
		})
	}
}

// TestTaskInstancesEndDate: end_date as each API writes it; a null or odd
// value is no end (it only times an action, see TaskInstance.EndDate).
func TestTaskInstancesEndDate(t *testing.T) {
	want := time.Date(2026, 12, 7, 11, 30, 5, 123456000, time.UTC)
	for name, tc := range map[string]struct {
		value *string
		want  time.Time
	}{
		"v2 (Z)":       {value: ptr("2026-12-07T11:30:05.123456Z"), want: want},
		"v1 (+00:00)":  {value: ptr("2026-12-07T11:30:05.123456+00:00"), want: want},
		"other offset": {value: ptr("2026-12-07T12:30:05.123456+01:00"), want: want},
		"null":         {},
		"not a time":   {value: ptr("yesterday")},
	} {
		t.Run(name, func(t *testing.T) {
			r, keys := rows(1)
			r[0].EndDate = tc.value
			s, _ := server(t, V2, r, 100, nil)
			b, err := newClient(t, s.URL, V2, creds(t, "reader", "secret")).TaskInstances(context.Background(), keys)
			require.NoError(t, err)
			got := b.Found[keys[0]].EndDate
			assert.True(t, got.Equal(tc.want), "got %s, want %s", got, tc.want)
			assert.True(t, b.Complete)
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestTaskInstancesIDAndStart: what confirms the Airflow (sweeper.Confirms):
// v2's id (lowercased) and start_date; none on a row without them (v1).
func TestTaskInstancesIDAndStart(t *testing.T) {
	r, keys := rows(2)
	r[0].ID, r[0].StartDate = ptr("0193A5B2-7C1E-7D3A-9F00-0123456789AB"), ptr("2026-12-07T12:07:02.600977Z")
	s, _ := server(t, V2, r, 100, nil)
	b, err := newClient(t, s.URL, V2, creds(t, "reader", "secret")).TaskInstances(context.Background(), keys)
	require.NoError(t, err)
	assert.Equal(t, "0193a5b2-7c1e-7d3a-9f00-0123456789ab", b.Found[keys[0]].ID)
	assert.True(t, b.Found[keys[0]].StartDate.Equal(time.Date(2026, 12, 7, 12, 7, 2, 600977000, time.UTC)))
	assert.Empty(t, b.Found[keys[1]].ID)
	assert.True(t, b.Found[keys[1]].StartDate.IsZero())
}
