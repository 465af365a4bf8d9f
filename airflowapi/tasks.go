package airflowapi

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// TaskKey names one task instance: (dag_id, dag_run_id, task_id, map_index),
// map_index -1 when the task is not mapped.
type TaskKey struct {
	DagID, RunID, TaskID string
	MapIndex             int
}

// TaskInstance is what the check reads of a task instance.
type TaskInstance struct {
	TaskKey
	// State is Airflow's state, "" for null (no state yet).
	State string
	// TryNumber is the current try.
	TryNumber int
	// EndDate is when Airflow recorded the current try's end; zero when it
	// did not (null: a live try, or a state Airflow sets without one) or
	// when the value does not parse. It only times the check's action
	// (sweeper.HandoffDue), never decides it, so an odd value is not an
	// error.
	EndDate time.Time
	// StartDate is when the current try started, as Airflow recorded it;
	// zero when null or unreadable. Only the check's confirmation that it
	// asks the right Airflow reads it (sweeper.Confirms).
	StartDate time.Time
	// ID is the task instance's id (Airflow 3's API v2, a UUID new for
	// every try); empty on API v1. Like StartDate, only the confirmation
	// reads it.
	ID string
}

// Batch is Airflow's answer for a set of keys.
type Batch struct {
	// Found holds the task instances that exist, by key. It may hold others
	// (the filters are per column, so their cross product is asked for).
	Found map[TaskKey]TaskInstance
	// Complete says every page of every chunk was read and the pages added up
	// to each chunk's total_entries with no duplicate: only then is a key
	// absent from Found known not to exist. Found is trustworthy either way.
	Complete bool
	// Calls counts the HTTP list requests made (pages included).
	Calls int
}

// maxFilterValues bounds the ids in one request's filters, so a chunk's
// cross product stays small and the body far below any proxy's limit.
const maxFilterValues = 100

// maxPages bounds the pages read for one chunk; past it the batch is
// incomplete (and so proves no absence).
const maxPages = 200

// listBody is the batch body, the same fields in v2's TaskInstancesBatchBody
// and v1's ListTaskInstanceForm. v2 refuses unknown fields
// (additionalProperties: false); v1 has no order_by and orders nothing, so
// its pagination is checked for duplicates (see page).
type listBody struct {
	DagIDs     []string `json:"dag_ids"`
	DagRunIDs  []string `json:"dag_run_ids"`
	TaskIDs    []string `json:"task_ids"`
	PageOffset int      `json:"page_offset"`
	PageLimit  int      `json:"page_limit"`
	OrderBy    string   `json:"order_by,omitempty"`
}

// listAnswer is TaskInstanceCollectionResponse (v2) / TaskInstanceCollection
// (v1): the fields read of each TaskInstanceResponse / TaskInstance.
type listAnswer struct {
	TaskInstances []struct {
		DagID     *string `json:"dag_id"`
		DagRunID  *string `json:"dag_run_id"`
		TaskID    *string `json:"task_id"`
		MapIndex  *int    `json:"map_index"`
		State     *string `json:"state"`
		TryNumber *int    `json:"try_number"`
		EndDate   *string `json:"end_date"`
		StartDate *string `json:"start_date"`
		ID        *string `json:"id"`
	} `json:"task_instances"`
	TotalEntries *int `json:"total_entries"`
}

var errMalformed = errors.New("a task instance lacks dag_id, dag_run_id, task_id, map_index or try_number")

// TaskInstances lists the task instances of keys: POST
// /api/{v2,v1}/dags/~/dagRuns/~/taskInstances/list (operationId
// get_task_instances_batch in both specs), in chunks of at most
// maxFilterValues ids per filter, each read page by page (page_offset,
// page_limit) until total_entries. An error means nothing is known.
func (c *Client) TaskInstances(ctx context.Context, keys []TaskKey) (Batch, error) {
	b := Batch{Found: map[TaskKey]TaskInstance{}, Complete: true}
	for _, ch := range chunks(keys, c.cfg.PageLimit) {
		complete, err := c.listChunk(ctx, ch.body, &b)
		if err != nil {
			return Batch{Calls: b.Calls}, err
		}
		b.Complete = b.Complete && complete
	}
	return b, nil
}

