package airflowapi

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
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
			b.Found[k] = TaskInstance{TaskKey: k, State: state, TryNumber: *ti.TryNumber}
		}
		f.PageOffset += len(ans.TaskInstances)
		// The server may cap page_limit ([api] maximum_page_limit): the
		// offset advances by what came back, and an empty page ends it.
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

// keyOrders are the orders chunks tries. The filters are per column, so a
// chunk matches every task instance in dag_ids × dag_run_ids × task_ids: a
// chunk is cheap when its keys fill that product. By DAG, the runs of one DAG
// where most of their tasks are tracked; by task and run, the DAGs at one
// point of a shared schedule (scheduled__<date> run ids, task names from one
// template), where each run is at another task.
var keyOrders = []func(a, b TaskKey) int{
	func(a, b TaskKey) int { return cmpKeys(a.DagID, b.DagID, a.TaskID, b.TaskID, a.RunID, b.RunID, a.MapIndex, b.MapIndex) },
	func(a, b TaskKey) int { return cmpKeys(a.DagID, b.DagID, a.RunID, b.RunID, a.TaskID, b.TaskID, a.MapIndex, b.MapIndex) },
	func(a, b TaskKey) int { return cmpKeys(a.TaskID, b.TaskID, a.RunID, b.RunID, a.DagID, b.DagID, a.MapIndex, b.MapIndex) },
	func(a, b TaskKey) int { return cmpKeys(a.RunID, b.RunID, a.TaskID, b.TaskID, a.DagID, b.DagID, a.MapIndex, b.MapIndex) },
}

func cmpKeys(a1, b1, a2, b2, a3, b3 string, m1, m2 int) int {
	if c := strings.Compare(a1, b1); c != 0 {
		return c
	}
	if c := strings.Compare(a2, b2); c != 0 {
		return c
	}
	if c := strings.Compare(a3, b3); c != 0 {
		return c
	}
	return cmp.Compare(m1, m2)
}

