package airflowapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// API versions (--airflow-api-version).
const (
	V2 = "v2" // Airflow 3: /api/v2, JWT from /auth/token
	V1 = "v1" // Airflow 2.x: /api/v1, basic auth
)

// maxBody bounds every response body read: a page of 100 task instances is
// about 100 KiB on Airflow 3 (rendered fields included).
const maxBody = 8 << 20

// maxBodyPerRow bounds a larger page's body (PageLimit above 512): 16 times
// the kilobyte a task instance takes on Airflow 3, so that 1,000 rows may
// take 16 MiB and 10,000 rows 160 MiB.
const maxBodyPerRow = 16 << 10

// Config is one Airflow instance.
type Config struct {
	// Instance is the name the policy stamps on this Airflow's pods.
	Instance string
	// URL is the API base, e.g. http://airflow-api-server:8080 (no /api/vN).
	URL string
	// Version is V2 or V1.
	Version string
	// CredentialsDir holds the files username and password (a mounted
	// Secret); they are read again for every token (v2) or request (v1).
	CredentialsDir string
	// Timeout bounds each HTTP request.
	Timeout time.Duration
	// PageLimit is the page_limit asked for (default 100, Airflow's default
	// [api] maximum_page_limit, which 2.11.2 and 3.3.2 do not apply to the
	// batch list; a server that answers fewer rows costs pages, see
	// tasks.go). The chunks of tracked tries are packed to fill one page.
	PageLimit int
	// HTTP is the client (default: a new one with Timeout).
	HTTP *http.Client
}

// Client asks one Airflow. It is safe for concurrent use.
type Client struct {
	cfg     Config
	base    *url.URL
	maxBody int // the bound of a response body, by PageLimit

	mu    sync.Mutex
	token string // v2 access token, "" until fetched
}

// New validates cfg and returns its client.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(cfg.URL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("API URL %q: want http(s)://host[:port][/path]", cfg.URL)
	}
	if cfg.Version != V1 && cfg.Version != V2 {
		return nil, fmt.Errorf("API version %q: want %s or %s", cfg.Version, V2, V1)
	}
	if cfg.Timeout <= 0 {
		return nil, fmt.Errorf("timeout %s is not positive", cfg.Timeout)
	}
	if cfg.PageLimit <= 0 {
		cfg.PageLimit = 100
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: cfg.Timeout}
	}
	return &Client{cfg: cfg, base: u, maxBody: max(maxBody, cfg.PageLimit*maxBodyPerRow)}, nil
}

// Instance is the instance name this client serves.
func (c *Client) Instance() string { return c.cfg.Instance }

// PageLimit is the page_limit this client asks for.
func (c *Client) PageLimit() int { return c.cfg.PageLimit }

// apiPath is the path of an API endpoint under the base URL.
func (c *Client) apiPath(p string) string {
	return c.base.String() + "/api/" + c.cfg.Version + p
}

// call sends one authenticated request and decodes a 2xx JSON body into out.
// A v2 401 gets one fresh token and one retry; a second 401 is an error.
func (c *Client) call(ctx context.Context, op, method, u string, body, out any) (status int, err error) {
	for attempt := 0; ; attempt++ {
		status, err = c.send(ctx, op, method, u, body, out, true)
		if status == http.StatusUnauthorized && c.cfg.Version == V2 && attempt == 0 {
			c.dropToken()
			continue
		}
		return status, err
	}
}

// send is one request; auth says whether to authorize it (the token request
// itself is not).
func (c *Client) send(ctx context.Context, op, method, u string, body, out any, auth bool) (int, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return 0, &Error{Kind: KindParse, Op: op, Err: err}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, &Error{Kind: KindNetwork, Op: op, Err: err}
	}
	req.Header.Set("Accept", "application/json")
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth {
		if err := c.authorize(ctx, req); err != nil {
			return 0, err
		}
	}
	start := time.Now()
	resp, err := c.cfg.HTTP.Do(req)
	requestDuration.WithLabelValues(c.cfg.Instance, op).Observe(time.Since(start).Seconds())
	if err != nil {
		return 0, &Error{Kind: transportKind(err), Op: op, Err: err}
	}
	defer resp.Body.Close()
	data, err := readBounded(resp.Body, c.maxBody)
	if err != nil {
		kind := KindParse
		if !errors.Is(err, errTooLarge) {
			kind = transportKind(err)
		}
		return resp.StatusCode, &Error{Kind: kind, Status: resp.StatusCode, Op: op, Err: err}
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return resp.StatusCode, &Error{Kind: KindAuth, Status: resp.StatusCode, Op: op, Err: errors.New(snippet(data))}
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return resp.StatusCode, &Error{Kind: KindHTTP, Status: resp.StatusCode, Op: op, Err: errors.New(snippet(data)), airflow: isProblem(data)}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, &Error{Kind: KindParse, Status: resp.StatusCode, Op: op, Err: err}
		}
	}
	return resp.StatusCode, nil
}

var errTooLarge = errors.New("response body too large")

func readBounded(r io.Reader, limit int) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(data) > limit {
		return nil, fmt.Errorf("%w: over %d bytes", errTooLarge, limit)
	}
	return data, nil
}

// snippet is the start of an error body, for messages.
func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// isProblem reports whether an error body is Airflow's own: a JSON object
// with "detail" (FastAPI's HTTPException on v2, connexion's problem on v1),
// not a proxy's or load balancer's page.
func isProblem(data []byte) bool {
	var p map[string]json.RawMessage
	if json.Unmarshal(data, &p) != nil {
		return false
	}
	_, ok := p["detail"]
	return ok
}