func (c *Client) listChunk(ctx context.Context, f listBody, b *Batch) (complete bool, err error) {
	u := c.apiPath("/dags/~/dagRuns/~/taskInstances/list")
	if c.cfg.Version == V2 {
		f.OrderBy = "id" // a stable order across pages
	}
	f.PageLimit = c.cfg.PageLimit
	seen := map[TaskKey]bool{}
	total := -1
	for page := 0; page < maxPages; page++ {
		var ans listAnswer
		b.Calls++
		if _, err := c.call(ctx, "list_task_instances", http.MethodPost, u, f, &ans); err != nil {
			return false, err
		}
		if ans.TotalEntries == nil {
			return false, &Error{Kind: KindParse, Op: "list_task_instances", Err: errors.New("no total_entries")}
		}
		if total >= 0 && *ans.TotalEntries != total {
			// Rows came or went between pages: what was read is true, but
			// an absence proves nothing.
			complete = false
		} else if total < 0 {
			total, complete = *ans.TotalEntries, true
		}
		for _, ti := range ans.TaskInstances {
			if ti.DagID == nil || ti.DagRunID == nil || ti.TaskID == nil || ti.MapIndex == nil || ti.TryNumber == nil {
				return false, &Error{Kind: KindParse, Op: "list_task_instances", Err: errMalformed}
			}
			k := TaskKey{DagID: *ti.DagID, RunID: *ti.DagRunID, TaskID: *ti.TaskID, MapIndex: *ti.MapIndex}
			if seen[k] {
				complete = false // an unordered page repeated a row, so another was skipped
			}
			seen[k] = true
			state := ""
			if ti.State != nil && *ti.State != "none" { // v1's deprecated "none" is null
				state = *ti.State
			}
			id := ""
			if ti.ID != nil {
				id = strings.ToLower(*ti.ID)
			}
			b.Found[k] = TaskInstance{TaskKey: k, State: state, TryNumber: *ti.TryNumber, EndDate: parseTime(ti.EndDate), StartDate: parseTime(ti.StartDate), ID: id}
		}
		f.PageOffset += len(ans.TaskInstances)
		// A server may answer fewer rows than page_limit (one that caps it
		// at its [api] maximum_page_limit, or a proxy; Airflow 2.11.2 and
		// 3.3.2 do not): the offset advances by what came back, and an
		// empty page ends it.
		if f.PageOffset >= total || len(ans.TaskInstances) == 0 {
			return complete && len(seen) == total, nil
		}
	}
	return false, nil
}

// chunk is one request body and the keys it was made for.
type chunk struct {
	body listBody
	keys []TaskKey
}

// ikey is a key with its ids interned (ranks in sorted order, so comparing
// them compares the strings) and its index in the keys.
type ikey struct {
	dag, run, task, mapIndex, i int
}

// keyOrders are the orders chunks tries. The filters are per column, so a
// chunk matches every task instance in dag_ids × dag_run_ids × task_ids: a
// chunk is cheap when its keys fill that product. By DAG, the runs of one DAG
// where most of their tasks are tracked; by task and run, the DAGs at one
// point of a shared schedule (scheduled__<date> run ids, task names from one
// template), where each run is at another task.
var keyOrders = []func(a, b ikey) int{
	func(a, b ikey) int {
		return cmpInts(a.dag, b.dag, a.task, b.task, a.run, b.run, a.mapIndex, b.mapIndex)
	},
	func(a, b ikey) int {
		return cmpInts(a.dag, b.dag, a.run, b.run, a.task, b.task, a.mapIndex, b.mapIndex)
	},
	func(a, b ikey) int {
		return cmpInts(a.task, b.task, a.run, b.run, a.dag, b.dag, a.mapIndex, b.mapIndex)
	},
	func(a, b ikey) int {
		return cmpInts(a.run, b.run, a.task, b.task, a.dag, b.dag, a.mapIndex, b.mapIndex)
	},
}

func cmpInts(a1, b1, a2, b2, a3, b3, a4, b4 int) int {
	if c := cmp.Compare(a1, b1); c != 0 {
		return c
	}
	if c := cmp.Compare(a2, b2); c != 0 {
		return c
	}
	if c := cmp.Compare(a3, b3); c != 0 {
		return c
	}
	return cmp.Compare(a4, b4)
}

// chunks groups keys into request bodies of at most maxFilterValues distinct
// ids per filter, each key in exactly one, so that the task instances a
// body's filters match (an estimate, see shape) stay within pageLimit: a key
// joins the current chunk only while the estimate stays within it (or the
// key adds no id). Of the chunkings by each of keyOrders, the one with the
// fewest estimated pages wins. The estimate may be short (ids shared across
// DAGs that no key shows): that costs pages, never correctness, as every
// page is read and matched by key. A chunk stays within one page even where
// a larger one would match no more rows: each page makes Airflow count and
// skip through the chunk's whole cross product, and one 5,000-row chunk read
// in 50 pages cost its api-server about three times the CPU of 50 one-page
// chunks (docs/performance.md, "The try check at scale").
func chunks(keys []TaskKey, pageLimit int) []chunk {
	if len(keys) == 0 {
		return nil
	}
	sh := newShape(keys)
	var best []chunk
	bestPages := -1
	for _, order := range keyOrders {
		sorted := slices.Clone(sh.keys)
		slices.SortFunc(sorted, order)
		cs, pages := sh.pack(sorted, pageLimit)
		if bestPages < 0 || pages < bestPages {
			best, bestPages = cs, pages
		}
	}
	return best
}

