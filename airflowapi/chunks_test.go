package airflowapi

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// airflowDB is the task instances an Airflow holds: what a chunk's filters
// match (dag_ids × dag_run_ids × task_ids, every map index) is read from it.
type airflowDB []TaskKey

// calls is what TaskInstances makes for cs against db: per chunk, one call
// per page of the rows its filters match, and one when none match.
func (db airflowDB) calls(cs []chunk, pageLimit int) int {
	n := 0
	for _, c := range cs {
		rows := 0
		for _, ti := range db {
			if covers(c.body, ti) {
				rows++
			}
		}
		n += max(1, ceilDiv(rows, pageLimit))
	}
	return n
}

func covers(b listBody, k TaskKey) bool {
	in := func(list []string, v string) bool {
		for _, x := range list {
			if x == v {
				return true
			}
		}
		return false
	}
	return in(b.DagIDs, k.DagID) && in(b.DagRunIDs, k.RunID) && in(b.TaskIDs, k.TaskID)
}

// requireChunked checks what chunks promises whatever the keys: each key in
// exactly one chunk (as many times as it was given), covered by that chunk's
// filters, each filter within maxFilterValues ids, no empty chunk.
func requireChunked(t testing.TB, keys []TaskKey, cs []chunk) {
	t.Helper()
	want := map[TaskKey]int{}
	for _, k := range keys {
		want[k]++
	}
	got := map[TaskKey]int{}
	for i, c := range cs {
		require.NotEmpty(t, c.keys, "chunk %d", i)
		require.LessOrEqual(t, len(c.body.DagIDs), maxFilterValues, "chunk %d dag_ids", i)
		require.LessOrEqual(t, len(c.body.DagRunIDs), maxFilterValues, "chunk %d dag_run_ids", i)
		require.LessOrEqual(t, len(c.body.TaskIDs), maxFilterValues, "chunk %d task_ids", i)
		for _, k := range c.keys {
			require.True(t, covers(c.body, k), "chunk %d does not ask for its key %+v", i, k)
			got[k]++
		}
	}
	require.Equal(t, want, got)
}

// benchDB is test/perf/trycheck's Airflow: dags DAGs of tasks tasks (t00…),
// runs daily runs each, their run_ids shared across DAGs.
func benchDB(dags, runs, tasks int) airflowDB {
	var db airflowDB
	for d := range dags {
		for r := range runs {
			for t := range tasks {
				db = append(db, TaskKey{DagID: fmt.Sprintf("bench_%03d", d), RunID: fmt.Sprintf("scheduled__2026-11-%02dT00:00:00+00:00", r+1), TaskID: fmt.Sprintf("t%02d", t), MapIndex: -1})
			}
		}
	}
	return db
}

// sparseOnePerRun is benchDB's runs with one tracked task instance each,
// run k of each DAG at task k (test/perf/trycheck -pods-per-run 1).
func sparseOnePerRun(db airflowDB) []TaskKey {
	var keys []TaskKey
	for i, k := range db {
		if r, tk := (i/10)%10, i%10; r == tk {
			keys = append(keys, k)
		}
	}
	return keys
}

