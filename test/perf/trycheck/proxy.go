package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// listPath ends the path of the batch list call (airflowapi.Client.TaskInstances).
const listPath = "/taskInstances/list"

// counts are the proxy's running totals.
type counts struct {
	list, other int   // requests: list calls, anything else (token, get_dag)
	in, out     int64 // bytes on the sweeper's connections: read (requests), written (answers)
}

// pollStart is what was true when a poll's first request came in.
type pollStart struct {
	at           time.Time
	counts       counts
	apiTicks     int64 // the Airflow api-server's process group
	sweeperTicks int64
}

// proxy relays the sweeper's requests to Airflow and counts them. It tells
// polls apart by their first request: the check sends its chunks in key
// order, so every poll opens with the first page (page_offset 0) of the
// chunk that starts with the smallest tracked key.
type proxy struct {
	rp     *httputil.ReverseProxy
	srv    *http.Server
	URL    string
	in     atomic.Int64
	out    atomic.Int64
	first  func(listBody) bool
	sample func() (apiTicks, sweeperTicks int64)

	mu       sync.Mutex
	list     int
	other    int
	inflight int
	lastDone time.Time
	// starts and ends, while recording: ends[i] is the last answer of poll i.
	recording bool
	starts    []pollStart
	ends      []time.Time
	want      int
	full      chan struct{}
	latencies []time.Duration // of list calls, while recording
}

// listBody is the part of the list call's body the proxy reads.
type listBody struct {
	DagIDs     []string `json:"dag_ids"`
	DagRunIDs  []string `json:"dag_run_ids"`
	TaskIDs    []string `json:"task_ids"`
	PageOffset int      `json:"page_offset"`
}

func startProxy(target string, first func(listBody) bool, sample func() (int64, int64)) (*proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{rp: httputil.NewSingleHostReverseProxy(u), first: first, sample: sample, URL: "http://" + l.Addr().String()}
	// A failed call reaches the sweeper as a 502 and counts in its API error
	// metric, which the run checks; the log line would only repeat it.
	p.rp.ErrorLog = log.New(io.Discard, "", 0)
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: time.Minute}
	go func() { _ = p.srv.Serve(&countingListener{Listener: l, in: &p.in, out: &p.out}) }()
	return p, nil
}

func (p *proxy) Close() error { return p.srv.Close() }

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	isList := strings.HasSuffix(r.URL.Path, listPath)
	var lb listBody
	if isList {
		_ = json.Unmarshal(body, &lb)
	}
	p.mu.Lock()
	if isList && p.recording && len(p.starts) < p.want && p.first(lb) {
		// Sampled before this request is counted or forwarded: the poll's
		// own work starts here.
		api, sw := p.sample()
		p.starts = append(p.starts, pollStart{
			at:       time.Now(),
			counts:   counts{list: p.list, other: p.other, in: p.in.Load(), out: p.out.Load()},
			apiTicks: api, sweeperTicks: sw,
		})
		p.ends = append(p.ends, time.Time{})
	}
	if isList {
		p.list++
	} else {
		p.other++
	}
	p.inflight++
	poll := len(p.starts) - 1
	p.mu.Unlock()

	start := time.Now()
	p.rp.ServeHTTP(w, r)
	done := time.Now()

	p.mu.Lock()
	defer p.mu.Unlock()
	p.inflight--
	p.lastDone = done
	if p.recording && poll >= 0 && poll < len(p.ends) {
		p.ends[poll] = done
		if isList {
			p.latencies = append(p.latencies, done.Sub(start))
		}
		if len(p.starts) == p.want && p.full != nil {
			close(p.full)
			p.full = nil
		}
	}
}

// record starts recording n poll starts; the channel closes when the n-th
// has come in (and its first request has been answered).
func (p *proxy) record(n int) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.recording, p.want, p.full = true, n, make(chan struct{})
	p.starts, p.ends, p.latencies = nil, nil, nil
	return p.full
}

// recorded returns the poll starts, the last answer of each poll and the
// list calls' latencies.
func (p *proxy) recorded() ([]pollStart, []time.Time, []time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]pollStart(nil), p.starts...), append([]time.Time(nil), p.ends...), append([]time.Duration(nil), p.latencies...)
}

// totals returns the running totals.
func (p *proxy) totals() counts {
	p.mu.Lock()
	defer p.mu.Unlock()
	return counts{list: p.list, other: p.other, in: p.in.Load(), out: p.out.Load()}
}

// idleFor reports whether no request is in flight and none was answered
// for d: between two polls.
func (p *proxy) idleFor(d time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inflight == 0 && time.Since(p.lastDone) >= d
}

// countingListener counts the bytes read from and written to its connections:
// the requests and answers as they go over the wire (headers, bodies as sent,
// gzip-compressed where Airflow compresses).
type countingListener struct {
	net.Listener
	in, out *atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, in: l.in, out: l.out}, nil
}

type countingConn struct {
	net.Conn
	in, out *atomic.Int64
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.in.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.out.Add(int64(n))
	return n, err
}