// shape is what the keys tell of Airflow's task instances: the run ids and
// task ids each DAG has, the map indexes of each task, and which ids more
// than one DAG uses (then every DAG of a chunk is taken to have them, as
// DAGs on one schedule share scheduled__<date> run ids and DAGs made from
// one template share task ids).
type shape struct {
	src                    []TaskKey
	keys                   []ikey
	dags, runs, tasks      []string // by rank
	dagRun, dagTask        map[[2]int]bool
	mapped                 map[[2]int]int // distinct map indexes by (dag, task), the most of any run
	sharedRun, sharedTasks []bool
}

// intern ranks the distinct values of id over keys.
func intern(keys []TaskKey, id func(TaskKey) string) ([]string, map[string]int) {
	rank := map[string]int{}
	for _, k := range keys {
		rank[id(k)] = 0
	}
	names := make([]string, 0, len(rank))
	for v := range rank {
		names = append(names, v)
	}
	slices.Sort(names)
	for i, v := range names {
		rank[v] = i
	}
	return names, rank
}

func newShape(keys []TaskKey) *shape {
	sh := &shape{src: keys, keys: make([]ikey, len(keys)), dagRun: map[[2]int]bool{}, dagTask: map[[2]int]bool{}, mapped: map[[2]int]int{}}
	var dagRank, runRank, taskRank map[string]int
	sh.dags, dagRank = intern(keys, func(k TaskKey) string { return k.DagID })
	sh.runs, runRank = intern(keys, func(k TaskKey) string { return k.RunID })
	sh.tasks, taskRank = intern(keys, func(k TaskKey) string { return k.TaskID })
	sh.sharedRun, sh.sharedTasks = make([]bool, len(sh.runs)), make([]bool, len(sh.tasks))
	runDag, taskDag := make([]int, len(sh.runs)), make([]int, len(sh.tasks))
	for i := range runDag {
		runDag[i] = -1
	}
	for i := range taskDag {
		taskDag[i] = -1
	}
	seen := map[ikey]bool{}
	perRun := map[[3]int]int{} // distinct map indexes by (dag, run, task)
	for i, k := range keys {
		ik := ikey{dag: dagRank[k.DagID], run: runRank[k.RunID], task: taskRank[k.TaskID], mapIndex: k.MapIndex}
		if runDag[ik.run] >= 0 && runDag[ik.run] != ik.dag {
			sh.sharedRun[ik.run] = true
		}
		runDag[ik.run] = ik.dag
		if taskDag[ik.task] >= 0 && taskDag[ik.task] != ik.dag {
			sh.sharedTasks[ik.task] = true
		}
		taskDag[ik.task] = ik.dag
		sh.dagRun[[2]int{ik.dag, ik.run}], sh.dagTask[[2]int{ik.dag, ik.task}] = true, true
		if !seen[ik] {
			seen[ik] = true
			rt := [3]int{ik.dag, ik.run, ik.task}
			perRun[rt]++
			dt := [2]int{ik.dag, ik.task}
			sh.mapped[dt] = max(sh.mapped[dt], perRun[rt])
		}
		ik.i = i
		sh.keys[i] = ik
	}
	return sh
}

func (sh *shape) hasRun(dag, run int) bool { return sh.sharedRun[run] || sh.dagRun[[2]int{dag, run}] }
func (sh *shape) hasTask(dag, task int) bool {
	return sh.sharedTasks[task] || sh.dagTask[[2]int{dag, task}]
}

// rows is how many task instances dag's task matches per run.
func (sh *shape) rows(dag, task int) int { return max(1, sh.mapped[[2]int{dag, task}]) }

