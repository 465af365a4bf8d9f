package airflowapi

import (
	"context"
	"errors"
	"fmt"
	"net"
)

// Error kinds, the "kind" label of the API error metric.
const (
	KindAuth    = "auth"    // 401 after a fresh token, 403, or no credentials
	KindTimeout = "timeout" // the request timed out
	KindNetwork = "network" // connection refused, reset, DNS
	KindHTTP    = "http"    // any other non-2xx status
	KindParse   = "parse"   // a body that does not parse or is too large
)

// Error is a failed API call.
type Error struct {
	Kind string
	// Status is the HTTP status (0 when there was no response).
	Status int
	Op     string
	Err    error
	// airflow says the error body was Airflow's own JSON problem.
	airflow bool
}

func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("airflow API %s: HTTP %d: %v", e.Op, e.Status, e.Err)
	}
	return fmt.Sprintf("airflow API %s: %v", e.Op, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of err ("" for nil, KindNetwork for an error that
// is not an *Error).
func KindOf(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindNetwork
}

// transportKind classifies an error of http.Client.Do.
func transportKind(err error) string {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return KindTimeout
	}
	return KindNetwork
}
