package airflowapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
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
	for _, chunk := range chunks(keys) {
		complete, err := c.listChunk(ctx, chunk, &b)
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

// chunks groups keys into request bodies of at most maxFilterValues
// distinct ids per filter.
func chunks(keys []TaskKey) []listBody {
	var out []listBody
	var cur listBody
	dags, runs, tasks := map[string]bool{}, map[string]bool{}, map[string]bool{}
	add := func(set map[string]bool, list *[]string, v string) {
		if !set[v] {
			set[v] = true
			*list = append(*list, v)
		}
	}
	fits := func(k TaskKey) bool {
		n := func(set map[string]bool, v string) int {
			if set[v] {
				return len(set)
			}
			return len(set) + 1
		}
		return n(dags, k.DagID) <= maxFilterValues && n(runs, k.RunID) <= maxFilterValues && n(tasks, k.TaskID) <= maxFilterValues
	}
	sorted := slices.Clone(keys)
	// Keys of one run together, so a chunk's cross product is mostly the
	// keys asked for.
	slices.SortFunc(sorted, func(a, b TaskKey) int {
		if c := compare(a.DagID, b.DagID); c != 0 {
			return c
		}
		if c := compare(a.RunID, b.RunID); c != 0 {
			return c
		}
		return compare(a.TaskID, b.TaskID)
	})
	for _, k := range sorted {
		if !fits(k) {
			out = append(out, cur)
			cur = listBody{}
			dags, runs, tasks = map[string]bool{}, map[string]bool{}, map[string]bool{}
		}
		add(dags, &cur.DagIDs, k.DagID)
		add(runs, &cur.DagRunIDs, k.RunID)
		add(tasks, &cur.TaskIDs, k.TaskID)
	}
	if len(cur.DagIDs) > 0 {
		out = append(out, cur)
	}
	return out
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
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