// pack cuts sorted keys into chunks and returns them with their estimated
// pages: Σ over chunks of ceil(estimated rows / pageLimit).
func (sh *shape) pack(sorted []ikey, pageLimit int) ([]chunk, int) {
	var out []chunk
	pages := 0
	p := newPacker(sh)
	flush := func(keys []ikey, nd, nr, nt, est int) {
		c := chunk{keys: make([]TaskKey, len(keys))}
		for i, k := range keys {
			c.keys[i] = sh.src[k.i]
		}
		for _, d := range p.dagList[:nd] {
			c.body.DagIDs = append(c.body.DagIDs, sh.dags[d])
		}
		for _, r := range p.runList[:nr] {
			c.body.DagRunIDs = append(c.body.DagRunIDs, sh.runs[r])
		}
		for _, t := range p.taskList[:nt] {
			c.body.TaskIDs = append(c.body.TaskIDs, sh.tasks[t])
		}
		out, pages = append(out, c), pages+ceilDiv(est, pageLimit)
	}
	start := 0 // the current chunk is sorted[start:i]
	for i, k := range sorted {
		before := p.est
		nd, nr, nt := len(p.dagList), len(p.runList), len(p.taskList)
		p.add(k)
		over := len(p.dagList) > maxFilterValues || len(p.runList) > maxFilterValues || len(p.taskList) > maxFilterValues ||
			p.est > pageLimit && p.est > before
		if over && i > start {
			// The chunk as it was before k, then k starts the next.
			flush(sorted[start:i], nd, nr, nt, before)
			p.reset()
			p.add(k)
			start = i
		}
	}
	flush(sorted[start:], len(p.dagList), len(p.runList), len(p.taskList), p.est)
	return out, pages
}

// parseTime reads a start_date or end_date: RFC 3339 with fractional seconds, "Z" (v2)
// or "+00:00" (v1). Null or unreadable: zero.
func parseTime(v *string) time.Time {
	if v == nil {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, *v)
	if err != nil {
		return time.Time{}
	}
	return t
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// packer is the chunk being filled and its estimated rows: Σ over its DAGs of
// (its run ids the DAG has) × (Σ over its task ids the DAG has of their map
// indexes), kept up to date as ids join.
type packer struct {
	sh                         *shape
	inDag, inRun, inTask       []bool // by rank: in the chunk
	dagList, runList, taskList []int  // the chunk's ids, in order
	runsOf, rowsPerRun         []int  // by dag rank
	est                        int
}

func newPacker(sh *shape) *packer {
	return &packer{
		sh: sh, inDag: make([]bool, len(sh.dags)), inRun: make([]bool, len(sh.runs)), inTask: make([]bool, len(sh.tasks)),
		runsOf: make([]int, len(sh.dags)), rowsPerRun: make([]int, len(sh.dags)),
	}
}

func (p *packer) reset() {
	for _, d := range p.dagList {
		p.inDag[d], p.runsOf[d], p.rowsPerRun[d] = false, 0, 0
	}
	for _, r := range p.runList {
		p.inRun[r] = false
	}
	for _, t := range p.taskList {
		p.inTask[t] = false
	}
	p.dagList, p.runList, p.taskList, p.est = p.dagList[:0], p.runList[:0], p.taskList[:0], 0
}

func (p *packer) add(k ikey) {
	sh := p.sh
	if !p.inDag[k.dag] {
		p.inDag[k.dag] = true
		p.dagList = append(p.dagList, k.dag)
		for _, r := range p.runList {
			if sh.hasRun(k.dag, r) {
				p.runsOf[k.dag]++
			}
		}
		for _, t := range p.taskList {
			if sh.hasTask(k.dag, t) {
				p.rowsPerRun[k.dag] += sh.rows(k.dag, t)
			}
		}
		p.est += p.runsOf[k.dag] * p.rowsPerRun[k.dag]
	}
	if !p.inRun[k.run] {
		p.inRun[k.run] = true
		p.runList = append(p.runList, k.run)
		for _, d := range p.dagList {
			if sh.hasRun(d, k.run) {
				p.runsOf[d]++
				p.est += p.rowsPerRun[d]
			}
		}
	}
	if !p.inTask[k.task] {
		p.inTask[k.task] = true
		p.taskList = append(p.taskList, k.task)
		for _, d := range p.dagList {
			if sh.hasTask(d, k.task) {
				n := sh.rows(d, k.task)
				p.rowsPerRun[d] += n
				p.est += p.runsOf[d] * n
			}
		}
	}
}

// DAGExists reports whether Airflow knows dagID: GET /api/{v2,v1}/dags/{dag_id}
// answers 200 or 404 (with Airflow's JSON problem body). Any other answer is an error (a 403 means this user may
// not read the DAG, which proves nothing).
func (c *Client) DAGExists(ctx context.Context, dagID string) (bool, error) {
	_, err := c.call(ctx, "get_dag", http.MethodGet, c.apiPath("/dags/"+url.PathEscape(dagID)), nil, nil)
	// Only Airflow's own 404 proves absence, not a proxy's.
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusNotFound && e.airflow {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, nil
}