func TestChunksCalls(t *testing.T) {
	tests := map[string]struct {
		db   airflowDB
		keys func(db airflowDB) []TaskKey
		// limit is the page_limit (0: 100).
		limit int
		// maxCalls is the bound; the comment says why it is the least
		// the filters allow.
		maxCalls int
	}{
		// 500 runs × 10 tasks, every task instance tracked: 5,000 rows,
		// 50 pages.
		"dense": {
			db:       benchDB(50, 10, 10),
			keys:     func(db airflowDB) []TaskKey { return db },
			maxCalls: 50,
		},
		// The same runs, one tracked task instance per run, run k of each
		// DAG at task k (test/perf/trycheck -pods-per-run 1). A body of D
		// DAGs, R runs and T tasks matches D×R×T rows, at most D×min(R,T)
		// of them tracked: one (run, task) is at most 50 rows (50 DAGs) in
		// a call, more are at most half tracked, 50 per page. 10 calls for
		// 500 keys (2 per 100) is the least.
		"sparse, one per run": {
			db:       benchDB(50, 10, 10),
			keys:     sparseOnePerRun,
			maxCalls: 10,
		},
		// The same at page 1000 ([api] maximum_page_limit raised): a body
		// of D DAGs and k runs at their k tasks is D×k² rows, D×k of them
		// tracked; with D ≤ 50, k = 4 (800 rows) holds the most, 200. 3
		// calls (200 + 200 + 100) for 500 keys is the least.
		"sparse, one per run, page 1000": {
			db:       benchDB(50, 10, 10),
			keys:     sparseOnePerRun,
			limit:    1000,
			maxCalls: 3,
		},
		// Dense at page 1000: 5,000 rows, 5 pages.
		"dense, page 1000": {
			db:       benchDB(50, 10, 10),
			keys:     func(db airflowDB) []TaskKey { return db },
			limit:    1000,
			maxCalls: 5,
		},
		// 300 DAGs triggered by hand (a run_id each), their own task ids,
		// one of 5 tasks tracked: 300 rows when asked exactly.
		"many DAGs, one run each, own task ids": {
			db: func() airflowDB {
				var db airflowDB
				for d := range 300 {
					for tk := range 5 {
						db = append(db, TaskKey{DagID: fmt.Sprintf("dag_%03d", d), RunID: fmt.Sprintf("manual__2026-12-07T09:%02d:%02d.%06d+00:00", d/60, d%60, d*7919), TaskID: fmt.Sprintf("dag_%03d_step_%d", d, tk), MapIndex: -1})
					}
				}
				return db
			}(),
			keys: func(db airflowDB) []TaskKey {
				var keys []TaskKey
				for i := 0; i < len(db); i += 5 {
					keys = append(keys, db[i+(i/5)%5])
				}
				return keys
			},
			maxCalls: 3,
		},
		// 300 DAGs from one template on one schedule: today's run_id and
		// the task ids shared, each DAG at another task. By task: 100 DAGs
		// at extract, 100 at transform, 100 at load, 100 rows each.
		"many DAGs sharing run_ids and task ids": {
			db: func() airflowDB {
				var db airflowDB
				for d := range 300 {
					for _, tk := range []string{"extract", "transform", "load"} {
						db = append(db, TaskKey{DagID: fmt.Sprintf("etl_%03d", d), RunID: "scheduled__2026-12-07T00:00:00+00:00", TaskID: tk, MapIndex: -1})
					}
				}
				return db
			}(),
			keys: func(db airflowDB) []TaskKey {
				var keys []TaskKey
				for i := 0; i < len(db); i += 3 {
					keys = append(keys, db[i+(i/3)%3])
				}
				return keys
			},
			maxCalls: 3,
		},
		// 20 runs of a DAG whose load task is mapped over 50 indexes, all
		// tracked, next to an unmapped task that is not: 1,000 rows.
		"mapped": {
			db: func() airflowDB {
				var db airflowDB
				for r := range 20 {
					run := fmt.Sprintf("scheduled__2026-11-%02dT00:00:00+00:00", r+1)
					db = append(db, TaskKey{DagID: "etl", RunID: run, TaskID: "extract", MapIndex: -1})
					for m := range 50 {
						db = append(db, TaskKey{DagID: "etl", RunID: run, TaskID: "load", MapIndex: m})
					}
				}
				return db
			}(),
			keys: func(db airflowDB) []TaskKey {
				var keys []TaskKey
				for _, k := range db {
					if k.TaskID == "load" {
						keys = append(keys, k)
					}
				}
				return keys
			},
			maxCalls: 10,
		},
		"single key": {
			db:       benchDB(2, 2, 2),
			keys:     func(db airflowDB) []TaskKey { return db[3:4] },
			maxCalls: 1,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			keys := tc.keys(tc.db)
			limit := tc.limit
			if limit == 0 {
				limit = 100
			}
			cs := chunks(keys, limit)
			requireChunked(t, keys, cs)
			calls := tc.db.calls(cs, limit)
			t.Logf("%d keys: %d chunks, %d calls", len(keys), len(cs), calls)
			assert.LessOrEqual(t, calls, tc.maxCalls)
		})
	}
}