// chunks groups keys into request bodies of at most maxFilterValues distinct
// ids per filter, each key in exactly one, so that the task instances a
// body's filters match (an estimate, see shape) stay within pageLimit: a key
// joins the current chunk only while the estimate stays within it (or the
// key adds no id). Of the chunkings by each of keyOrders, the one with the
// fewest estimated pages wins. The estimate may be short (names shared
// across DAGs that no key shows): that costs pages, never correctness, as
// every page is read and matched by key.
func chunks(keys []TaskKey, pageLimit int) []chunk {
	if len(keys) == 0 {
		return nil
	}
	sh := newShape(keys)
	var best []chunk
	bestPages := -1
	for _, order := range keyOrders {
		sorted := slices.Clone(keys)
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
	runs, tasks        map[string]map[string]bool // by dag
	mapped             map[[2]string]int          // distinct map indexes by (dag, task), the most of any run
	sharedRun, sharedT map[string]bool
}

func newShape(keys []TaskKey) *shape {
	sh := &shape{runs: map[string]map[string]bool{}, tasks: map[string]map[string]bool{}, mapped: map[[2]string]int{}, sharedRun: map[string]bool{}, sharedT: map[string]bool{}}
	runDag, taskDag := map[string]string{}, map[string]string{}
	perRun := map[TaskKey]bool{} // (dag, run, task, map index) seen
	perRunCount := map[[3]string]int{}
	for _, k := range keys {
		if sh.runs[k.DagID] == nil {
			sh.runs[k.DagID], sh.tasks[k.DagID] = map[string]bool{}, map[string]bool{}
		}
		sh.runs[k.DagID][k.RunID], sh.tasks[k.DagID][k.TaskID] = true, true
		if d, ok := runDag[k.RunID]; ok && d != k.DagID {
			sh.sharedRun[k.RunID] = true
		}
		runDag[k.RunID] = k.DagID
		if d, ok := taskDag[k.TaskID]; ok && d != k.DagID {
			sh.sharedT[k.TaskID] = true
		}
		taskDag[k.TaskID] = k.DagID
		if !perRun[k] {
			perRun[k] = true
			rt := [3]string{k.DagID, k.RunID, k.TaskID}
			perRunCount[rt]++
			dt := [2]string{k.DagID, k.TaskID}
			sh.mapped[dt] = max(sh.mapped[dt], perRunCount[rt])
		}
	}
	return sh
}

func (sh *shape) hasRun(dag, run string) bool   { return sh.runs[dag][run] || sh.sharedRun[run] }
func (sh *shape) hasTask(dag, task string) bool { return sh.tasks[dag][task] || sh.sharedT[task] }

// rows is how many task instances dag's task matches per run.
func (sh *shape) rows(dag, task string) int { return max(1, sh.mapped[[2]string{dag, task}]) }

// pack cuts sorted keys into chunks and returns them with their estimated
// pages: Σ over chunks of ceil(estimated rows / pageLimit).
func (sh *shape) pack(sorted []TaskKey, pageLimit int) ([]chunk, int) {
	var out []chunk
	pages := 0
	var p packer
	p.reset()
	for _, k := range sorted {
		before := p.est
		nd, nr, nt := len(p.c.body.DagIDs), len(p.c.body.DagRunIDs), len(p.c.body.TaskIDs)
		p.add(sh, k)
		over := len(p.c.body.DagIDs) > maxFilterValues || len(p.c.body.DagRunIDs) > maxFilterValues || len(p.c.body.TaskIDs) > maxFilterValues ||
			p.est > pageLimit && p.est > before
		if over && len(p.c.keys) > 1 {
			// The chunk as it was before k, then k starts the next.
			c := p.c
			c.keys = c.keys[:len(c.keys)-1]
			c.body.DagIDs, c.body.DagRunIDs, c.body.TaskIDs = c.body.DagIDs[:nd], c.body.DagRunIDs[:nr], c.body.TaskIDs[:nt]
			out, pages = append(out, c), pages+ceilDiv(before, pageLimit)
			p.reset()
			p.add(sh, k)
		}
	}
	out, pages = append(out, p.c), pages+ceilDiv(p.est, pageLimit)
	return out, pages
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// packer is the chunk being filled and its estimated rows: Σ over its DAGs of
// (its run ids the DAG has) × (Σ over its task ids the DAG has of their map
// indexes), kept up to date as ids join.
type packer struct {
	c                  chunk
	dags, runs, tasks  map[string]bool
	runsOf, rowsPerRun map[string]int // by dag
	est                int
}

func (p *packer) reset() {
	*p = packer{dags: map[string]bool{}, runs: map[string]bool{}, tasks: map[string]bool{}, runsOf: map[string]int{}, rowsPerRun: map[string]int{}}
}

func (p *packer) add(sh *shape, k TaskKey) {
	p.c.keys = append(p.c.keys, k)
	if !p.dags[k.DagID] {
		p.dags[k.DagID] = true
		p.c.body.DagIDs = append(p.c.body.DagIDs, k.DagID)
		for r := range p.runs {
			if sh.hasRun(k.DagID, r) {
				p.runsOf[k.DagID]++
			}
		}
		for t := range p.tasks {
			if sh.hasTask(k.DagID, t) {
				p.rowsPerRun[k.DagID] += sh.rows(k.DagID, t)
			}
		}
		p.est += p.runsOf[k.DagID] * p.rowsPerRun[k.DagID]
	}
	if !p.runs[k.RunID] {
		p.runs[k.RunID] = true
		p.c.body.DagRunIDs = append(p.c.body.DagRunIDs, k.RunID)
		for d := range p.dags {
			if sh.hasRun(d, k.RunID) {
				p.runsOf[d]++
				p.est += p.rowsPerRun[d]
			}
		}
	}
	if !p.tasks[k.TaskID] {
		p.tasks[k.TaskID] = true
		p.c.body.TaskIDs = append(p.c.body.TaskIDs, k.TaskID)
		for d := range p.dags {
			if sh.hasTask(d, k.TaskID) {
				n := sh.rows(d, k.TaskID)
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