func TestChunksFilterBound(t *testing.T) {
	// 250 runs of one task: the run_ids filter holds 100 at most.
	var keys []TaskKey
	for i := range 250 {
		keys = append(keys, TaskKey{DagID: "etl", RunID: fmt.Sprintf("run%03d", i), TaskID: "load", MapIndex: -1})
	}
	cs := chunks(keys, 1000)
	requireChunked(t, keys, cs)
	require.Len(t, cs, 3)
	assert.Len(t, cs[0].body.DagRunIDs, 100)
	assert.Len(t, cs[2].body.DagRunIDs, 50)
	assert.Equal(t, []string{"load"}, cs[1].body.TaskIDs)
}

func TestChunksPageLimit(t *testing.T) {
	// A smaller page limit makes smaller chunks, but a (dag, run, task) of
	// more map indexes than a page stays in one chunk.
	var keys []TaskKey
	for r := range 4 {
		for m := range 30 {
			keys = append(keys, TaskKey{DagID: "etl", RunID: fmt.Sprint("run", r), TaskID: "load", MapIndex: m})
		}
	}
	cs := chunks(keys, 20)
	requireChunked(t, keys, cs)
	assert.Len(t, cs, 4)
	cs = chunks(keys, 60)
	requireChunked(t, keys, cs)
	assert.Len(t, cs, 2)
	assert.Empty(t, chunks(nil, 100))
}

func FuzzChunks(f *testing.F) {
	f.Add(uint64(1), uint16(10), uint8(3), uint8(3), uint8(3), uint8(100))
	f.Add(uint64(7), uint16(5000), uint8(200), uint8(200), uint8(200), uint8(50))
	f.Add(uint64(9), uint16(900), uint8(1), uint8(150), uint8(2), uint8(1))
	f.Add(uint64(3), uint16(2999), uint8(60), uint8(12), uint8(12), uint8(89)) // page 991
	f.Fuzz(func(t *testing.T, seed uint64, n uint16, dags, runs, tasks, limit uint8) {
		rng := rand.New(rand.NewPCG(seed, 0))
		pick := func(m uint8) int { return rng.IntN(int(m) + 1) }
		keys := make([]TaskKey, int(n)%3000)
		for i := range keys {
			keys[i] = TaskKey{DagID: fmt.Sprint("d", pick(dags)), RunID: fmt.Sprint("r", pick(runs)), TaskID: fmt.Sprint("t", pick(tasks)), MapIndex: pick(3) - 1}
		}
		// Page limits from 1 to 8,129 (--airflow-page-limit), the small
		// ones densest.
		pageLimit := 1 + int(limit)*int(limit)/8
		cs := chunks(keys, pageLimit)
		requireChunked(t, keys, cs)
		// The pods come in any order: the bodies must not depend on it.
		rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
		again := chunks(keys, pageLimit)
		require.Len(t, again, len(cs))
		for i := range cs {
			require.Equal(t, cs[i].body, again[i].body, "chunk %d", i)
		}
	})
}

// BenchmarkChunks is what choosing the chunks costs the sweeper per poll
// (docs/performance.md): the dense shape at 5,000 and 50,000 tries.
func BenchmarkChunks(b *testing.B) {
	for _, dags := range []int{50, 500} {
		keys := benchDB(dags, 10, 10)
		b.Run(fmt.Sprint(len(keys)), func(b *testing.B) {
			for range b.N {
				chunks(keys, 100)
			}
		})
	}
}
